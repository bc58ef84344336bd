"""Client for the nim-proxy bot API.

Drop-in stand-ins for the in-process classes a Telegram bot of free-claude-code uses:
``cli.manager.CLISessionManager``, ``cli.session.CLISession`` and
``messaging.session.SessionStore``. Same names, constructor keywords, method names, arguments,
return values, and sync/async split; the state lives in the server, so several client objects built
with the same arguments see the same data. Extra keywords: ``base_url`` and ``auth_token`` (the
server's ``PROXY_AUTH_TOKEN``, without which its bot API answers 403), defaulting to the
``NIM_PROXY_URL`` and ``NIM_PROXY_TOKEN`` environment variables.

Wire format: docs/bot-api.md.
"""

from __future__ import annotations

import json
import os
from typing import Any, AsyncGenerator, Dict, List, Optional, Tuple

import httpx

__all__ = ["CLISessionManager", "CLISession", "SessionStore", "BotAPIError"]

DEFAULT_BASE_URL = "http://127.0.0.1:8082"

# Calls that stop processes wait for them (up to the server's SIGKILL grace, 5 s), so the timeout
# leaves room for that.
_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class BotAPIError(RuntimeError):
    """An error answer of the server (Anthropic error shape), with its status and type."""

    def __init__(self, status: int, error_type: str, message: str):
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


def _base(base_url: Optional[str]) -> str:
    return (base_url or os.environ.get("NIM_PROXY_URL") or DEFAULT_BASE_URL).rstrip("/")


def _headers(auth_token: Optional[str]) -> Dict[str, str]:
    token = auth_token if auth_token is not None else os.environ.get("NIM_PROXY_TOKEN")
    return {"x-api-key": token} if token else {}


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    error_type, message = "api_error", response.text
    try:
        body = response.json()
        error_type = body["error"]["type"]
        message = body["error"]["message"]
    except Exception:
        pass
    raise BotAPIError(response.status_code, error_type, message)


def _result(response: httpx.Response) -> Any:
    _raise_for(response)
    return response.json().get("result")


class _Endpoint:
    """Sync and async JSON calls against one base URL."""

    def __init__(self, base_url: Optional[str], auth_token: Optional[str]):
        self.base_url = _base(base_url)
        self.headers = _headers(auth_token)

    def post(self, path: str, args: Optional[dict] = None) -> httpx.Response:
        with httpx.Client(timeout=_TIMEOUT, headers=self.headers) as client:
            return client.post(self.base_url + path, json=args or {})

    def get(self, path: str) -> httpx.Response:
        with httpx.Client(timeout=_TIMEOUT, headers=self.headers) as client:
            return client.get(self.base_url + path)

    async def apost(self, path: str, args: Optional[dict] = None) -> httpx.Response:
        async with httpx.AsyncClient(timeout=_TIMEOUT, headers=self.headers) as client:
            return await client.post(self.base_url + path, json=args or {})


# ============================================================================ SessionStore


class SessionStore:
    """``messaging.session.SessionStore`` kept by the server (in ``<CLAUDE_WORKSPACE>/sessions.json``).

    Methods are synchronous, as in the reference (the bot calls them without ``await``).
    ``storage_path`` is accepted for compatibility and ignored: the server owns the file.
    """

    def __init__(
        self,
        storage_path: str = "sessions.json",
        *,
        base_url: Optional[str] = None,
        auth_token: Optional[str] = None,
    ):
        self.storage_path = storage_path
        self._api = _Endpoint(base_url, auth_token)

    def _call(self, method: str, **args: Any) -> Any:
        return _result(self._api.post("/store/" + method, args))

    def flush_pending_save(self) -> None:
        self._call("flush_pending_save")

    def record_message_id(
        self, platform: str, chat_id: str, message_id: str, direction: str, kind: str
    ) -> None:
        if message_id is None:
            return
        self._call(
            "record_message_id",
            platform=platform,
            chat_id=chat_id,
            message_id=message_id,
            direction=direction,
            kind=kind,
        )

    def get_message_ids_for_chat(self, platform: str, chat_id: str) -> List[str]:
        return self._call("get_message_ids_for_chat", platform=platform, chat_id=chat_id)

    def clear_all(self) -> None:
        self._call("clear_all")

    def save_tree(self, root_id: str, tree_data: dict) -> None:
        self._call("save_tree", root_id=root_id, tree_data=tree_data)

    def get_tree(self, root_id: str) -> Optional[dict]:
        return self._call("get_tree", root_id=root_id)

    def get_tree_root_for_node(self, node_id: str) -> Optional[str]:
        return self._call("get_tree_root_for_node", node_id=node_id)

    def register_node(self, node_id: str, root_id: str) -> None:
        self._call("register_node", node_id=node_id, root_id=root_id)

    def get_all_trees(self) -> Dict[str, dict]:
        return self._call("get_all_trees")

    def get_node_mapping(self) -> Dict[str, str]:
        return self._call("get_node_mapping")

    def sync_from_tree_data(self, trees: Dict[str, dict], node_to_tree: Dict[str, str]) -> None:
        self._call("sync_from_tree_data", trees=trees, node_to_tree=node_to_tree)

    def cleanup_old_trees(self, max_age_days: int = 30) -> int:
        return self._call("cleanup_old_trees", max_age_days=max_age_days)


# ============================================================================ CLI sessions


