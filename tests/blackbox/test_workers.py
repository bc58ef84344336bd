"""WORKERS: several event loops behind one listening socket.

The main loop owns the socket and deals connections to the loops in turn; bot routes, /health
and /metrics are answered by the main loop for the whole process."""

import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import BINARY, FAKE_CLAUDE, send_raw, status_of

MESSAGE = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 100, "stream": True,
                      "messages": [{"role": "user", "content": "Tell me something."}]}).encode()


def start(tmp_path, env: dict, name: str = "proxy"):
    """Starts the server with `env` over a clean environment; returns the process and its stderr path."""
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("NVIDIA_NIM_", "MODEL", "PROXY_AUTH_TOKEN", "ANTHROPIC_", "WORKERS"))}
    full.update(HOST="127.0.0.1", CLAUDE_WORKSPACE=str(tmp_path / "data"), CLAUDE_CLI_BIN=str(FAKE_CLAUDE),
                LOG_LEVEL="info")
    full.update({k: str(v) for k, v in env.items()})
    stderr = tmp_path / f"{name}.stderr"
    process = subprocess.Popen([str(BINARY)], cwd=tmp_path, env=full, stdout=subprocess.DEVNULL,
                               stderr=open(stderr, "wb"))
    return process, stderr


def listening_port(process, stderr, limit: float = 20) -> int:
    """The port the `listening` log line names (PORT=0 lets the kernel choose)."""
    deadline = time.time() + limit
    while time.time() < deadline:
        for line in stderr.read_text(errors="replace").splitlines():
            if line.startswith("{") and json.loads(line).get("msg") == "listening":
                return json.loads(line)["port"]
        assert process.poll() is None, f"server exited at start: {stderr.read_text()}"
        time.sleep(0.05)
    raise AssertionError("no listening line")


def request(port: int, method: str, path: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
    if body:
        head += "Content-Type: application/json\r\n"
    head += f"Content-Length: {len(body)}\r\n\r\n"
    return send_raw(port, head.encode() + body)


def stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_two_workers_on_port_zero_serve_streams_and_report_both_loops(tmp_path, scripted_upstream):
    process, stderr = start(tmp_path, {"WORKERS": 2, "PORT": 0, "NVIDIA_NIM_BASE_URL": scripted_upstream.base_url,
                                       "MODEL": "scenario:text", "NVIDIA_NIM_API_KEY": "k"})
    try:
        port = listening_port(process, stderr)
        assert port > 0
        # Sixteen streams, four at a time: each connection lands on one loop or the other.
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: request(port, "POST", "/v1/messages", MESSAGE), range(16)))
        for answer in answers:
            assert status_of(answer) == 200
            assert b'"text": "Hello"' in answer and b"event: message_stop" in answer
        health = json.loads(request(port, "GET", "/health").partition(b"\r\n\r\n")[2])
        assert health["workers"] == 2
        assert health["status"] == "healthy"
        scrape = request(port, "GET", "/metrics").partition(b"\r\n\r\n")[2].decode()
        # Whichever loop served them, the process counts all sixteen.
        assert 'nim_proxy_requests_total{route="/v1/messages",status="200"} 16\n' in scrape
        assert scripted_upstream.stats()["completion_requests"] == 16
    finally:
        stop(process)
    assert process.returncode == 0, stderr.read_text()
    log = stderr.read_text()
    assert '"msg":"stopped"' in log
    assert '"level":"error"' not in log


def test_a_second_server_on_the_same_port_fails_to_start(tmp_path):
    first, first_err = start(tmp_path, {"WORKERS": 2, "PORT": 0}, name="first")
    try:
        port = listening_port(first, first_err)
        second, second_err = start(tmp_path, {"WORKERS": 2, "PORT": port}, name="second")
        second.wait(timeout=20)
        assert second.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}" in second_err.read_text()
        assert "EADDRINUSE" in second_err.read_text()
        # The first is untouched and still answers.
        assert status_of(request(port, "GET", "/health")) == 200
    finally:
        stop(first)


def test_bad_worker_counts_stop_the_start(tmp_path):
    for value, problem in [("0", "is out of range"), ("-1", "is out of range"), ("x", "is not an integer"),
                           ("65", "is out of range")]:
        process, stderr = start(tmp_path, {"WORKERS": value, "PORT": 0}, name=f"bad{value}")
        process.wait(timeout=20)
        assert process.returncode == 2, value
        assert f"WORKERS={value} {problem}: must be 1 to 64, or empty for one per core" in stderr.read_text()


def test_one_worker_is_one_loop(tmp_path):
    process, stderr = start(tmp_path, {"WORKERS": 1, "PORT": 0})
    try:
        port = listening_port(process, stderr)
        health = json.loads(request(port, "GET", "/health").partition(b"\r\n\r\n")[2])
        assert health["workers"] == 1
        # No worker thread: the process has its own thread and libuv's pool only when used.
        threads = len(os.listdir(f"/proc/{process.pid}/task"))
        assert threads == 1, threads
    finally:
        stop(process)
    assert process.returncode == 0


def test_sigterm_with_streams_open_on_both_loops_drains_and_exits_0(tmp_path, scripted_upstream):
    process, stderr = start(tmp_path, {"WORKERS": 2, "PORT": 0, "SHUTDOWN_TIMEOUT": 1,
                                       "NVIDIA_NIM_BASE_URL": scripted_upstream.base_url,
                                       "MODEL": "scenario:hang", "NVIDIA_NIM_API_KEY": "k"})
    import socket
    streams = []
    try:
        port = listening_port(process, stderr)
        # Four streams, so each loop holds two; each has sent its first content and hangs.
        for _ in range(4):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {len(MESSAGE)}\r\n\r\n".encode() + MESSAGE)
            received = b""
            while b'"text": "Hello"' not in received:
                chunk = s.recv(65536)
                assert chunk, received
                received += chunk
            streams.append(s)
        process.terminate()
        process.wait(timeout=15)
        # Every stream was ended by the server.
        for s in streams:
            while s.recv(65536):
                pass
    finally:
        for s in streams:
            s.close()
        stop(process)
    assert process.returncode == 0, stderr.read_text()
    log = stderr.read_text()
    assert '"msg":"stopped"' in log
    assert "did not close cleanly" not in log
