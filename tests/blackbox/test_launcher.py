"""`nim-proxy claude [ARGS...]` and `nim-proxy stop`: the launcher reads its settings from
~/.config/nim-proxy/.env (never the project folder's .env), starts one background server and reuses
it, passes the arguments and the exit code of `claude` through, and `stop` stops the server.

`claude` is a fake here: a script that records its arguments and environment and exits with the
code the test chooses."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BINARY, free_port

FAKE = """#!{python}
import json, os, sys, urllib.request
base = os.environ["ANTHROPIC_BASE_URL"]
health = json.load(urllib.request.urlopen(base + "/health", timeout=5))
with open(os.environ["FAKE_CLAUDE_OUT"], "a") as f:
    f.write(json.dumps({{"argv": sys.argv[1:], "base": base, "token": os.environ.get("ANTHROPIC_AUTH_TOKEN"),
                        "api_key": os.environ.get("ANTHROPIC_API_KEY"), "health": health["status"]}}) + "\\n")
sys.exit(int(os.environ.get("FAKE_CLAUDE_EXIT", "0")))
"""


@pytest.fixture
def launcher(tmp_path):
    if not BINARY.exists():
        pytest.skip(f"server binary not built: {BINARY}")
    home = tmp_path / "home"
    state = tmp_path / "state"
    project = tmp_path / "project"
    for d in (home, state, project):
        d.mkdir()
    fake = tmp_path / "fake-claude"
    fake.write_text(FAKE.format(python=sys.executable))
    fake.chmod(0o755)
    port = free_port()
    config = home / ".config" / "nim-proxy"
    config.mkdir(parents=True)
    (config / ".env").write_text(
        f"PORT={port}\nCLAUDE_CLI_BIN={fake}\nNVIDIA_NIM_API_KEY=test\n"
        "NVIDIA_NIM_BASE_URL=http://127.0.0.1:9/v1\nLOG_LEVEL=info\n")
    # A project's own .env must not be read: this one would stop the server at start.
    (project / ".env").write_text("NVIDIA_NIM_NOT_A_SETTING=1\nPORT=1\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NVIDIA_NIM_", "MODEL", "PROXY_AUTH_TOKEN", "ANTHROPIC_", "XDG_", "PORT", "HOST",
                                "CLAUDE_"))}
    env.update(HOME=str(home), XDG_STATE_HOME=str(state), FAKE_CLAUDE_OUT=str(tmp_path / "calls.jsonl"),
               ANTHROPIC_API_KEY="sk-ant-real-key")

    class L:
        pass

    L.home, L.state, L.project, L.port, L.env = home, state, project, port, env
    L.calls = tmp_path / "calls.jsonl"
    L.pid_file = state / "nim-proxy" / "server.pid"

    def run(*args, exit_code=0, timeout=60):
        e = dict(env, FAKE_CLAUDE_EXIT=str(exit_code))
        return subprocess.run([str(BINARY), *args], cwd=project, env=e, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    L.run = run
    yield L
    # Whatever happened, no server is left behind.
    if L.pid_file.exists():
        try:
            os.kill(int(L.pid_file.read_text()), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def calls(l):
    return [json.loads(line) for line in l.calls.read_text().splitlines()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}/stat").exists() else ""
    return bool(stat) and stat.split(") ")[1].split()[0] != "Z"


def test_starts_a_server_once_and_passes_arguments_and_exit_code(launcher):
    first = launcher.run("claude", "--print", "hello world", "--model", "opus", exit_code=3)
    assert first.returncode == 3, first.stderr
    assert "started the server" in first.stderr
    pid = int(launcher.pid_file.read_text())
    assert alive(pid)
    # Its own session, so no terminal signal reaches it; its output goes to the log in the state folder.
    assert int(Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[3]) == pid
    log = launcher.state / "nim-proxy" / "server.log"
    assert '"msg":"listening"' in log.read_text()
    assert (launcher.state / "nim-proxy" / "agent_workspace").is_dir()

    second = launcher.run("claude", "-p", "again", exit_code=0)
    assert second.returncode == 0, second.stderr
    assert "started the server" not in second.stderr
    assert int(launcher.pid_file.read_text()) == pid
    assert log.read_text().count('"msg":"listening"') == 1

    c = calls(launcher)
    assert [x["argv"] for x in c] == [["--print", "hello world", "--model", "opus"], ["-p", "again"]]
    assert all(x["base"] == f"http://127.0.0.1:{launcher.port}" for x in c)
    assert all(x["token"] == "nim-proxy" and x["api_key"] is None and x["health"] == "healthy" for x in c)

    stopped = launcher.run("stop")
    assert stopped.returncode == 0
    deadline = time.time() + 15
    while alive(pid) and time.time() < deadline:
        time.sleep(0.1)
    assert not alive(pid)
    assert not launcher.pid_file.exists()
    again = launcher.run("stop")
    assert again.returncode == 0 and "no background server" in again.stderr


def test_env_file_option_and_missing_claude(launcher, tmp_path):
    other = tmp_path / "other.env"
    port = free_port()
    other.write_text(f"PORT={port}\nCLAUDE_CLI_BIN={tmp_path}/no-such-claude\n")
    r = launcher.run("--env-file", str(other), "claude", "x")
    assert r.returncode == 127
    assert "no-such-claude" in r.stderr
    stop = launcher.run("--env-file", str(other), "stop")
    assert stop.returncode == 0


def test_bad_settings_are_reported_before_anything_starts(launcher, tmp_path):
    bad = tmp_path / "bad.env"
    bad.write_text("PORT=99999\n")
    r = launcher.run("--env-file", str(bad), "claude")
    assert r.returncode == 2
    assert "PORT=99999" in r.stderr
    assert not launcher.pid_file.exists()
    missing = launcher.run("--env-file", str(tmp_path / "missing.env"), "claude")
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_a_port_held_by_something_else_is_refused(launcher):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", launcher.port))
    s.listen(1)
    try:
        r = launcher.run("claude")
        assert r.returncode == 2
        assert "something other than nim-proxy" in r.stderr
    finally:
        s.close()
