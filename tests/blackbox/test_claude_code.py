"""What current Claude Code sends besides its turns, tried against the server as a separate process:
`/api/hello`, `/v1/models`, one-token probes, the session-title request (answered here, never
upstream) and server tools (accepted, kept out of the upstream request)."""

import json

import pytest

from conftest import REPO, status_of

FIXTURES = REPO / "Tests" / "Fixtures"


def body_of(response: bytes) -> bytes:
    head, _, body = response.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        out = b""
        while body:
            size, _, rest = body.partition(b"\r\n")
            n = int(size, 16)
            if n == 0:
                break
            out += rest[:n]
            body = rest[n + 2:]
        return out
    return body


def recorded(session: str, name: str) -> bytes:
    return json.dumps(json.loads((FIXTURES / session / name).read_text())["body"]).encode()


def answer_200(conn, head):
    conn.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")




def test_api_hello_head_and_get(proxy):
    p = proxy()
    head = p.request("HEAD", "/api/hello")
    assert status_of(head) == 200
    assert head.endswith(b"\r\n\r\n")
    assert status_of(p.request("GET", "/api/hello")) == 200


def test_models_list_and_one(proxy):
    p = proxy(env={"MODEL": "moonshotai/kimi-k2-thinking", "MODEL_OPUS": "deepseek-ai/deepseek-v3.1"})
    listing = json.loads(body_of(p.request("GET", "/v1/models")))
    ids = [m["id"] for m in listing["data"]]
    assert ids == ["claude-opus", "claude-sonnet", "claude-haiku", "moonshotai/kimi-k2-thinking",
                   "deepseek-ai/deepseek-v3.1"]
    assert listing["first_id"] == "claude-opus" and listing["last_id"] == "deepseek-ai/deepseek-v3.1"
    assert listing["has_more"] is False
    assert all(m["type"] == "model" and m["created_at"].endswith("Z") for m in listing["data"])
    one = json.loads(body_of(p.request("GET", "/v1/models/deepseek-ai/deepseek-v3.1")))
    assert one["id"] == "deepseek-ai/deepseek-v3.1"
    missing = p.request("GET", "/v1/models/claude-instant-typo")
    assert status_of(missing) == 404
    assert json.loads(body_of(missing))["error"]["type"] == "not_found_error"


def test_session_title_is_answered_here_as_a_stream(proxy, raw_upstream):
    upstream = raw_upstream(answer_200)
    p = proxy(env={"NVIDIA_NIM_BASE_URL": upstream.base_url})
    for session in ("claude-cli-2.1.337-interactive", "claude-cli-2.1.332-interactive"):
        r = p.request("POST", "/v1/messages?beta=true", recorded(session, "session-title.json"))
        assert status_of(r) == 200
        events = [line[7:] for line in body_of(r).decode().split("\n") if line.startswith("event: ")]
        assert events == ["message_start", "content_block_start", "content_block_delta", "content_block_stop",
                          "message_delta", "message_stop"]
        data = [json.loads(line[6:]) for line in body_of(r).decode().split("\n") if line.startswith("data: ")]
        title = json.loads(data[2]["delta"]["text"])["title"]
        assert 1 <= len(title.split()) <= 5
    assert upstream.requests == 0


def test_title_goes_upstream_when_switched_off(proxy, raw_upstream):
    upstream = raw_upstream(answer_200)
    p = proxy(env={"NVIDIA_NIM_BASE_URL": upstream.base_url, "ENABLE_TITLE_GENERATION_SKIP": "false"})
    p.request("POST", "/v1/messages", recorded("claude-cli-2.1.337-interactive", "session-title.json"))
    assert upstream.requests >= 1


@pytest.mark.parametrize("text", ["quota", ".", "Hi", "test"])
def test_one_token_probes(proxy, raw_upstream, text):
    upstream = raw_upstream(answer_200)
    p = proxy(env={"NVIDIA_NIM_BASE_URL": upstream.base_url, "MODEL": "moonshotai/kimi-k2-thinking"})
    def probe(model):
        return json.dumps({"model": model, "max_tokens": 1, "messages": [
            {"role": "user", "content": [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]}]}).encode()
    for model in ("claude-opus-5-5", "claude-haiku-4-5-20251001", "moonshotai/kimi-k2-thinking"):
        assert status_of(p.request("POST", "/v1/messages", probe(model))) == 200
    assert upstream.requests == 0
    # A model nobody configured goes upstream, so a mistyped /model is reported.
    p.request("POST", "/v1/messages", probe("moonshotai/kimi-k2-thinkng"))
    assert upstream.requests >= 1


def test_server_tools_accepted_and_not_sent_upstream(proxy, scripted_upstream):
    p = proxy(env={"NVIDIA_NIM_BASE_URL": scripted_upstream.base_url, "MODEL": "scenario:text"})
    body = json.dumps({
        "model": "claude-sonnet-4-5", "max_tokens": 200, "stream": True,
        "messages": [{"role": "user", "content": "Perform a web search for the query: swift 6.3 release"}],
        "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 8},
                  {"type": "web_fetch_20250910", "name": "web_fetch"}],
    }).encode()
    r = p.request("POST", "/v1/messages?beta=true", body)
    assert status_of(r) == 200, r[:300]
    assert b"message_stop" in body_of(r)
    bodies = scripted_upstream.bodies()
    assert len(bodies) == 1
    assert "tools" not in bodies[0]
