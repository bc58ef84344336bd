"""Who may call the server, tried from outside: the bot API closed without a token, the CLI's own
token refused by it, a non-loopback bind refused without a token, foreign Host and Origin headers
and non-JSON bodies refused, and the server's environment out of reach of its CLIs."""

import json
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from bot_calls import OPERATOR_TOKEN, error_of, new_session, open_manager, post, raw_lines, run_task
from conftest import BINARY, FAKE_CLAUDE, free_port, send_raw, status_of

COUNT = b'{"model":"claude-3-5-sonnet-20241022","messages":[{"role":"user","content":"hi"}]}'
QUOTA = b'{"model":"claude-3-haiku","max_tokens":1,"messages":[{"role":"user","content":"quota check"}]}'


def body_json(response: bytes) -> dict:
    return json.loads(response.split(b"\r\n\r\n", 1)[1])


def test_bot_api_is_closed_without_a_token(proxy):
    p = proxy()
    for path, args in [("/store/get_all_trees", {}), ("/cli/managers", {"workspace_path": "."}), ("/stop", {}),
                       ("/store/no_such_method", {})]:
        r = post(p, path, args, token=None)
        assert r.status_code == 403, path
        kind, message = error_of(r)
        assert kind == "permission_error"
        assert "Set PROXY_AUTH_TOKEN" in message
    # The Anthropic endpoints stay open on loopback.
    assert status_of(p.request("POST", "/v1/messages/count_tokens", COUNT)) == 200
    assert status_of(p.request("GET", "/health")) == 200


def test_with_a_token_every_endpoint_needs_it(proxy):
    p = proxy(env={"PROXY_AUTH_TOKEN": OPERATOR_TOKEN})
    assert status_of(p.request("GET", "/health")) == 401
    assert status_of(p.request("POST", "/v1/messages/count_tokens", COUNT)) == 401
    assert status_of(p.request("POST", "/v1/messages/count_tokens", COUNT, {"x-api-key": "wrong"})) == 401
    assert status_of(p.request("POST", "/v1/messages/count_tokens", COUNT, {"x-api-key": OPERATOR_TOKEN})) == 200
    assert post(p, "/store/get_all_trees", token=None).status_code == 401
    assert post(p, "/store/get_all_trees").json() == {"result": {}}


def test_the_cli_token_opens_the_anthropic_endpoints_only(proxy):
    p = proxy(env={"PROXY_AUTH_TOKEN": OPERATOR_TOKEN})
    handle = new_session(p, open_manager(p, p.workdir / "data"))
    env = dict(line.split("=", 1) for line in raw_lines(run_task(p, handle, "env")) if "=" in line)
    cli_token = env["ANTHROPIC_API_KEY"]
    assert cli_token and cli_token != OPERATOR_TOKEN
    assert env["ANTHROPIC_AUTH_TOKEN"] == cli_token

    # Accepted where Claude Code calls: /v1/messages (answered locally here) and count_tokens.
    assert status_of(p.request("POST", "/v1/messages", QUOTA, {"x-api-key": cli_token})) == 200
    assert status_of(p.request("POST", "/v1/messages", QUOTA, {"Authorization": f"Bearer {cli_token}"})) == 200
    assert status_of(p.request("POST", "/v1/messages/count_tokens", COUNT, {"x-api-key": cli_token})) == 200
    # Refused by the bot API: a CLI told to by its prompt cannot start more CLIs or read the store.
    for path, args in [("/store/get_all_trees", {}), ("/store/clear_all", {}), ("/stop", {}),
                       ("/cli/managers", {"workspace_path": str(p.workdir / "data")}),
                       (f"/cli/sessions/{handle}/start_task", {"prompt": "echo no"})]:
        r = post(p, path, args, token=cli_token)
        assert r.status_code == 403, path
        assert error_of(r)[0] == "permission_error"
    # A new start makes a new token.
    p.stop()
    p2 = proxy(env={"PROXY_AUTH_TOKEN": OPERATOR_TOKEN})
    assert status_of(p2.request("POST", "/v1/messages", QUOTA, {"x-api-key": cli_token})) == 401


