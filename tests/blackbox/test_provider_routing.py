"""Issue 13's `.env` routes each Claude tier, and each provider-prefixed name a client sends, to its
provider: the right path, the model under the provider's own name, and that provider's key only.
Five recording OpenAI-compatible upstreams stand in for NIM, OpenRouter, LM Studio, llama.cpp and
Ollama (LM Studio and llama.cpp are reached through their OpenAI-compatible endpoint for now)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import status_of
from test_providers_config import EXAMPLE

ANSWER = (b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"served"},"finish_reason":null}]}\n\n'
          b'data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
          b"data: [DONE]\n\n")


# What an Anthropic-native server (LM Studio, llama.cpp) streams: relayed to the client byte for byte.
NATIVE_ANSWER = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_local","type":"message",'
    b'"role":"assistant","model":"local","content":[],"stop_reason":null,"stop_sequence":null,'
    b'"usage":{"input_tokens":3,"output_tokens":0}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"served natively"}}\n\n'
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},'
    b'"usage":{"output_tokens":2}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)


def body_of(response: bytes) -> bytes:
    """The response body, chunked transfer coding removed."""
    head, _, body = response.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" not in head.lower():
        return body
    out = b""
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out += body[:size]
        body = body[size + 2:]
    return out


class Recording:
    """One upstream: every request's path, Authorization header and JSON body."""

    def __init__(self, status: int = 200):
        self.seen = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.seen.append({"path": self.path, "authorization": self.headers.get("Authorization"),
                                   "x-api-key": self.headers.get("x-api-key"), "body": json.loads(body)})
                if status != 200:
                    error = b'{"error":{"message":"The model is overloaded."}}'
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(error)))
                    self.end_headers()
                    self.wfile.write(error)
                    return
                answer = NATIVE_ANSWER if self.path.endswith("/messages") else ANSWER
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def providers():
    made = {name: Recording() for name in ("nim", "openrouter", "lmstudio", "llamacpp", "ollama")}
    yield made
    for r in made.values():
        r.stop()


def ask(p, model: str) -> bytes:
    body = json.dumps({"model": model, "max_tokens": 100, "stream": True,
                       "messages": [{"role": "user", "content": "Which provider?"}]}).encode()
    return p.request("POST", "/v1/messages", body)


@pytest.mark.parametrize("asked, upstream, path, model, key", [
    ("claude-opus-4-1", "nim", "/v1/chat/completions", "z-ai/glm4.7", "Bearer nvapi-test"),
    ("claude-sonnet-4-5", "openrouter", "/api/v1/chat/completions", "arcee-ai/trinity-large-preview:free", "Bearer sk-or-test"),
    ("claude-haiku-4-5", "openrouter", "/api/v1/chat/completions", "stepfun/step-3.5-flash:free", "Bearer sk-or-test"),
    ("some-other-model", "nim", "/v1/chat/completions", "some-other-model", "Bearer nvapi-test"),
    ("open_router/deepseek/deepseek-r1:free", "openrouter", "/api/v1/chat/completions", "deepseek/deepseek-r1:free", "Bearer sk-or-test"),
    ("lmstudio/qwen3-coder", "lmstudio", "/v1/messages", "qwen3-coder", None),
    ("llamacpp/local", "llamacpp", "/v1/messages", "local", None),
    ("ollama/llama3.1", "ollama", "/v1/chat/completions", "llama3.1", None),
])
def test_each_model_reaches_its_provider_with_its_key_only(proxy, tmp_path, providers, asked, upstream, path, model, key):
    (tmp_path / ".env").write_text(EXAMPLE.format(**{name: r.port for name, r in providers.items()}))
    p = proxy()
    response = ask(p, asked)
    assert status_of(response) == 200, response[:300]
    native = upstream in ("lmstudio", "llamacpp")
    if native:
        # Anthropic-native: the answer's bytes as the server sent them, untranslated.
        assert body_of(response) == NATIVE_ANSWER
    else:
        assert b'"text": "served"' in response
    reached = {name: r.seen for name, r in providers.items() if r.seen}
    assert list(reached) == [upstream], reached
    [request] = reached[upstream]
    assert request["path"] == path
    assert request["body"]["model"] == model
    assert request["authorization"] == key
    # Each provider gets its own extras: NIM the reference's thinking switches, OpenRouter its
    # reasoning switch, the local servers neither.
    body = request["body"]
    assert ("chat_template_kwargs" in body) == (upstream == "nim")
    assert ("reasoning" in body) == (upstream == "openrouter")
    if native:
        # The client's request with only the model replaced.
        assert body == {"model": model, "max_tokens": 100, "stream": True,
                        "messages": [{"role": "user", "content": "Which provider?"}]}
        assert request["x-api-key"] is None


