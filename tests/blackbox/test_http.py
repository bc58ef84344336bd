"""The HTTP/1.1 layer as an attacker sees it: the strict parser's refusals over raw sockets, the
connection limit, the body deadline, and memory that stays bounded whatever a client does
(pipelining without reading, a large body)."""

import json
import re
import socket
import threading
import time

import pytest

from conftest import send_raw, status_of, vm_hwm_kb, vm_rss_kb


REFUSALS = [
    # (request bytes, status, words of the message)
    (b"GET /health\r\n\r\n", 400, b"no HTTP version"),
    (b"GET /health HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n", 505, b"HTTP/9.9 is not supported"),
    (b"GET /health HTXP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400, b"invalid HTTP version"),
    (b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Space : v\r\n\r\n", 400, b"whitespace before the colon"),
    (b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Fold: a\r\n b\r\n\r\n", 400, b"obsolete line folding"),
    (b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, b"both Content-Length and Transfer-Encoding"),
    (b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"FFFFFFFFFFFFFFFFFFFFFFFF\r\n", 400, b"chunk size overflows"),
    (b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"7FFFFFFFFFFFFFFF\r\n", 413, b"exceeds the limit"),
    (b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
     400, b"conflicting Content-Length"),
    (b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n",
     413, b"exceeds the limit"),
    (b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431,
     b"too large"),
]


@pytest.fixture
def server(proxy):
    return proxy()


@pytest.mark.parametrize("request_bytes,status,words", REFUSALS,
                         ids=[r[0][:40].decode("latin-1") for r in REFUSALS])
def test_parser_refusals(server, request_bytes, status, words):
    response = send_raw(server.port, request_bytes)
    assert status_of(response) == status, response[:300]
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"Connection: close" in head
    assert b'"type":"error"' in body and words in body, body
    # The server is still there for the next client.
    assert status_of(server.request("GET", "/health")) == 200


def test_header_limit_is_a_setting(proxy):
    p = proxy(env={"HTTP_MAX_HEADER_BYTES": "2048"})
    big = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 3000 + b"\r\n\r\n"
    assert status_of(send_raw(p.port, big)) == 431
    fits = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 1500 + b"\r\nConnection: close\r\n\r\n"
    assert status_of(send_raw(p.port, fits)) == 200


def test_valid_requests_still_work_pipelined_and_chunked(server):
    host = f"Host: 127.0.0.1:{server.port}\r\n".encode()
    parts = [b'{"model":"claude', b'-3-5-sonnet","messages":[{"role":"user",', b'"content":"hello"}]}']
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    requests = (b"GET /health HTTP/1.1\r\n" + host + b"\r\n"
                + b"HEAD /health HTTP/1.1\r\n" + host + b"\r\n"
                + b"POST /v1/messages/count_tokens HTTP/1.1\r\n" + host
                + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked
                + b"GET /health HTTP/1.0\r\n" + host + b"\r\n")
    response = send_raw(server.port, requests)
    statuses = [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", response)]
    assert statuses == [200, 200, 200, 200], response
    assert b"input_tokens" in response


def test_max_connections_refuses_the_one_too_many_with_503(proxy):
    p = proxy(env={"MAX_CONNECTIONS": "2"})
    held = [socket.create_connection(("127.0.0.1", p.port)) for _ in range(2)]
    try:
        # Both held connections are accepted before the third (the kernel queues them in order).
        response = send_raw(p.port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert status_of(response) == 503, response
        assert b"Too many connections" in response and b"Connection: close" in response
        assert b'"type":"overloaded_error"' in response
        # A held connection is served normally.
        held[0].sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        held[0].settimeout(5)
        assert status_of(held[0].recv(65536)) == 200
    finally:
        for s in held:
            s.close()
    # Once they are gone, new clients get in again.
    deadline = time.time() + 10
    while time.time() < deadline:
        if status_of(p.request("GET", "/health")) == 200:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the server did not accept connections again")


def test_a_trickled_body_ends_with_408(proxy):
    p = proxy(env={"HTTP_BODY_TIMEOUT": "1"})
    with socket.create_connection(("127.0.0.1", p.port), timeout=10) as s:
        s.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n")
        sent = 0
        received = b""
        s.setblocking(False)
        # One byte every 0.2 s: each within the idle time, the whole far beyond the body's deadline.
        while sent < 100 and not received:
            try:
                s.send(b"x")
                sent += 1
            except OSError:
                break
            time.sleep(0.2)
            try:
                received = s.recv(65536)
            except BlockingIOError:
                pass
        s.settimeout(5)
        while b"\r\n\r\n" not in received:
            chunk = s.recv(65536)
            if not chunk:
                break
            received += chunk
    assert status_of(received) == 408, received
    assert b"timed out" in received
    assert sent < 100


def test_pipelining_without_reading_keeps_memory_bounded(server):
    # `GET /`, answered by the loop that reads it: `/health` gathers every loop's figures, a thread
    # round trip per request that would make this test about hand-offs instead of backpressure.
    request = f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()
    count = (16 << 20) // len(request)
    before = vm_rss_kb(server.pid)
    conn = socket.create_connection(("127.0.0.1", server.port))
    sent = [0]

    def send_all():
        batch = request * 1000
        try:
            for _ in range(count // 1000):
                conn.sendall(batch)
                sent[0] += 1000
        except OSError:
            pass

    sender = threading.Thread(target=send_all, daemon=True)
    sender.start()
    # Not reading: with backpressure the server stops reading too, and the sender blocks.
    sender.join(timeout=4)
    grown_while_not_reading = vm_hwm_kb(server.pid) - before
    # Now read every answer: none is lost, and all requests go through.
    conn.settimeout(30)
    status_line = b"HTTP/1.1 200 OK"
    responses = 0
    # A status line split across two reads is found in the joined bytes; the carried tail is one
    # byte shorter than the line so that a line already counted is never counted again.
    tail = b""
    while True:
        data = conn.recv(1 << 20)
        if not data:
            break
        data = tail + data
        responses += data.count(status_line)
        tail = data[-(len(status_line) - 1):]
        if responses >= count // 1000 * 1000:
            break
    sender.join(timeout=30)
    conn.close()
    grown = vm_hwm_kb(server.pid) - before
    print(f"pipelined {sent[0]} requests ({sent[0] * len(request) >> 20} MB); VmHWM growth "
          f"{grown_while_not_reading} KB while not reading, {grown} KB in all")
    assert sent[0] == count // 1000 * 1000
    assert responses == sent[0]
    assert grown < 64 * 1024
    assert status_of(server.request("GET", "/health")) == 200


def test_a_30mb_body_costs_at_most_about_three_times_its_size(server):
    size = 30_000_000
    before = vm_rss_kb(server.pid)
    # Read by the HTTP layer and refused by the router (GET only), so only the transport counts.
    head = (f"POST /health HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\nConnection: close\r\n\r\n").encode()
    response = send_raw(server.port, head + b"x" * size, quiet=5, limit=60)
    assert status_of(response) == 405, response[:200]
    grown = vm_hwm_kb(server.pid) - before
    print(f"30 MB body: VmHWM growth {grown} KB")
    assert grown < 3 * size // 1024


def _one_word_answer(conn, head):
    body = (b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}\n\n'
            b"data: [DONE]\n\n")
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n"
                 % len(body) + body)


@pytest.mark.parametrize("shape", ["one 30 MB text", "3,000 messages of 10 KB"])
def test_a_30mb_messages_request_costs_at_most_about_three_times_its_size(proxy, raw_upstream, shape):
    """The whole path, not only HTTP: decoding, the fast-path checks, token counting, the upstream
    body and its sending. The raw body is let go once decoded, the checks search in place, and the
    upstream body is written into a buffer sized from the client's."""
    upstream = raw_upstream(_one_word_answer)
    server = proxy(env={"NVIDIA_NIM_BASE_URL": upstream.base_url, "NVIDIA_NIM_API_KEY": "k",
                        "MAX_REQUEST_BODY_BYTES": "100000000"})
    sentence = "the quick brown fox jumps over a lazy dog while {} readers watch. "
    if shape.startswith("one"):
        messages = [{"role": "user", "content": sentence * (30_000_000 // len(sentence))}]
    else:
        messages = [{"role": ("user", "assistant")[i % 2], "content": [{"type": "text", "text": sentence.format(i) * 150}]}
                    for i in range(3_000)]
    body = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 100, "stream": True, "messages": messages}).encode()
    del messages
    before = vm_rss_kb(server.pid)
    head = (f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    response = send_raw(server.port, head + body, quiet=20, limit=120)
    assert status_of(response) == 200, response[:300]
    assert b"message_stop" in response
    assert upstream.requests == 1
    grown = vm_hwm_kb(server.pid) - before
    print(f"{shape}: {len(body)} bytes, VmHWM growth {grown} KB ({grown * 1024 / len(body):.2f}x)")
    assert grown * 1024 < 3 * len(body)
