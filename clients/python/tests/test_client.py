"""End-to-end tests of nim_proxy_client against the real server binary.

The server runs on 127.0.0.1 with a free port, a token (the bot API is closed without one), a
temporary CLAUDE_WORKSPACE and ALLOWED_DIR, and the fake `claude` of the Swift tests (it runs its
prompt as shell code), so each test states its CLI output in the prompt. The binary is
$NIM_PROXY_BIN, default .build/debug/nim-proxy in the repository.
"""

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from nim_proxy_client import BotAPIError, CLISessionManager, SessionStore, stop

REPO = Path(__file__).resolve().parents[3]
FAKE_CLAUDE = REPO / "Tests" / "CLIProcessTests" / "Fixtures" / "fake-claude"
BINARY = Path(os.environ.get("NIM_PROXY_BIN", REPO / ".build" / "debug" / "nim-proxy"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


TOKEN = "client-test-token"


class Server:
    def __init__(self, workspace: Path, token: str = TOKEN):
        self.workspace = workspace
        self.token = token
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self):
        env = dict(os.environ)
        env.update(
            HOST="127.0.0.1",
            PORT=str(self.port),
            CLAUDE_WORKSPACE=str(self.workspace / "data"),
            ALLOWED_DIR=str(self.workspace),
            CLAUDE_CLI_BIN=str(FAKE_CLAUDE),
            LOG_LEVEL="error",
        )
        env.pop("PROXY_AUTH_TOKEN", None)
        env.pop("NIM_PROXY_TOKEN", None)
        if self.token:
            env["PROXY_AUTH_TOKEN"] = self.token
        self.process = subprocess.Popen([str(BINARY)], cwd=self.workspace, env=env)
        headers = {"x-api-key": self.token} if self.token else {}
        deadline = time.time() + 20
        while time.time() < deadline:
            assert self.process.poll() is None, "server exited at start"
            try:
                if httpx.get(self.base_url + "/health", headers=headers, timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError("server did not start")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def server(tmp_path):
    if not BINARY.exists():
        pytest.skip(f"server binary not built: {BINARY}")
    s = Server(tmp_path).start()
    yield s
    s.stop()


def manager(server, **kw):
    return CLISessionManager(
        workspace_path=str(server.workspace),
        api_url=f"{server.base_url}/v1",
        allowed_dirs=kw.pop("allowed_dirs", None),
        max_sessions=kw.pop("max_sessions", 10),
        base_url=server.base_url,
        auth_token=server.token,
        **kw,
    )


def store_of(server) -> SessionStore:
    return SessionStore(base_url=server.base_url, auth_token=server.token)


def lines(*objects) -> str:
    """Shell for the fake CLI that prints each object as a JSON line."""
    return "; ".join("printf '%s\\n' " + shell_quote(json.dumps(o)) for o in objects)


def shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


async def collect(agen):
    return [event async for event in agen]


def test_session_task_streams_to_exit_then_resumes_with_real_id(server):
    async def scenario():
        mgr = manager(server)
        session, temp_id, is_new = await mgr.get_or_create_session(session_id=None)
        assert is_new and temp_id.startswith("pending_")
        assert session.is_busy is False

        prompt = lines({"type": "system", "session_id": "sess-42"}, {"type": "result", "result": "done"})
        events = await collect(session.start_task(prompt))
        assert events == [
            {"type": "session_info", "session_id": "sess-42"},
            {"type": "system", "session_id": "sess-42"},
            {"type": "result", "result": "done"},
            {"type": "exit", "code": 0, "stderr": None},
        ]

        assert await mgr.register_real_session_id(temp_id, "sess-42") is True
        assert await mgr.get_real_session_id(temp_id) == "sess-42"
        same, sid, is_new = await mgr.get_or_create_session(session_id=temp_id)
        assert (same, sid, is_new) == (session, "sess-42", False)
        assert mgr.get_stats() == {"active_sessions": 1, "pending_sessions": 0, "max_sessions": 10, "busy_count": 0}

        resumed = await collect(session.start_task('print_args "$@"', session_id="sess-42", fork_session=True))
        args = [e["content"] for e in resumed if e["type"] == "raw"]
        assert args[:3] == ["arg:--resume=sess-42", "arg:--fork-session", "arg:-p"]
        assert args[-2:] == ["arg:--", 'arg:print_args "$@"']
        assert resumed[-1] == {"type": "exit", "code": 0, "stderr": None}

        assert await mgr.remove_session("sess-42") is True
        assert await mgr.remove_session("sess-42") is False
        assert await mgr.get_real_session_id(temp_id) is None

    asyncio.run(scenario())


def test_clients_built_alike_share_a_manager_and_the_limit(server):
    async def scenario():
        a = manager(server, max_sessions=1)
        b = manager(server, max_sessions=1)
        _, temp_id, _ = await a.get_or_create_session()
        assert b.get_stats()["pending_sessions"] == 1
        with pytest.raises(RuntimeError, match=r"Maximum concurrent sessions \(1\) reached\."):
            await b.get_or_create_session()
        _, found, is_new = await b.get_or_create_session(session_id=temp_id)
        assert (found, is_new) == (temp_id, False)
        await b.stop_all()
        assert a.get_stats()["pending_sessions"] == 0

    asyncio.run(scenario())


def test_stop_endpoint_cancels_a_running_task(server):
    async def scenario():
        mgr = manager(server)
        session, _, _ = await mgr.get_or_create_session()
        events = []
        agen = session.start_task(lines({"type": "started"}) + "; sleep 30")
        async for event in agen:
            events.append(event)
            if event == {"type": "started"}:
                assert session.is_busy is True
                assert await stop(server.base_url, server.token) == {"status": "stopped", "source": "cli_manager"}
        assert events[-1]["type"] == "exit" and events[-1]["code"] != 0
        assert session.is_busy is False

    asyncio.run(scenario())


def test_closing_the_generator_stops_the_cli(server):
    async def scenario():
        mgr = manager(server)
        session, _, _ = await mgr.get_or_create_session()
        agen = session.start_task(lines({"type": "started"}) + "; sleep 30")
        assert await agen.__anext__() == {"type": "started"}
        await agen.aclose()
        for _ in range(200):
            if not session.is_busy:
                break
            await asyncio.sleep(0.05)
        assert session.is_busy is False

    asyncio.run(scenario())


def test_store_round_trips_and_survives_restart(server):
    store = store_of(server)
    other = store_of(server)
    store.record_message_id("telegram", 100, 1, "in", "command")
    store.record_message_id("telegram", "100", "2", "out", "status")
    store.record_message_id("telegram", "100", "1", "out", "dup")
    store.record_message_id("telegram", "100", None, "out", "none")
    assert other.get_message_ids_for_chat("telegram", 100) == ["1", "2"]

    tree = {"root_id": "r", "nodes": {"r": {"created_at": "2020-01-01T00:00:00+00:00"}, "c": {}}}
    store.save_tree("r", tree)
    store.register_node("extra", "r")
    assert other.get_tree("r") == tree
    assert other.get_tree_root_for_node("c") == "r"
    assert other.get_tree("nope") is None
    assert other.get_all_trees() == {"r": tree}
    assert other.get_node_mapping() == {"r": "r", "c": "r", "extra": "r"}
    with pytest.raises(BotAPIError) as bad:
        store.save_tree("x", {"nodes": [1]})
    assert bad.value.status == 400

    store.flush_pending_save()
    saved = json.loads((server.workspace / "data" / "sessions.json").read_text())
    assert saved["trees"] == {"r": tree}

    server.stop()
    server.start()
    assert store.get_tree("r") == tree
    assert store.get_message_ids_for_chat("telegram", "100") == ["1", "2"]
    assert store.cleanup_old_trees(max_age_days=30) == 1
    assert store.get_node_mapping() == {"extra": "r"}
    store.sync_from_tree_data({"t": {"nodes": {"n": {}}}}, {"n": "t"})
    assert store.get_all_trees() == {"t": {"nodes": {"n": {}}}}
    store.clear_all()
    assert json.loads((server.workspace / "data" / "sessions.json").read_text()) == {
        "sessions": {}, "trees": {}, "node_to_tree": {}, "message_log": {}
    }


def test_manager_survives_server_restart(server):
    async def scenario():
        mgr = manager(server)
        await mgr.get_or_create_session()
        server.stop()
        server.start()
        # The server forgot the manager; the client re-opens it transparently.
        assert mgr.get_stats()["pending_sessions"] == 0
        _, temp_id, is_new = await mgr.get_or_create_session()
        assert is_new

    asyncio.run(scenario())


@contextlib.contextmanager
def running(tmp_path, token: str = TOKEN):
    """A server of its own for a test that needs another token than the fixture's."""
    if not BINARY.exists():
        pytest.skip(f"server binary not built: {BINARY}")
    s = Server(tmp_path, token=token).start()
    try:
        yield s
    finally:
        s.stop()


def test_auth_token_required_when_configured(tmp_path):
    with running(tmp_path, token="s3cret") as s:
        with pytest.raises(BotAPIError) as denied:
            SessionStore(base_url=s.base_url, auth_token="").get_all_trees()
        assert denied.value.status == 401 and denied.value.error_type == "authentication_error"
        assert SessionStore(base_url=s.base_url, auth_token="s3cret").get_all_trees() == {}
        r = httpx.get(s.base_url + "/health", headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 200
        assert httpx.get(s.base_url + "/health").status_code == 401


def test_token_from_the_environment(tmp_path, monkeypatch):
    with running(tmp_path) as s:
        monkeypatch.setenv("NIM_PROXY_URL", s.base_url)
        monkeypatch.setenv("NIM_PROXY_TOKEN", s.token)
        assert SessionStore().get_all_trees() == {}


def test_without_a_server_token_the_bot_api_is_closed(tmp_path):
    with running(tmp_path, token="") as s:
        with pytest.raises(BotAPIError) as denied:
            SessionStore(base_url=s.base_url, auth_token="").get_all_trees()
        assert denied.value.status == 403 and denied.value.error_type == "permission_error"
        assert "PROXY_AUTH_TOKEN" in denied.value.message
        # The Anthropic endpoints stay open on loopback.
        assert httpx.get(s.base_url + "/health").status_code == 200


def test_a_workspace_outside_allowed_dir_is_refused(server, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    mgr = CLISessionManager(workspace_path=str(outside), api_url="http://x/v1",
                            base_url=server.base_url, auth_token=server.token)
    with pytest.raises(BotAPIError) as denied:
        mgr.get_stats()
    assert denied.value.status == 403 and "ALLOWED_DIR" in denied.value.message


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is gone for our purposes (its parent has not reaped it yet).
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_sigterm_leaves_no_cli_or_child_running(tmp_path):
    """SIGTERM while a CLI task and a child it started run: both are gone when the server exits."""
    if not BINARY.exists():
        pytest.skip(f"server binary not built: {BINARY}")
    server = Server(tmp_path).start()
    pid_file = tmp_path / "pids"
    try:
        async def start_and_wait():
            mgr = manager(server)
            session, _, _ = await mgr.get_or_create_session(session_id=None)
            # The fake CLI starts a long child, records both pids, then keeps running.
            prompt = f"sleep 300 & echo $$ $! > {pid_file}; " + lines({"type": "system", "session_id": "s-term"}) + "; sleep 300"
            agen = session.start_task(prompt)
            first = await agen.__anext__()
            assert first["type"] == "session_info"
            return agen

        loop = asyncio.new_event_loop()
        agen = loop.run_until_complete(start_and_wait())
        deadline = time.time() + 10
        while not pid_file.exists() or not pid_file.read_text().strip():
            assert time.time() < deadline, "fake CLI did not start"
            time.sleep(0.05)
        cli_pid, child_pid = map(int, pid_file.read_text().split())
        assert pid_alive(cli_pid) and pid_alive(child_pid)

        server.process.send_signal(15)
        assert server.process.wait(timeout=20) == 0
        deadline = time.time() + 10
        while (pid_alive(cli_pid) or pid_alive(child_pid)) and time.time() < deadline:
            time.sleep(0.05)
        assert not pid_alive(cli_pid), "the CLI outlived the server"
        assert not pid_alive(child_pid), "the CLI's child outlived the server"
        try:
            loop.run_until_complete(agen.aclose())
        except Exception:
            pass
        loop.close()
    finally:
        server.stop()


def test_store_file_is_complete_after_sigkill_during_a_burst(tmp_path):
    """SIGKILL in the middle of a burst of store updates: sessions.json is a complete document,
    never a torn one, and it holds a prefix of the updates that were acknowledged."""
    if not BINARY.exists():
        pytest.skip(f"server binary not built: {BINARY}")
    server = Server(tmp_path).start()
    store_path = tmp_path / "data" / "sessions.json"
    acknowledged = 0
    try:
        store = store_of(server)
        start = time.time()
        while time.time() - start < 1.5:
            root = f"root-{acknowledged}"
            store.save_tree(root, {"root_id": root, "nodes": {root: {"id": root, "text": "x" * 2000}}})
            acknowledged += 1
        # Updates are saved 0.5 s after the last one, so force saves in the burst too.
        for i in range(200):
            root = f"late-{i}"
            store.save_tree(root, {"root_id": root, "nodes": {root: {"id": root}}})
            if i % 20 == 0:
                store.flush_pending_save()
        server.process.kill()
        server.process.wait(timeout=10)
    finally:
        server.stop()
    assert acknowledged > 10
    data = json.loads(store_path.read_text())
    assert set(data) >= {"trees", "node_to_tree"}
    trees = data["trees"]
    assert "root-0" in trees and "late-0" in trees
    # Whatever is there is whole: every tree saved carries its own node.
    for root, tree in trees.items():
        assert tree["root_id"] == root and root in tree["nodes"]
    assert not list(store_path.parent.glob("*.corrupt-*"))


def test_health_reports_cli_sessions_and_keeps_the_reference_status(server):
    async def scenario():
        mgr = manager(server)
        await mgr.get_or_create_session(session_id=None)
        health = httpx.get(server.base_url + "/health", headers={"x-api-key": server.token}, timeout=5).json()
        assert health["status"] == "healthy"
        assert health["cli"]["pending_sessions"] == 1
        assert health["cli"]["active_sessions"] == 0
        assert health["provider"]["rate_limit"] == 40
        assert health["session_store"]["available"] is True

    asyncio.run(scenario())
