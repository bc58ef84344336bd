"""An upstream that misbehaves on purpose: absurd `Retry-After` values, a line that never ends,
an error body that never ends. The server must survive each, answer the request with an error,
stay within its memory bounds and serve the next request. An empty conversation never reaches
the upstream at all."""

import json
import threading

import pytest

from conftest import MESSAGES_BODY, send_raw, status_of, vm_hwm_kb

KEY = {"NVIDIA_NIM_API_KEY": "test-key"}

SSE_ANSWER = (
    b'data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,'
    b'"delta":{"role":"assistant","content":"served normally"},"finish_reason":null}]}\n\n'
    b'data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,'
    b'"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
)


def answer_normally(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: "
                 + str(len(SSE_ANSWER)).encode() + b"\r\nConnection: close\r\n\r\n" + SSE_ANSWER)


def answer_429(conn, retry_after: bytes):
    body = b'{"error":{"message":"slow down","type":"rate_limit_error"}}'
    conn.sendall(b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: " + retry_after
                 + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)


def post_messages(p, body: bytes = MESSAGES_BODY, quiet: float = 8.0, limit: float = 60.0) -> bytes:
    """One streamed request; `quiet` is longer than any wait for a retry or a slot in these tests
    (the server sends nothing then but a ping every 10 s)."""
    head = (f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{p.port}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    return send_raw(p.port, head.encode() + body, quiet=quiet, limit=limit)


def streamed_text(response: bytes) -> str:
    """The text deltas of an Anthropic SSE response, joined."""
    text = ""
    for line in response.split(b"\n"):
        if line.startswith(b"data: {"):
            event = json.loads(line[6:])
            if event.get("type") == "content_block_delta" and event["delta"].get("type") == "text_delta":
                text += event["delta"]["text"]
    return text


def finished(response: bytes) -> bool:
    return b"event: message_stop" in response


def error_of(response: bytes) -> dict:
    """The Anthropic error of a non-streamed error answer (checked to be one)."""
    assert status_of(response) >= 400, response[:300]
    body = json.loads(response.split(b"\r\n\r\n", 1)[1])
    assert body["type"] == "error" and set(body["error"]) == {"type", "message"}, body
    return body["error"]


def answered_or_refused(response: bytes) -> bool:
    """A whole streamed answer with text, or an HTTP error in Anthropic's shape."""
    if status_of(response) == 200:
        return finished(response) and bool(streamed_text(response))
    return bool(error_of(response)["message"])


def health(p) -> dict:
    response = p.request("GET", "/health")
    assert status_of(response) == 200
    return json.loads(response.split(b"\r\n\r\n", 1)[1])


class Script:
    """Upstream answers by request number: `answers[i](conn)` for the i-th request, the last
    one repeating."""

    def __init__(self, *answers):
        self.answers = answers
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, conn, head):
        with self.lock:
            i = min(self.count, len(self.answers) - 1)
            self.count += 1
        self.answers[i](conn)


# A Retry-After beyond UPSTREAM_MAX_RETRY_AFTER: these once killed the process (1e300, the year
# 99999999999: SIGILL from a trapping conversion) or wedged every later request for 31 years
# (1000000000).
@pytest.mark.parametrize("retry_after", [
    b"1e300", b"1000000000", b"Sun, 06 Nov 99999999999 08:49:37 GMT", b"99999999999999999999999999999",
])
def test_absurd_retry_after_ends_the_request_at_once(proxy, raw_upstream, retry_after):
    upstream = raw_upstream(Script(lambda c: answer_429(c, retry_after), answer_normally))
    p = proxy(env={**KEY, "NVIDIA_NIM_BASE_URL": upstream.base_url, "UPSTREAM_MAX_RETRY_AFTER": "3"})

    response = post_messages(p)
    assert p.alive(), p.stderr_text()
    # Refused before any content: the upstream's 429 as Anthropic's HTTP error, with how long it asked.
    assert status_of(response) == 429
    error = error_of(response)
    assert error["type"] == "rate_limit_error"
    assert error["message"].startswith("Upstream error 429: "), error
    assert f"Retry-After: {retry_after.decode()} is longer than UPSTREAM_MAX_RETRY_AFTER" in error["message"], error
    assert b"\r\nretry-after: " in response.split(b"\r\n\r\n", 1)[0].lower()
    # Not slept on, not retried: one upstream call.
    assert upstream.requests == 1
    # No later request waits longer than the limit.
    assert 0 < health(p)["provider"]["blocked_seconds_remaining"] <= 3

    following = post_messages(p)
    assert finished(following) and streamed_text(following) == "served normally"
    assert upstream.requests == 2
    assert p.alive()


