"""The server, not the client, decides where and how the CLI runs, tried from outside: workspaces
and allowed dirs confined to ALLOWED_DIR (symlinks and `..` resolved), no client text read as an
option, no server secret in a CLI's environment, its base URL always this server's, and
MAX_CLI_SESSIONS across every manager. The CLI is the fake one of the Swift tests, which runs its
prompt as shell code."""

import os

from bot_calls import OPERATOR_TOKEN, error_of, new_session, open_manager, post, raw_lines, run_task

AUTH = {"PROXY_AUTH_TOKEN": OPERATOR_TOKEN}


def test_workspaces_and_allowed_dirs_must_resolve_inside_allowed_dir(proxy, tmp_path):
    allowed = tmp_path / "allowed"
    (allowed / "project").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (allowed / "escape").symlink_to(outside)
    p = proxy(env={**AUTH, "ALLOWED_DIR": str(allowed)})

    def manager(workspace, dirs=()):
        return post(p, "/cli/managers", {"workspace_path": str(workspace), "api_url": "http://x/v1",
                                         "allowed_dirs": [str(d) for d in dirs]})

    assert manager(allowed / "project", [allowed, allowed / "project" / "not-yet"]).status_code == 200
    for workspace, dirs in [
        (outside, []),
        (f"{allowed}/../outside", []),
        (allowed / "escape", []),
        (allowed / "escape" / "sub", []),
        ("/", []),
        (allowed, [outside]),
        (allowed, [allowed / "escape"]),
        (allowed, ["/etc"]),
        (p.workdir / "data", []),  # CLAUDE_WORKSPACE is not ALLOWED_DIR
    ]:
        r = manager(workspace, dirs)
        assert r.status_code == 403, (workspace, dirs)
        kind, message = error_of(r)
        assert kind == "permission_error" and "ALLOWED_DIR" in message


def test_the_cli_runs_in_the_resolved_workspace(proxy, tmp_path):
    allowed = tmp_path / "allowed"
    (allowed / "real").mkdir(parents=True)
    (allowed / "alias").symlink_to(allowed / "real")
    p = proxy(env={**AUTH, "ALLOWED_DIR": str(allowed)})
    handle = new_session(p, open_manager(p, allowed / "alias"))
    assert raw_lines(run_task(p, handle, "pwd")) == [os.path.realpath(allowed / "real")]


def test_option_like_and_control_character_ids_get_400(proxy):
    p = proxy(env=AUTH)
    manager = open_manager(p, p.workdir / "data")
    for session_id in ["--mcp-config={\"mcpServers\":{}}", "-r", "a\nb", "nul\u0000x", "esc\u001b[0m"]:
        r = post(p, manager + "/get_or_create_session", {"session_id": session_id})
        assert r.status_code == 400, session_id
        assert error_of(r)[0] == "invalid_request_error"
    handle = new_session(p, manager)
    r = post(p, f"/cli/sessions/{handle}/start_task", {"prompt": "echo hi", "session_id": "--help"})
    assert r.status_code == 400
    r = post(p, manager + "/register_real_session_id", {"temp_id": "pending_1", "real_session_id": "--x"})
    assert r.status_code == 400


def test_client_text_never_reads_as_an_option(proxy):
    p = proxy(env=AUTH)
    handle = new_session(p, open_manager(p, p.workdir / "data"))
    # The prompt starts like an option; the fake CLI runs it as shell (the first word fails), then
    # prints the arguments it got.
    prompt = '--help; print_args "$@"'
    args = [line.removeprefix("arg:") for line in raw_lines(run_task(p, handle, prompt, session_id="sess-1"))]
    assert args[0] == "--resume=sess-1"
    assert args[-2:] == ["--", prompt]
    assert args.index("--") == len(args) - 2


def test_no_server_secret_reaches_the_cli(proxy):
    secrets = {
        "NVIDIA_NIM_API_KEY": "nvapi-server-secret",
        "PROXY_AUTH_TOKEN": OPERATOR_TOKEN,
        "OPENROUTER_API_KEY": "sk-or-server-secret",
        "TELEGRAM_BOT_TOKEN": "123:telegram-secret",
        "SOME_SERVICE_TOKEN": "service-secret",
        "AWS_SECRET_ACCESS_KEY": "aws-secret",
        "RENAMED_COPY": "nvapi-server-secret",
    }
    p = proxy(env={**secrets, "HARMLESS_SETTING": "visible", "ANTHROPIC_BASE_URL": "http://evil.example"})
    manager = open_manager(p, p.workdir / "data", api_url="http://evil.example:1/v1")
    handle = new_session(p, manager)
    lines = raw_lines(run_task(p, handle, "env"))
    dump = "\n".join(lines)
    for name, value in secrets.items():
        assert value not in dump, name
    for name in ["NVIDIA_NIM_API_KEY", "PROXY_AUTH_TOKEN", "OPENROUTER_API_KEY", "TELEGRAM_BOT_TOKEN"]:
        assert not any(line.startswith(name + "=") for line in lines), name
    env = dict(line.split("=", 1) for line in lines if "=" in line)
    assert env["HARMLESS_SETTING"] == "visible"
    assert env["ANTHROPIC_API_KEY"] == env["ANTHROPIC_AUTH_TOKEN"] != OPERATOR_TOKEN
    # The client's api_url and the server's own ANTHROPIC_BASE_URL are ignored: the CLI calls this server.
    assert env["ANTHROPIC_BASE_URL"] == f"http://127.0.0.1:{p.port}"
    assert env["ANTHROPIC_API_URL"] == f"http://127.0.0.1:{p.port}/v1"


def test_max_cli_sessions_caps_every_manager_together(proxy):
    p = proxy(env={**AUTH, "MAX_CLI_SESSIONS": "2"})
    data = p.workdir / "data"
    (data / "other").mkdir(parents=True, exist_ok=True)
    a = open_manager(p, data, max_sessions=10)
    b = open_manager(p, data / "other", max_sessions=10)
    assert a != b
    assert post(p, a + "/get_stats").json()["result"]["max_sessions"] == 2
    new_session(p, a)
    handle = new_session(p, b)
    assert raw_lines(run_task(p, handle, "echo ran")) == ["ran"]
    for manager in (a, b):
        r = post(p, manager + "/get_or_create_session", {})
        assert r.status_code == 429
        assert error_of(r) == ("rate_limit_error", "Maximum concurrent sessions (2) reached.")
    assert post(p, "/stop").status_code == 200
    # /stop ended every session; new ones may start.
    new_session(p, a)