@pytest.mark.parametrize("how", ["env", "flag"])
def test_non_loopback_bind_without_token_is_refused_before_binding(proxy, how):
    port = free_port()
    if how == "env":
        p = proxy(env={"HOST": "0.0.0.0", "PORT": str(port)}, expect_exit=True)
    else:
        p = proxy(env={"PORT": str(port)}, args=["--host", "0.0.0.0"], expect_exit=True)
    assert p.process.returncode == 2
    stderr = p.stderr_text()
    assert "0.0.0.0" in stderr and "PROXY_AUTH_TOKEN" in stderr
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_foreign_host_is_refused(proxy):
    p = proxy()
    for host in ["evil.example", f"evil.example:{p.port}", "127.0.0.2", f"localhost.evil.example:{p.port}"]:
        r = p.request("POST", "/v1/messages/count_tokens", COUNT, {"Host": host})
        assert status_of(r) == 403, host
        assert body_json(r)["error"]["type"] == "permission_error"
    for host in [f"localhost:{p.port}", "localhost", f"127.0.0.1:{p.port}", f"[::1]:{p.port}"]:
        assert status_of(p.request("POST", "/v1/messages/count_tokens", COUNT, {"Host": host})) == 200, host
    # Even with the token: a rebinding page could not have it, but the Host still says where it came from.
    t = proxy(env={"PROXY_AUTH_TOKEN": OPERATOR_TOKEN})
    r = t.request("GET", "/health", headers={"Host": "evil.example", "x-api-key": OPERATOR_TOKEN})
    assert status_of(r) == 403


def test_foreign_origin_is_refused_unless_the_token_is_sent(proxy):
    p = proxy()
    for origin in ["https://evil.example", "null", f"http://localhost:{p.port + 1}", f"https://127.0.0.1:{p.port}"]:
        r = p.request("POST", "/v1/messages/count_tokens", COUNT, {"Origin": origin})
        assert status_of(r) == 403, origin
        assert body_json(r)["error"]["type"] == "permission_error"
    for origin in [f"http://localhost:{p.port}", f"http://127.0.0.1:{p.port}", f"http://[::1]:{p.port}"]:
        assert status_of(p.request("POST", "/v1/messages/count_tokens", COUNT, {"Origin": origin})) == 200, origin

    t = proxy(env={"PROXY_AUTH_TOKEN": OPERATOR_TOKEN})
    assert status_of(t.request("GET", "/health", headers={"Origin": "https://evil.example"})) == 403
    r = t.request("GET", "/health", headers={"Origin": "https://evil.example", "x-api-key": OPERATOR_TOKEN})
    assert status_of(r) == 200


def test_a_cross_site_form_or_text_body_is_refused(proxy):
    p = proxy(env={"PROXY_AUTH_TOKEN": OPERATOR_TOKEN})
    auth = {"x-api-key": OPERATOR_TOKEN}
    for content_type in ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                         "multipart/form-data; boundary=x"]:
        for path in ["/v1/messages", "/store/clear_all"]:
            r = p.request("POST", path, QUOTA, {**auth, "Content-Type": content_type})
            assert status_of(r) == 415, (path, content_type)
            assert "Content-Type: application/json" in body_json(r)["error"]["message"]
    # No Content-Type at all is still accepted, as before.
    raw = (f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{p.port}\r\nx-api-key: {OPERATOR_TOKEN}\r\n"
           f"Connection: close\r\nContent-Length: {len(QUOTA)}\r\n\r\n").encode() + QUOTA
    assert status_of(send_raw(p.port, raw)) == 200
    assert status_of(p.request("POST", "/v1/messages", QUOTA, {**auth, "Content-Type": "application/json; charset=utf-8"})) == 200


def _as_other_user(uid: int):
    def drop():
        os.setgid(uid)
        os.setuid(uid)
    return drop


def test_the_server_environment_is_not_readable_by_its_own_user():
    """A process of the server's user (as each CLI it runs is) cannot read /proc/<server>/environ.
    Run as root, the test starts the server as `nobody`, since root reads every process."""
    if not BINARY.exists():
        pytest.skip(f"server binary not built: {BINARY}")
    uid = 65534 if os.getuid() == 0 else os.getuid()
    preexec = _as_other_user(uid) if os.getuid() == 0 else None
    workdir = Path(tempfile.mkdtemp())
    os.chmod(workdir, 0o777)
    port = free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOST": "127.0.0.1", "PORT": str(port),
           "CLAUDE_WORKSPACE": str(workdir / "data"), "CLAUDE_CLI_BIN": str(FAKE_CLAUDE), "LOG_LEVEL": "error",
           "PROXY_AUTH_TOKEN": "secret-in-environ"}
    server = subprocess.Popen([str(BINARY)], cwd=workdir, env=env, preexec_fn=preexec,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    control = subprocess.Popen(["sleep", "30"], env={"SECRET": "control"}, preexec_fn=preexec)
    try:
        deadline = time.time() + 20
        while True:
            assert server.poll() is None, "server exited at start"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.time() < deadline
                time.sleep(0.05)

        def read_environ(pid: int) -> subprocess.CompletedProcess:
            return subprocess.run(["cat", f"/proc/{pid}/environ"], preexec_fn=preexec, capture_output=True)

        # The same user reads an ordinary process's environment...
        assert b"SECRET=control" in read_environ(control.pid).stdout
        # ...but not the server's.
        refused = read_environ(server.pid)
        assert refused.returncode != 0 and b"secret-in-environ" not in refused.stdout
    finally:
        for process in (server, control):
            process.terminate()
            process.wait(timeout=10)