# Not a delay at all: the server falls back to its own backoff, capped by the limit, retries three
# times and then reports the upstream's 429; the next request is served.
@pytest.mark.parametrize("retry_after", [b"-1", b"-99999999999999999999", b"soon", b"0x10", b"nan", b"1e999",
                                         b"Sun, 32 Nov 1994 08:49:37 GMT", b"Sun, 06 Nov 1994 99:49:37 GMT"])
def test_negative_and_garbage_retry_after_fall_back_to_the_backoff(proxy, raw_upstream, retry_after):
    answers = [lambda c: answer_429(c, retry_after)] * 4 + [answer_normally]
    upstream = raw_upstream(Script(*answers))
    p = proxy(env={**KEY, "NVIDIA_NIM_BASE_URL": upstream.base_url, "UPSTREAM_MAX_RETRY_AFTER": "1"})

    response = post_messages(p)
    assert p.alive(), p.stderr_text()
    assert status_of(response) == 429
    assert error_of(response)["message"].startswith("Upstream error 429: ")
    assert upstream.requests == 4
    assert health(p)["provider"]["blocked_seconds_remaining"] <= 1

    following = post_messages(p)
    assert streamed_text(following) == "served normally"
    assert upstream.requests == 5


class Endless:
    """Writes `head`, then `piece` over and over until `total` bytes or until the proxy hangs up."""

    def __init__(self, head: bytes, piece: bytes, total: int):
        self.head, self.piece, self.total = head, piece, total
        self.sent = 0
        self.ended = threading.Event()

    def __call__(self, conn):
        try:
            conn.sendall(self.head)
            while self.sent < self.total:
                conn.sendall(self.piece)
                self.sent += len(self.piece)
        except OSError:
            pass
        finally:
            self.ended.set()


MB = 1024 * 1024


def run_endless(proxy, raw_upstream, endless: "Endless", what: str) -> bytes:
    """One normal request (libcurl and its TLS libraries load on the first), then one the
    endless upstream answers, then another normal one. Returns the middle response after
    checking the server survived it, cancelled the transfer (the upstream could not write its
    120 MB) and grew its peak memory by less than 64 MB."""
    upstream = raw_upstream(Script(answer_normally, endless, answer_normally))
    p = proxy(env={**KEY, "NVIDIA_NIM_BASE_URL": upstream.base_url})
    assert streamed_text(post_messages(p)) == "served normally"
    before = vm_hwm_kb(p.pid)

    response = post_messages(p)
    assert p.alive(), p.stderr_text()
    assert answered_or_refused(response), response[:300]
    assert endless.ended.wait(30)
    assert endless.sent < 64 * MB, endless.sent
    growth_mb = (vm_hwm_kb(p.pid) - before) / 1024
    print(f"{what}: VmHWM growth {growth_mb:.1f} MB, upstream wrote {endless.sent / MB:.0f} MB before the proxy hung up")
    assert growth_mb < 64

    assert health(p)["status"] == "healthy"
    assert streamed_text(post_messages(p)) == "served normally"
    return response


def test_endless_sse_line_is_cut_at_the_limit(proxy, raw_upstream):
    endless = Endless(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\ndata: ",
                      b"x" * MB, 120 * MB)
    response = run_endless(proxy, raw_upstream, endless, "endless SSE line")
    # Before any content, so an HTTP error.
    assert status_of(response) == 500
    assert error_of(response) == {"type": "api_error", "message": (
        "The upstream sent an SSE line longer than UPSTREAM_MAX_LINE_BYTES (4194304 bytes); the stream was ended.")}