def test_a_fallback_list_crosses_providers(proxy, tmp_path):
    nim, openrouter, local = Recording(status=503), Recording(), Recording()
    try:
        ports = {"nim": nim.port, "openrouter": openrouter.port, "lmstudio": local.port, "llamacpp": local.port,
                 "ollama": local.port}
        (tmp_path / ".env").write_text(EXAMPLE.format(**ports) + 'MODEL_FALLBACKS="open_router/x/y:free,lmstudio/local"\n')
        p = proxy()
        response = ask(p, "claude-opus-4-1")
        assert status_of(response) == 200, response[:300]
        assert b'"text": "served"' in response
        assert [r["body"]["model"] for r in nim.seen] == ["z-ai/glm4.7"]
        [served] = openrouter.seen
        assert served["body"]["model"] == "x/y:free" and served["authorization"] == "Bearer sk-or-test"
        # Written for OpenRouter, not a copy of the body NIM was sent.
        assert "chat_template_kwargs" not in served["body"] and "reasoning" in served["body"]
        assert local.seen == []
    finally:
        for r in (nim, openrouter, local):
            r.stop()


def test_each_provider_has_its_own_rate_limit(proxy, tmp_path, providers):
    env = EXAMPLE.format(**{name: r.port for name, r in providers.items()})
    env = env.replace("PROVIDER_RATE_LIMIT=40", "PROVIDER_RATE_LIMIT=1") + "NVIDIA_NIM_RATE_LIMIT=100\n"
    (tmp_path / ".env").write_text(env)
    p = proxy()
    assert status_of(ask(p, "claude-sonnet-4-5")) == 200  # OpenRouter's one slot a minute, used
    # NIM is not held back by OpenRouter's full window.
    for _ in range(3):
        assert status_of(ask(p, "claude-opus-4-1")) == 200
    health = json.loads(p.request("GET", "/health").split(b"\r\n\r\n", 1)[1])
    limits = health["providers"]
    assert limits["open_router"]["rate_limit"] == 1 and limits["open_router"]["window_used"] == 1
    assert limits["nvidia_nim"]["rate_limit"] == 100 and limits["nvidia_nim"]["window_used"] == 3
    assert limits["open_router"]["concurrent_streams"] == 0 and limits["open_router"]["upstream_transfers"] == 0
    assert len(providers["openrouter"].seen) == 1 and len(providers["nim"].seen) == 3


def test_metrics_name_each_attempts_provider(proxy, tmp_path, providers):
    (tmp_path / ".env").write_text(EXAMPLE.format(**{name: r.port for name, r in providers.items()}))
    p = proxy()
    assert status_of(ask(p, "claude-sonnet-4-5")) == 200
    assert status_of(ask(p, "ollama/llama3.1")) == 200
    text = p.request("GET", "/metrics").split(b"\r\n\r\n", 1)[1].decode()
    assert ('nim_proxy_upstream_requests_total{provider="open_router",'
            'model="open_router/arcee-ai/trinity-large-preview:free",outcome="success"} 1') in text, text
    assert 'nim_proxy_upstream_requests_total{provider="ollama",model="ollama/llama3.1",outcome="success"} 1' in text
