"""When the upstream fails, with the server as a separate process configured from its environment:
errors before content are Anthropic's HTTP errors, an overloaded model falls back to
MODEL_FALLBACKS, `stream: false` gets one JSON message, and /health shows the concurrency cap."""

import json

from conftest import send_raw, status_of
from test_upstream_abuse import KEY, Script, answer_normally, error_of, health, post_messages, streamed_text


def answer_overloaded(conn):
    body = b'{"error":{"message":"The model is overloaded. Try again later.","type":"server_error"}}'
    conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: "
                 + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)


def answer_html_page(conn):
    body = b"<html><body>Please sign in to the network</body></html>"
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: " + str(len(body)).encode()
                 + b"\r\nConnection: close\r\n\r\n" + body)


def test_overloaded_is_a_529_without_fallbacks(proxy, raw_upstream):
    upstream = raw_upstream(Script(answer_overloaded))
    p = proxy(env={**KEY, "NVIDIA_NIM_BASE_URL": upstream.base_url})
    response = post_messages(p)
    assert status_of(response) == 529
    assert error_of(response)["type"] == "overloaded_error"
    assert upstream.requests == 1


def test_overloaded_model_falls_back_to_the_next(proxy, raw_upstream):
    upstream = raw_upstream(Script(answer_overloaded, answer_normally))
    p = proxy(env={**KEY, "NVIDIA_NIM_BASE_URL": upstream.base_url, "MODEL_FALLBACKS": "other/model, third/model",
                   "MODEL": "first/model", "LOG_LEVEL": "info"})
    response = post_messages(p)
    assert status_of(response) == 200
    assert streamed_text(response) == "served normally"
    assert upstream.requests == 2
    assert '"models_tried":["first/model","other/model"]' in p.stderr_text()


def test_captive_portal_page_is_an_api_error(proxy, raw_upstream):
    upstream = raw_upstream(Script(answer_html_page))
    p = proxy(env={**KEY, "NVIDIA_NIM_BASE_URL": upstream.base_url})
    response = post_messages(p)
    assert status_of(response) == 500
    error = error_of(response)
    assert error["type"] == "api_error" and "Please sign in" in error["message"], error


def test_stream_false_gets_one_message(proxy, raw_upstream):
    upstream = raw_upstream(Script(answer_normally))
    p = proxy(env={**KEY, "NVIDIA_NIM_BASE_URL": upstream.base_url})
    body = (b'{"model":"claude-3-5-sonnet-20241022","max_tokens":100,"stream":false,'
            b'"messages":[{"role":"user","content":"Tell me something."}]}')
    response = post_messages(p, body=body)
    assert status_of(response) == 200
    message = json.loads(response.split(b"\r\n\r\n", 1)[1])
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["content"] == [{"type": "text", "text": "served normally"}]
    assert message["stop_reason"] == "end_turn"


def test_health_shows_the_concurrency_cap(proxy, raw_upstream):
    upstream = raw_upstream(Script(answer_normally))
    p = proxy(env={**KEY, "NVIDIA_NIM_BASE_URL": upstream.base_url, "PROVIDER_MAX_CONCURRENCY": "2"})
    provider = health(p)["provider"]
    assert provider["max_concurrency"] == 2
    assert provider["concurrent_streams"] == 0 and provider["waiting_for_concurrency"] == 0
    assert streamed_text(post_messages(p)) == "served normally"
    assert health(p)["provider"]["concurrent_streams"] == 0


def test_an_upstream_that_stops_reading_the_request_times_out(proxy):
    """`UPSTREAM_SEND_TIMEOUT` (the reference's `HTTP_WRITE_TIMEOUT`): an upstream that takes the
    connection but never reads the body fails the request as a timeout, long before the stall limit."""
    import socket as socketlib
    import threading
    import time as timelib
    listener = socketlib.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    held = []

    def accept_and_ignore():
        listener.settimeout(30)
        try:
            conn, _ = listener.accept()
            held.append(conn)
            conn.recv(1024)  # part of the head, then nothing more is read
        except OSError:
            pass

    threading.Thread(target=accept_and_ignore, daemon=True).start()
    try:
        p = proxy(env={"NVIDIA_NIM_BASE_URL": f"http://127.0.0.1:{port}/v1", "NVIDIA_NIM_API_KEY": "k",
                       "UPSTREAM_SEND_TIMEOUT": "1", "UPSTREAM_STALL_TIMEOUT": "60",
                       "MAX_REQUEST_BODY_BYTES": "100000000"})
        text = "the quick brown fox jumps over the lazy dog. " * (32_000_000 // 45)
        body = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 10, "stream": True,
                           "messages": [{"role": "user", "content": text}]}).encode()
        started = timelib.time()
        head = (f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{p.port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        response = send_raw(p.port, head + body, quiet=25, limit=60)
        assert status_of(response) == 504, response[:300]
        assert json.loads(response.split(b"\r\n\r\n", 1)[1])["error"]["type"] == "timeout_error"
        assert timelib.time() - started < 30
    finally:
        for c in held:
            c.close()
        listener.close()