def test_endless_error_body_is_cut(proxy, raw_upstream):
    endless = Endless(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n",
                      b"e" * MB, 120 * MB)
    response = run_endless(proxy, raw_upstream, endless, "endless error body")
    # The start of what was read of the body is the error's message, cut to a readable length.
    assert status_of(response) == 500
    assert error_of(response)["message"] == "Upstream error 500: " + "e" * 500 + "..."


def test_endless_headers_fail_one_request(proxy, raw_upstream):
    endless = Endless(b"HTTP/1.1 200 OK\r\n", b"X-Filler: " + b"y" * 1000 + b"\r\n", 120 * MB)
    response = run_endless(proxy, raw_upstream, endless, "endless headers")
    # A broken answer before any content is retried once on a new connection, which the script
    # answers normally.
    assert streamed_text(response) == "served normally"


def test_empty_messages_never_reach_the_upstream(proxy, raw_upstream):
    upstream = raw_upstream(Script(answer_normally))
    p = proxy(env={**KEY, "NVIDIA_NIM_BASE_URL": upstream.base_url})
    for body in [b'{"model":"claude-3-5-sonnet-20241022","max_tokens":100,"stream":true,"messages":[]}',
                 b'{"model":"claude-3-5-sonnet-20241022","max_tokens":1,"messages":[]}']:
        response = p.request("POST", "/v1/messages", body)
        assert status_of(response) == 400
        error = json.loads(response.split(b"\r\n\r\n", 1)[1])
        assert error == {"type": "error", "error": {
            "type": "invalid_request_error", "message": "messages: at least one message is required"}}
    # count_tokens keeps the reference's answer for an empty conversation.
    response = p.request("POST", "/v1/messages/count_tokens", b'{"model":"claude-3-5-sonnet-20241022","messages":[]}')
    assert status_of(response) == 200
    assert json.loads(response.split(b"\r\n\r\n", 1)[1]) == {"input_tokens": 1}
    assert upstream.requests == 0


# Numbers in a request that once could not be represented: a clear 400, never a crash.
@pytest.mark.parametrize("field,value", [
    ("max_tokens", "1e300"), ("max_tokens", "-1e300"), ("max_tokens", "99999999999999999999999"),
    ("max_tokens", "1e999"), ("top_k", "-9223372036854775809"), ("temperature", "1e999"),
])
def test_absurd_request_numbers_get_a_400(proxy, raw_upstream, field, value):
    upstream = raw_upstream(Script(answer_normally))
    p = proxy(env={**KEY, "NVIDIA_NIM_BASE_URL": upstream.base_url})
    body = ('{"model":"claude-3-5-sonnet-20241022","messages":[{"role":"user","content":"hi"}],'
            f'"{field}":{value}}}').encode()
    response = p.request("POST", "/v1/messages", body)
    assert status_of(response) == 400
    error = json.loads(response.split(b"\r\n\r\n", 1)[1])["error"]
    assert error["type"] == "invalid_request_error" and error["message"].startswith(field + ": ")
    assert upstream.requests == 0
    assert p.alive()


# Lengths libcurl reads for us: an absurd Content-Length or chunk size ends that one attempt (a
# broken connection is retried once on a new one; a Content-Length libcurl cannot hold is read as
# none, so the body ends at the close) and nothing else: the request gets an answer or an HTTP error.
@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 99999999999999999999999999\r\n\r\ndata: x",
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: -5\r\n\r\ndata: x",
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"FFFFFFFFFFFFFFFFFFFFFFFF\r\ndata: x\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\ndata: x\r\n",
    b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 99999999999999999999999999\r\nRetry-After: 1e300\r\n\r\n{}",
])
def test_absurd_lengths_fail_one_request(proxy, raw_upstream, answer):
    upstream = raw_upstream(Script(lambda c: c.sendall(answer), answer_normally))
    p = proxy(env={**KEY, "NVIDIA_NIM_BASE_URL": upstream.base_url, "UPSTREAM_MAX_RETRY_AFTER": "1"})
    response = post_messages(p)
    assert p.alive(), p.stderr_text()
    assert answered_or_refused(response), response[-500:]
    following = post_messages(p)
    assert streamed_text(following) == "served normally"
