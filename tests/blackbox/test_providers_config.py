"""Issue 13's configuration as a user brings it: the ported project's `.env` with providers starts
the server, and each way of getting a provider wrong stops it at start with a message naming the
setting (exit status 2, nothing bound)."""

from conftest import free_port

EXAMPLE = """\
NVIDIA_NIM_API_KEY="nvapi-test"
OPENROUTER_API_KEY="sk-or-test"
LM_STUDIO_BASE_URL="http://127.0.0.1:{lmstudio}/v1"
LLAMACPP_BASE_URL="http://127.0.0.1:{llamacpp}/v1"
OLLAMA_BASE_URL="http://127.0.0.1:{ollama}"
OPENROUTER_BASE_URL="http://127.0.0.1:{openrouter}/api/v1"
NVIDIA_NIM_BASE_URL="http://127.0.0.1:{nim}/v1"
MODEL_OPUS="nvidia_nim/z-ai/glm4.7"
MODEL_SONNET="open_router/arcee-ai/trinity-large-preview:free"
MODEL_HAIKU="open_router/stepfun/step-3.5-flash:free"
MODEL="nvidia_nim/z-ai/glm4.7"
PROVIDER_RATE_LIMIT=40
PROVIDER_RATE_WINDOW=60
PROVIDER_MAX_CONCURRENCY=5
HTTP_READ_TIMEOUT=120
HTTP_WRITE_TIMEOUT=10
HTTP_CONNECT_TIMEOUT=2
"""

# Keys of the ported project's current `.env` that this server accepts and ignores.
PORTED_EXTRAS = """\
MESSAGING_PLATFORM="discord"
VOICE_NOTE_ENABLED=false
WHISPER_DEVICE="nvidia_nim"
WHISPER_MODEL="openai/whisper-large-v3"
HF_TOKEN=""
DISCORD_BOT_TOKEN=""
ALLOWED_DISCORD_CHANNELS=""
NVIDIA_NIM_PROXY="http://127.0.0.1:3128"
"""


def example_env(**replace) -> str:
    text = EXAMPLE.format(**{name: free_port() for name in ("lmstudio", "llamacpp", "ollama", "openrouter", "nim")})
    lines = []
    for line in text.splitlines():
        key = line.split("=", 1)[0]
        if key in replace:
            if replace[key] is not None:
                lines.append(f"{key}={replace.pop(key)}")
            else:
                replace.pop(key)
        else:
            lines.append(line)
    lines += [f"{key}={value}" for key, value in replace.items() if value is not None]
    return "\n".join(lines) + "\n"


def start_with(proxy, tmp_path, dotenv: str, expect_exit: bool):
    (tmp_path / ".env").write_text(dotenv)
    return proxy(env={"LOG_LEVEL": "info"}, expect_exit=expect_exit)


def test_issue_example_env_starts(proxy, tmp_path):
    p = start_with(proxy, tmp_path, example_env() + PORTED_EXTRAS, expect_exit=False)
    assert p.alive()
    status = p.request("GET", "/health")
    assert b" 200 " in status.split(b"\r\n", 1)[0]
    stderr = p.stderr_text()
    # The ignored keys are named once, together; none is refused.
    ignored_lines = [line for line in stderr.splitlines() if "settings accepted and ignored" in line]
    assert len(ignored_lines) == 1, stderr
    for key in ("MESSAGING_PLATFORM", "VOICE_NOTE_ENABLED", "WHISPER_DEVICE", "WHISPER_MODEL", "HF_TOKEN",
                "DISCORD_BOT_TOKEN", "ALLOWED_DISCORD_CHANNELS", "NVIDIA_NIM_PROXY"):
        assert key in ignored_lines[0], key
    assert "nvidia_nim, open_router" in stderr


def test_plain_nim_names_still_start(proxy, tmp_path):
    p = start_with(proxy, tmp_path, 'MODEL="meta/llama-3.3-70b-instruct"\nMODEL_HAIKU="openai/gpt-oss-20b"\n'
                   'MODEL_FALLBACKS="nvidia/llama-3.1-nemotron-70b-instruct,moonshotai/kimi-k2-thinking"\n',
                   expect_exit=False)
    assert p.alive()
    assert "settings accepted and ignored" not in p.stderr_text()


def refused(proxy, tmp_path, dotenv: str) -> str:
    p = start_with(proxy, tmp_path, dotenv, expect_exit=True)
    assert p.process.returncode == 2
    return p.stderr_text()


def test_open_router_without_key_is_refused(proxy, tmp_path):
    stderr = refused(proxy, tmp_path, example_env(OPENROUTER_API_KEY=None))
    assert "OPENROUTER_API_KEY is not set, but MODEL_SONNET, MODEL_HAIKU name open_router/ models" in stderr


def test_misspelt_provider_is_refused_with_the_meant_spelling(proxy, tmp_path):
    stderr = refused(proxy, tmp_path, example_env(MODEL_SONNET='"openrouter/arcee-ai/trinity-large-preview:free"'))
    assert "MODEL_SONNET=openrouter/arcee-ai/trinity-large-preview:free" in stderr
    assert "did you mean `open_router/arcee-ai/trinity-large-preview:free`?" in stderr


def test_misspelt_provider_in_a_fallback_list_is_refused(proxy, tmp_path):
    stderr = refused(proxy, tmp_path, example_env(MODEL_FALLBACKS='"open_router/x:free,LM_Studio/local"'))
    assert "MODEL_FALLBACKS=" in stderr and "did you mean `lmstudio/local`?" in stderr


def test_provider_without_base_url_is_refused(proxy, tmp_path):
    stderr = refused(proxy, tmp_path, example_env(LM_STUDIO_BASE_URL='""', MODEL_OPUS='"lmstudio/qwen3-8b"'))
    assert "LM_STUDIO_BASE_URL is empty, but MODEL_OPUS names lmstudio/ models" in stderr
