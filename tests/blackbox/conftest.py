"""Black-box harness: the server runs as a separate process and is tried the way an attacker on
the same machine would try it, over raw sockets on 127.0.0.1.

- `proxy(env=..., args=...)` starts `$NIM_PROXY_BIN` (default .build/debug/nim-proxy) on a free
  loopback port with a temporary workspace and waits until it answers; it is stopped after the test.
- `raw_upstream(handler)` is an upstream whose answer is whatever bytes the test writes, for peers
  that misbehave in ways a well-formed scripted upstream cannot (absurd headers, endless lines).
- `send_raw(port, data)` writes bytes and returns everything read until the server closes or goes
  quiet; `vm_hwm_kb(pid)` and `vm_rss_kb(pid)` read the process's memory from /proc.

Every server listens on 127.0.0.1 only and every wait has a deadline.
"""

import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("NIM_PROXY_BIN", REPO / ".build" / "debug" / "nim-proxy"))
UPSTREAM_BINARY = BINARY.parent / "scripted-upstream"
FAKE_CLAUDE = REPO / "Tests" / "CLIProcessTests" / "Fixtures" / "fake-claude"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def send_raw(port: int, data: bytes, quiet: float = 1.0, limit: float = 10.0) -> bytes:
    """Sends `data` and reads until the peer closes, `quiet` seconds pass without a byte, or
    `limit` seconds pass in all."""
    with socket.create_connection(("127.0.0.1", port), timeout=quiet) as s:
        s.sendall(data)
        received = b""
        deadline = time.time() + limit
        while time.time() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
        return received


def status_of(response: bytes) -> int:
    """The status code of the first response in `response`, or 0 when there is none."""
    try:
        return int(response.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def _proc_status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def vm_hwm_kb(pid: int) -> int:
    return _proc_status_kb(pid, "VmHWM")


def vm_rss_kb(pid: int) -> int:
    return _proc_status_kb(pid, "VmRSS")


class Proxy:
    def __init__(self, workdir: Path, env: dict, args: list):
        self.workdir = workdir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ)
        # Nothing of the caller's own configuration leaks into a test.
        for key in list(self.env):
            if key.startswith(("NVIDIA_NIM_", "MODEL", "PROXY_AUTH_TOKEN", "ANTHROPIC_")):
                del self.env[key]
        self.env.update(
            HOST="127.0.0.1",
            PORT=str(self.port),
            CLAUDE_WORKSPACE=str(workdir / "data"),
            CLAUDE_CLI_BIN=str(FAKE_CLAUDE),
            LOG_LEVEL="error",
        )
        self.env.update({k: str(v) for k, v in env.items()})
        self.args = args
        self.process = None
        self.stderr_path = workdir / "proxy.stderr"

    def start(self, expect_exit: bool = False):
        self.stderr = open(self.stderr_path, "wb")
        self.process = subprocess.Popen(
            [str(BINARY), *self.args], cwd=self.workdir, env=self.env,
            stdout=subprocess.DEVNULL, stderr=self.stderr)
        if expect_exit:
            self.process.wait(timeout=20)
            return self
        deadline = time.time() + 20
        while time.time() < deadline:
            assert self.process.poll() is None, f"server exited at start: {self.stderr_text()}"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("server did not start")

    def stderr_text(self) -> str:
        self.stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def request(self, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> bytes:
        """One request on its own connection; returns the raw response."""
        h = {"Host": f"127.0.0.1:{self.port}", "Connection": "close"}
        if body:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        h["Content-Length"] = str(len(body))
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items() if v is not None)
        return send_raw(self.port, head.encode() + b"\r\n" + body)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process:
            self.stderr.close()


@pytest.fixture
def proxy(tmp_path):
    """Factory: proxy(env={...}, args=[...], expect_exit=False) -> a started Proxy."""
    if not BINARY.exists():
        pytest.skip(f"server binary not built: {BINARY}")
    started = []

    def make(env: dict | None = None, args: list | None = None, expect_exit: bool = False) -> Proxy:
        p = Proxy(tmp_path, env or {}, args or [])
        started.append(p)
        return p.start(expect_exit=expect_exit)

    yield make
    for p in started:
        p.stop()


class RawUpstream:
    """A loopback server that hands each accepted connection to `handler(conn, request_head_bytes)`;
    the handler writes whatever it likes. Runs on a thread, stopped after the test."""

    def __init__(self, handler):
        self.handler = handler
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.requests = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        conn.settimeout(10)
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            while len(rest) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                rest += chunk
            self.requests += 1
            self.handler(conn, head)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def stop(self):
        self.stopping = True
        self.sock.close()


@pytest.fixture
def raw_upstream():
    """Factory: raw_upstream(handler) -> a started RawUpstream."""
    made = []

    def make(handler) -> RawUpstream:
        u = RawUpstream(handler)
        made.append(u)
        return u

    yield make
    for u in made:
        u.stop()


MESSAGES_BODY = (
    b'{"model":"claude-3-5-sonnet-20241022","max_tokens":100,"stream":true,'
    b'"messages":[{"role":"user","content":"Tell me something."}]}'
)


@pytest.fixture
def scripted_upstream(tmp_path):
    """The scripted upstream as its own process (OpenAI-compatible; the request's model
    `scenario:NAME` picks the answer): `base_url`, `bodies()` (the requests it recorded) and
    `stats()` (its GET /stats)."""
    if not UPSTREAM_BINARY.exists():
        pytest.skip("scripted-upstream not built")
    record = tmp_path / "upstream.jsonl"
    out = tmp_path / "upstream.out"
    p = subprocess.Popen([str(UPSTREAM_BINARY), "--port", "0", "--record", str(record)],
                         stdout=open(out, "wb"), stderr=subprocess.STDOUT)
    deadline = time.time() + 10
    while time.time() < deadline and "listening" not in out.read_text():
        time.sleep(0.05)
    port = int(out.read_text().split()[1])

    class U:
        base_url = f"http://127.0.0.1:{port}/v1"

        @staticmethod
        def bodies():
            return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []

        @staticmethod
        def stats():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as r:
                return json.loads(r.read())

    yield U
    p.terminate()
    p.wait(timeout=10)
