"""RATE_LIMIT_STORE=redis: three instances sharing one Redis keep one rate window together, say so
in /health, and fall back to their own limiter when Redis goes away."""

import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest import BINARY, Proxy, free_port, status_of
from test_upstream_abuse import KEY, Script, answer_normally, health, post_messages, streamed_text

LIMIT = 5
WINDOW_S = 2


def start_redis(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("redis-server did not start")


class Arrivals:
    """An upstream that answers every request normally and notes when each arrived."""

    def __init__(self):
        self.times = []
        self.lock = threading.Lock()

    def __call__(self, conn, head):
        with self.lock:
            self.times.append(time.monotonic())
        answer_normally(conn)


def start_instances(tmp_path, count, env, proxies):
    """`count` proxies, each in its own folder, with the same settings, added to `proxies` as each
    starts (so the caller stops those that started if a later one fails)."""
    for i in range(count):
        workdir = tmp_path / f"instance{i}"
        workdir.mkdir()
        proxies.append(Proxy(workdir, {**KEY, **env}, []).start())


def burst(proxies, per_instance):
    """`per_instance` requests at once to each proxy; every response once all have ended."""
    results = []
    lock = threading.Lock()

    def one(p):
        r = post_messages(p, quiet=15.0)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=one, args=(p,)) for p in proxies for _ in range(per_instance)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed (Debian: apt-get install redis-server)")
def test_three_instances_share_one_window_and_fall_back_without_redis(tmp_path, raw_upstream):
    if not BINARY.exists():
        pytest.skip(f"server binary not built: {BINARY}")
    redis, redis_port = start_redis(tmp_path)
    arrivals = Arrivals()
    upstream = raw_upstream(arrivals)
    proxies = []
    try:
        start_instances(tmp_path, 3, {
            "NVIDIA_NIM_BASE_URL": upstream.base_url, "NVIDIA_NIM_RATE_LIMIT": LIMIT,
            "NVIDIA_NIM_RATE_WINDOW": WINDOW_S, "RATE_LIMIT_STORE": f"redis://127.0.0.1:{redis_port}",
        }, proxies)
        # Bursts: five requests at once to each instance, fifteen in all.
        results = burst(proxies, LIMIT)
        assert len(results) == 3 * LIMIT
        assert all(status_of(r) == 200 and streamed_text(r) == "served normally" for r in results)

        times = sorted(arrivals.times)
        assert len(times) == 3 * LIMIT
        # Arrivals are blurred by connection set-up, so the windows checked are a little shorter
        # than the limiter's; three instances each with its own window would put fifteen in the first.
        for i, t in enumerate(times):
            in_window = sum(1 for u in times[i:] if u < t + WINDOW_S - 0.3)
            assert in_window <= LIMIT, f"arrivals {[round(u - times[0], 3) for u in times]}"
        # Fifteen at five per window need at least two full windows after the first grant.
        assert times[-1] - times[0] >= 2 * WINDOW_S - 0.3

        for p in proxies:
            store = health(p)["rate_limit_store"]
            assert store["kind"] == "redis" and store["state"] == "connected", store

        redis.kill()
        redis.wait(timeout=10)
        for p in proxies:
            r = post_messages(p, quiet=15.0)
            assert status_of(r) == 200 and streamed_text(r) == "served normally"
            store = health(p)["rate_limit_store"]
            assert store["kind"] == "redis" and store["state"].startswith("unreachable"), store
    finally:
        for p in proxies:
            p.stop()
        if redis.poll() is None:
            redis.kill()
            redis.wait(timeout=10)


def test_memory_is_the_default_store(proxy, raw_upstream):
    upstream = raw_upstream(Script(answer_normally))
    p = proxy(env={**KEY, "NVIDIA_NIM_BASE_URL": upstream.base_url})
    assert health(p)["rate_limit_store"] == {"kind": "memory"}


def test_a_bad_store_is_refused_at_start(proxy):
    p = proxy(env={**KEY, "RATE_LIMIT_STORE": "redis://cache:99999"}, expect_exit=True)
    assert p.process.returncode == 2
    assert "RATE_LIMIT_STORE" in p.stderr_text()


class Overlap:
    """An upstream that holds each answer a moment and notes the most requests it had at once."""

    def __init__(self):
        self.now = 0
        self.most = 0
        self.total = 0
        self.lock = threading.Lock()

    def __call__(self, conn, head):
        with self.lock:
            self.now += 1
            self.total += 1
            self.most = max(self.most, self.now)
        time.sleep(0.3)
        with self.lock:
            self.now -= 1
        answer_normally(conn)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed (Debian: apt-get install redis-server)")
