"""Parley's HTTP API as the terminal client uses it: signing in (an API key, a kept refresh token, or an email
and password), one streamed chat turn as a sequence of SSE events, the models and the usage. Nothing here
touches a database: it is a client like any other."""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from entrypoints.terminal.credentials import CredentialStore


class ApiError(Exception):
    """An answer other than success: its status and the problem's detail (or title)."""

    def __init__(self, status: int, detail: str, retry_after: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after

    @classmethod
    def of(cls, response: httpx.Response) -> ApiError:
        try:
            body = response.json()
        except ValueError:
            body = {}
        detail = (
            str(body.get("detail") or body.get("title") or response.reason_phrase) if isinstance(body, dict) else ""
        )
        return cls(response.status_code, detail, response.headers.get("retry-after"))


@dataclass(frozen=True, slots=True)
class Event:
    """One server-sent event of a chat reply: start, delta, done or error, with its decoded data."""

    name: str
    data: dict[str, Any]


class ParleyClient:
    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        credentials: CredentialStore | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = http or httpx.Client(base_url=self.url, timeout=httpx.Timeout(30.0, read=300.0))
        self._api_key = api_key
        self._credentials = credentials or CredentialStore()
        self._access: str | None = None

    # --- signing in ------------------------------------------------------------------------------------

    def ensure_signed_in(self, ask: Callable[[], tuple[str, str]]) -> None:
        """An API key is used as it is; else a kept refresh token is exchanged; else `ask` gives an email and
        a password to sign in with (and the session's refresh token is kept for next time)."""
        if self._api_key or self._access:
            return
        if self._refreshed():
            return
        email, password = ask()
        response = self._http.post("/api/auth/signin", json={"email": email, "password": password})
        if response.status_code != 200:
            raise ApiError.of(response)
        self._keep(response.json())

    def _refreshed(self) -> bool:
        token = self._credentials.refresh_token(self.url)
        if token is None:
            return False
        response = self._http.post("/api/auth/refresh", json={"refresh_token": token})
        if response.status_code != 200:
            self._credentials.save(self.url, None)
            return False
        self._keep(response.json())
        return True

    def _keep(self, tokens: dict[str, Any]) -> None:
        self._access = str(tokens["access_token"])
        self._credentials.save(self.url, str(tokens["refresh_token"]))

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key or self._access}"}

    # --- calls -------------------------------------------------------------------------------------

    def get(self, path: str) -> Any:
        response = self._http.get(path, headers=self._headers())
        if response.status_code == 401 and not self._api_key and self._refreshed():
            response = self._http.get(path, headers=self._headers())
        if response.status_code != 200:
            raise ApiError.of(response)
        return response.json()

    def chat(self, content: str, *, conversation_id: str | None, model: str | None) -> Generator[Event, None, None]:
        """The reply's events as they arrive. Closing the iterator early (Ctrl-C) closes the connection: the
        server then stores the partial reply and charges what was produced."""
        body: dict[str, Any] = {"content": content, "stream": True}
        if conversation_id:
            body["conversation_id"] = conversation_id
        if model:
            body["model"] = model
        for attempt in range(2):
            with self._http.stream("POST", "/api/chat", json=body, headers=self._headers()) as response:
                if response.status_code == 401 and attempt == 0 and not self._api_key and self._refreshed():
                    continue
                if response.status_code != 200:
                    response.read()
                    raise ApiError.of(response)
                yield from _events(response.iter_lines())
                return

    def close(self) -> None:
        self._http.close()


def _events(lines: Iterator[str]) -> Iterator[Event]:
    """Server-sent events from their lines: `event:` names it, `data:` lines hold its JSON, a blank line ends it."""
    name, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield Event(name, json.loads("\n".join(data)))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
