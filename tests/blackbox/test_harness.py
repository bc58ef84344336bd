"""The harness itself: a started server answers, a raw upstream is reached through it."""

from conftest import MESSAGES_BODY, status_of


def test_server_answers_health(proxy):
    p = proxy()
    response = p.request("GET", "/health")
    assert status_of(response) == 200
    assert b'"status":"healthy"' in response


def test_raw_upstream_is_reached_through_the_proxy(proxy, raw_upstream):
    def answer(conn, head):
        body = (
            b'data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,'
            b'"delta":{"role":"assistant","content":"hi there"},"finish_reason":null}]}\n\n'
            b'data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,'
            b'"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
        )
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)

    upstream = raw_upstream(answer)
    p = proxy(env={"NVIDIA_NIM_BASE_URL": upstream.base_url, "NVIDIA_NIM_API_KEY": "test-key"})
    response = p.request("POST", "/v1/messages", MESSAGES_BODY)
    assert status_of(response) == 200
    assert b"hi there" in response
    assert upstream.requests == 1