class CLISession:
    """``cli.session.CLISession``: a handle on a session the server's manager created.

    Obtain one from ``CLISessionManager.get_or_create_session``.
    """

    def __init__(self, handle: str, *, base_url: Optional[str] = None, auth_token: Optional[str] = None):
        self.handle = handle
        self._api = _Endpoint(base_url, auth_token)

    def __repr__(self) -> str:
        return f"CLISession({self.handle!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CLISession) and other.handle == self.handle

    def __hash__(self) -> int:
        return hash(self.handle)

    def _describe(self) -> Optional[dict]:
        """The server's view of the session, or None once the server has dropped it (after
        `remove_session` or `stop_all`, when no task runs), as the reference's object outlives
        its manager entry and then simply runs nothing."""
        try:
            described = _result(self._api.get(f"/cli/sessions/{self.handle}"))
        except BotAPIError as error:
            if error.status == 404:
                return None
            raise
        self._last_session_id = described["current_session_id"]
        return described

    @property
    def is_busy(self) -> bool:
        """Check if a task is currently running."""
        described = self._describe()
        return bool(described["is_busy"]) if described is not None else False

    @property
    def current_session_id(self) -> Optional[str]:
        described = self._describe()
        return described["current_session_id"] if described is not None else getattr(self, "_last_session_id", None)

    async def start_task(
        self, prompt: str, session_id: Optional[str] = None, fork_session: bool = False
    ) -> AsyncGenerator[dict, None]:
        """Run the CLI and yield its events, ending with ``{"type": "exit", ...}``.

        Closing or cancelling the generator disconnects, which stops the CLI on the server.
        """
        body = {"prompt": prompt, "session_id": session_id, "fork_session": bool(fork_session)}
        url = f"{self._api.base_url}/cli/sessions/{self.handle}/start_task"
        timeout = httpx.Timeout(None, connect=10.0)
        async with httpx.AsyncClient(timeout=timeout, headers=self._api.headers) as client:
            async with client.stream("POST", url, json=body) as response:
                if response.status_code >= 400:
                    await response.aread()
                    _raise_for(response)
                async for line in response.aiter_lines():
                    if line.strip():
                        yield json.loads(line)

    async def stop(self) -> bool:
        """Stop the running CLI process; False when none was running."""
        return bool(_result(await self._api.apost(f"/cli/sessions/{self.handle}/stop")))


class CLISessionManager:
    """``cli.manager.CLISessionManager`` run by the server.

    Managers built with the same ``workspace_path``, ``api_url``, ``allowed_dirs`` and
    ``max_sessions`` are the same server-side manager.
    """

    def __init__(
        self,
        workspace_path: str,
        api_url: str,
        allowed_dirs: Optional[List[str]] = None,
        max_sessions: int = 10,
        *,
        base_url: Optional[str] = None,
        auth_token: Optional[str] = None,
    ):
        self.workspace = workspace_path
        self.api_url = api_url
        self.allowed_dirs = allowed_dirs or []
        self.max_sessions = max_sessions
        self._base_url = base_url
        self._auth_token = auth_token
        self._api = _Endpoint(base_url, auth_token)
        self._manager_id: Optional[str] = None

    def _config(self) -> dict:
        return {
            "workspace_path": self.workspace,
            "api_url": self.api_url,
            "allowed_dirs": list(self.allowed_dirs),
            "max_sessions": self.max_sessions,
        }

    def _open(self) -> str:
        result = _result(self._api.post("/cli/managers", self._config()))
        self._manager_id = result["manager_id"]
        return self._manager_id

    def _path(self, method: str) -> str:
        return f"/cli/managers/{self._manager_id or self._open()}/{method}"

    def _reopen_needed(self, response: httpx.Response) -> bool:
        # The server forgets managers when it restarts; the id is stable, re-opening restores it.
        return response.status_code == 404 and "/cli/managers" in response.text

    def _call(self, method: str, **args: Any) -> Any:
        response = self._api.post(self._path(method), args)
        if self._reopen_needed(response):
            self._open()
            response = self._api.post(self._path(method), args)
        return _result(response)

    async def _aopen(self) -> str:
        result = _result(await self._api.apost("/cli/managers", self._config()))
        self._manager_id = result["manager_id"]
        return self._manager_id

    async def _acall(self, method: str, **args: Any) -> Any:
        if self._manager_id is None:
            await self._aopen()
        response = await self._api.apost(self._path(method), args)
        if self._reopen_needed(response):
            await self._aopen()
            response = await self._api.apost(self._path(method), args)
        return _result(response)

    def _session(self, handle: str) -> CLISession:
        return CLISession(handle, base_url=self._base_url, auth_token=self._auth_token)

    async def get_or_create_session(
        self, session_id: Optional[str] = None
    ) -> Tuple[CLISession, str, bool]:
        """Returns (CLISession, session_id, is_new_session); RuntimeError at the session limit."""
        try:
            result = await self._acall("get_or_create_session", session_id=session_id)
        except BotAPIError as e:
            if e.status == 429:
                raise RuntimeError(e.message) from None
            raise
        return self._session(result["session_handle"]), result["session_id"], result["is_new"]

    async def register_real_session_id(self, temp_id: str, real_session_id: str) -> bool:
        return bool(
            await self._acall("register_real_session_id", temp_id=temp_id, real_session_id=real_session_id)
        )

    async def get_real_session_id(self, temp_id: str) -> Optional[str]:
        return await self._acall("get_real_session_id", temp_id=temp_id)

    async def remove_session(self, session_id: str) -> bool:
        return bool(await self._acall("remove_session", session_id=session_id))

    async def stop_all(self) -> None:
        await self._acall("stop_all")

    def get_stats(self) -> Dict:
        return self._call("get_stats")


async def stop(base_url: Optional[str] = None, auth_token: Optional[str] = None) -> dict:
    """``POST /stop``: stop every CLI session of the server."""
    api = _Endpoint(base_url, auth_token)
    response = await api.apost("/stop")
    _raise_for(response)
    return response.json()
