"""GET /metrics against the server as a separate process: counts after real requests, the
Prometheus content type, and who may scrape (the token when one is set, the Host check always).
The scripted upstream runs as a process too, and its GET /stats says what reached it."""

import json

import pytest

from conftest import status_of

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


@pytest.fixture
def upstream(scripted_upstream):
    return scripted_upstream


def split(response: bytes):
    head, _, body = response.partition(b"\r\n\r\n")
    return head, body


def samples(body: bytes) -> dict:
    """`name{labels}` -> value for every sample line."""
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def message(text: str, stream: bool = True) -> bytes:
    return json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 100, "stream": stream,
                       "messages": [{"role": "user", "content": text}]}).encode()


def test_scrape_counts_requests_by_route_and_status(proxy, upstream):
    p = proxy(env={"NVIDIA_NIM_BASE_URL": upstream.base_url, "MODEL": "scenario:text", "NVIDIA_NIM_API_KEY": "k"})
    assert status_of(p.request("GET", "/health")) == 200
    assert status_of(p.request("GET", "/health")) == 200
    assert status_of(p.request("GET", "/v1/models/claude-opus")) == 200
    assert status_of(p.request("GET", "/no/such/path")) == 404
    streamed = p.request("POST", "/v1/messages", message("Tell me something."))
    assert status_of(streamed) == 200 and b"\"text\": \"Hello\"" in streamed and b"event: message_stop" in streamed
    # A page's cross-site form post is refused before any route runs, and still counted.
    refused = p.request("POST", "/v1/messages", b"x=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status_of(refused) == 415

    head, body = split(p.request("GET", "/metrics"))
    assert status_of(head) == 200
    assert b"content-type: " + CONTENT_TYPE in head.lower()
    got = samples(body)
    assert got['nim_proxy_requests_total{route="/health",status="200"}'] == 2
    assert got['nim_proxy_requests_total{route="/v1/models/{id}",status="200"}'] == 1
    assert got['nim_proxy_requests_total{route="unmatched",status="404"}'] == 1
    assert got['nim_proxy_requests_total{route="/v1/messages",status="200"}'] == 1
    assert got['nim_proxy_requests_total{route="/v1/messages",status="415"}'] == 1
    assert got["nim_proxy_open_streams"] == 0
    text = body.decode()
    for name, kind in [("nim_proxy_requests_total", "counter"), ("nim_proxy_upstream_requests_total", "counter"),
                       ("nim_proxy_fallbacks_total", "counter"), ("nim_proxy_retries_total", "counter"),
                       ("nim_proxy_rate_limit_wait_seconds", "histogram"),
                       ("nim_proxy_first_content_seconds", "histogram"), ("nim_proxy_open_streams", "gauge")]:
        assert f"# TYPE {name} {kind}\n" in text
    assert got['nim_proxy_rate_limit_wait_seconds_bucket{le="+Inf"}'] == got["nim_proxy_rate_limit_wait_seconds_count"]
    # The upstream side, fed by the server's streams: one attempt, served, one slot wait, one first content.
    assert got['nim_proxy_upstream_requests_total{provider="nvidia_nim",model="scenario:text",outcome="success"}'] == 1
    assert got["nim_proxy_rate_limit_wait_seconds_count"] == 1
    assert got["nim_proxy_first_content_seconds_count"] == 1

    # The next scrape counts this one.
    _, again = split(p.request("GET", "/metrics"))
    assert samples(again)['nim_proxy_requests_total{route="/metrics",status="200"}'] == 1
    # What reached the upstream: the one streamed message.
    assert upstream.stats()["completion_requests"] == 1


def test_with_a_token_only_the_operator_scrapes(proxy):
    p = proxy(env={"PROXY_AUTH_TOKEN": "op-secret"})
    missing = p.request("GET", "/metrics")
    assert status_of(missing) == 401
    assert json.loads(split(missing)[1])["error"]["type"] == "authentication_error"
    assert status_of(p.request("GET", "/metrics", headers={"x-api-key": "wrong"})) == 401
    head, body = split(p.request("GET", "/metrics", headers={"Authorization": "Bearer op-secret"}))
    assert status_of(head) == 200 and b"# TYPE nim_proxy_requests_total counter" in body
    # The refusals were counted under the route they were for.
    assert samples(body)['nim_proxy_requests_total{route="/metrics",status="401"}'] == 2


def test_host_and_origin_checks_apply(proxy):
    p = proxy()
    rebound = p.request("GET", "/metrics", headers={"Host": f"attacker.example:{p.port}"})
    assert status_of(rebound) == 403
    foreign = p.request("GET", "/metrics", headers={"Origin": "https://attacker.example"})
    assert status_of(foreign) == 403
    assert status_of(p.request("GET", "/metrics")) == 200


def test_fallbacks_and_failed_attempts_are_counted(proxy, upstream):
    p = proxy(env={"NVIDIA_NIM_BASE_URL": upstream.base_url, "MODEL": "scenario:overloaded_503",
                   "MODEL_FALLBACKS": "scenario:text", "NVIDIA_NIM_API_KEY": "k"})
    streamed = p.request("POST", "/v1/messages", message("Tell me something."))
    assert status_of(streamed) == 200 and b"event: message_stop" in streamed
    got = samples(split(p.request("GET", "/metrics"))[1])
    assert got['nim_proxy_upstream_requests_total{provider="nvidia_nim",model="scenario:overloaded_503",outcome="overloaded"}'] == 1
    assert got['nim_proxy_upstream_requests_total{provider="nvidia_nim",model="scenario:text",outcome="success"}'] == 1
    assert got['nim_proxy_fallbacks_total{from="scenario:overloaded_503",to="scenario:text"}'] == 1
    assert upstream.stats()["completion_requests"] == 2
