"""Calls of the bot API for the black-box tests (plain httpx, no client library): open a manager,
get a session, run a task of the fake CLI and collect its NDJSON events."""

import json

import httpx

OPERATOR_TOKEN = "operator-token-for-tests"


def post(proxy, path: str, args: dict | None = None, token: str | None = OPERATOR_TOKEN,
         headers: dict | None = None) -> httpx.Response:
    h = {"x-api-key": token} if token else {}
    h.update(headers or {})
    return httpx.post(proxy.base + path, json=args or {}, headers=h, timeout=30)


def error_of(response: httpx.Response) -> tuple[str, str]:
    body = response.json()
    assert body["type"] == "error", body
    return body["error"]["type"], body["error"]["message"]


def open_manager(proxy, workspace, **args) -> str:
    body = {"workspace_path": str(workspace), "api_url": "http://127.0.0.1:9/v1", "allowed_dirs": []}
    body.update(args)
    r = post(proxy, "/cli/managers", body)
    assert r.status_code == 200, r.text
    return "/cli/managers/" + r.json()["result"]["manager_id"]


def new_session(proxy, manager: str, session_id: str | None = None) -> str:
    r = post(proxy, manager + "/get_or_create_session", {"session_id": session_id})
    assert r.status_code == 200, r.text
    return r.json()["result"]["session_handle"]


def run_task(proxy, handle: str, prompt: str, session_id: str | None = None) -> list:
    """Runs one task to its end; returns its events."""
    r = post(proxy, f"/cli/sessions/{handle}/start_task", {"prompt": prompt, "session_id": session_id})
    assert r.status_code == 200, r.text
    return [json.loads(line) for line in r.text.splitlines() if line.strip()]


def raw_lines(events: list) -> list:
    """What the fake CLI printed that is not JSON (its arguments, its environment)."""
    return [e["content"] for e in events if e.get("type") == "raw"]