def test_three_instances_share_one_concurrency_cap(tmp_path, raw_upstream):
    if not BINARY.exists():
        pytest.skip(f"server binary not built: {BINARY}")
    redis, redis_port = start_redis(tmp_path)
    overlap = Overlap()
    upstream = raw_upstream(overlap)
    proxies = []
    try:
        start_instances(tmp_path, 3, {
            "NVIDIA_NIM_BASE_URL": upstream.base_url, "PROVIDER_MAX_CONCURRENCY": 2,
            "RATE_LIMIT_STORE": f"redis://127.0.0.1:{redis_port}",
        }, proxies)
        results = burst(proxies, 3)
        assert len(results) == 9
        assert all(status_of(r) == 200 and streamed_text(r) == "served normally" for r in results)
        assert overlap.total == 9
        # Each instance alone would allow two: three instances could have six open at once.
        assert overlap.most <= 2, overlap.most
        for p in proxies:
            assert health(p)["provider"]["concurrent_streams"] == 0
    finally:
        for p in proxies:
            p.stop()
        redis.kill()
        redis.wait(timeout=10)


def test_redis_unreachable_at_start_falls_back(proxy, raw_upstream):
    upstream = raw_upstream(Script(answer_normally))
    p = proxy(env={**KEY, "NVIDIA_NIM_BASE_URL": upstream.base_url, "RATE_LIMIT_STORE": f"redis://127.0.0.1:{free_port()}",
                   "LOG_LEVEL": "warning"})
    r = post_messages(p)
    assert status_of(r) == 200 and streamed_text(r) == "served normally"
    store = health(p)["rate_limit_store"]
    assert store["kind"] == "redis" and store["state"] == "unreachable: using the in-process limiter", store
    # Said once by each loop's connection, however many decisions fell back.
    post_messages(p)
    assert p.stderr_text().count("rate-limit store unreachable") == health(p)["workers"]


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed (Debian: apt-get install redis-server)")
def test_a_client_leaving_while_waiting_for_a_lease_frees_its_place(tmp_path, raw_upstream):
    """Cap 1 over two instances: A's stream holds the one lease; B's request waits for it, and its
    client leaves. B's place is free again, and once A's stream ends B serves the next request."""
    if not BINARY.exists():
        pytest.skip(f"server binary not built: {BINARY}")
    redis, redis_port = start_redis(tmp_path)
    release = threading.Event()
    overlap = Overlap()

    def held_until_released(conn, head):
        release.wait(timeout=30)
        overlap(conn, head)

    upstream = raw_upstream(held_until_released)
    proxies = []
    try:
        for i in range(2):
            workdir = tmp_path / f"instance{i}"
            workdir.mkdir()
            proxies.append(Proxy(workdir, {
                **KEY, "NVIDIA_NIM_BASE_URL": upstream.base_url, "PROVIDER_MAX_CONCURRENCY": 1,
                "RATE_LIMIT_STORE": f"redis://127.0.0.1:{redis_port}",
            }, []).start())
        a, b = proxies
        first = []
        t = threading.Thread(target=lambda: first.append(post_messages(a, quiet=15.0)))
        t.start()
        deadline = time.time() + 10
        while time.time() < deadline and health(a)["provider"]["concurrent_streams"] != 1:
            time.sleep(0.05)
        assert health(a)["provider"]["concurrent_streams"] == 1

        body = (b'{"model":"claude-3-5-sonnet-20241022","max_tokens":100,"stream":true,'
                b'"messages":[{"role":"user","content":"Tell me something."}]}')
        leaving = socket.create_connection(("127.0.0.1", b.port), timeout=5)
        leaving.sendall(f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{b.port}\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        deadline = time.time() + 10
        while time.time() < deadline and health(b)["provider"]["waiting_for_concurrency"] != 1:
            time.sleep(0.05)
        hb = health(b)
        assert hb["provider"]["waiting_for_concurrency"] == 1, hb
        leaving.close()
        deadline = time.time() + 10
        while time.time() < deadline and health(b)["provider"]["waiting_for_concurrency"] != 0:
            time.sleep(0.05)
        assert health(b)["provider"]["waiting_for_concurrency"] == 0

        release.set()
        t.join(timeout=30)
        assert status_of(first[0]) == 200 and streamed_text(first[0]) == "served normally"
        r = post_messages(b, quiet=15.0)
        assert status_of(r) == 200 and streamed_text(r) == "served normally"
        assert overlap.total == 2, "the request whose client left never reached the upstream"
        assert overlap.most == 1
    finally:
        release.set()
        for p in proxies:
            p.stop()
        redis.kill()
        redis.wait(timeout=10)
