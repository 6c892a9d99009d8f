"""`parley chat`: chat from a terminal with any Parley server. Replies stream as they arrive; Ctrl-C cuts a
reply (the server keeps what was produced and charges for it) and, at the prompt, quits. Inside the prompt:
`/new` starts a new conversation, `/models` lists the models and which the plan allows, `/usage` shows the
period's quota, `/quit` leaves. With `--json`, each line read from standard input is one message and each reply
is printed as one JSON object, for scripts."""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from entrypoints.terminal.client import ApiError, ParleyClient

DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass
class ChatOptions:
    url: str | None
    model: str | None
    conversation: str | None
    json: bool


def run_chat(options: ChatOptions, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    url = options.url or os.environ.get("PARLEY_URL") or DEFAULT_URL
    client = ParleyClient(url, api_key=os.environ.get("PARLEY_API_KEY") or None)
    try:
        client.ensure_signed_in(_ask_credentials)
        session = _Session(client, options.model, options.conversation, stdout)
        return session.scripted(stdin) if options.json else session.interactive(input)
    except ApiError as error:
        print(f"error: {_described(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(file=stdout)
        return 130
    finally:
        client.close()


def _ask_credentials() -> tuple[str, str]:
    email = input("Email: ").strip()
    return email, getpass.getpass("Password: ")


class _Session:
    def __init__(self, client: ParleyClient, model: str | None, conversation: str | None, out: TextIO) -> None:
        self._client = client
        self._model = model
        self._conversation = conversation
        self._out = out

    def interactive(self, read: Callable[[str], str]) -> int:
        self._say(f"Parley at {self._client.url}. /new, /models, /usage, /quit; Ctrl-C cuts a reply.")
        while True:
            try:
                line = read("> ").strip()
            except EOFError:
                self._say("")
                return 0
            if not line:
                continue
            if line in ("/quit", "/exit"):
                return 0
            try:
                self._command(line) if line.startswith("/") else self._reply(line)
            except ApiError as error:
                self._say(f"error: {_described(error)}")

    def scripted(self, lines: TextIO) -> int:
        status = 0
        for line in lines:
            content = line.rstrip("\n")
            if not content.strip():
                continue
            try:
                self._out.write(json.dumps(self._collect(content)) + "\n")
            except ApiError as error:
                self._out.write(json.dumps({"error": {"status": error.status, "detail": error.detail}}) + "\n")
                status = 1
            self._out.flush()
        return status

    def _command(self, line: str) -> None:
        if line == "/new":
            self._conversation = None
            self._say("(a new conversation)")
        elif line == "/models":
            for model in self._client.get("/api/models")["items"]:
                allowed = "" if model["allowed"] else "  (not on your plan)"
                marker = "*" if model["id"] == self._model else " "
                self._say(f"{marker} {model['id']}  [{model['provider']}]{allowed}")
        elif line == "/usage":
            usage = self._client.get("/api/usage")
            self._say(
                f"{usage['plan']}: {usage['used']:,} of {usage['limit']:,} tokens used, "
                f"{usage['remaining']:,} left until {usage['period_end']}"
            )
        elif line.startswith("/model "):
            self._model = line.split(maxsplit=1)[1].strip()
            self._say(f"(model: {self._model})")
        else:
            self._say("commands: /new, /models, /model NAME, /usage, /quit")

    def _reply(self, content: str) -> None:
        events = self._client.chat(content, conversation_id=self._conversation, model=self._model)
        try:
            for event in events:
                if event.name == "start":
                    self._conversation = event.data["conversation_id"]
                elif event.name == "delta":
                    self._out.write(event.data["text"])
                    self._out.flush()
                elif event.name == "done":
                    quota = event.data["quota"]
                    cut = " (cut by max_tokens)" if event.data.get("finish_reason") == "length" else ""
                    self._say(f"\n[{quota['remaining']:,} tokens left{cut}]")
                elif event.name == "error":
                    self._say(f"\nerror: {event.data.get('detail') or event.data.get('title')}")
        except KeyboardInterrupt:
            events.close()  # closing the connection ends the reply; the server keeps and charges what was produced
            self._say("\n[cut]")

    def _collect(self, content: str) -> dict[str, object]:
        text: list[str] = []
        result: dict[str, object] = {}
        for event in self._client.chat(content, conversation_id=self._conversation, model=self._model):
            if event.name == "start":
                self._conversation = event.data["conversation_id"]
                result.update(conversation_id=self._conversation, model=event.data["model"])
            elif event.name == "delta":
                text.append(event.data["text"])
            elif event.name == "done":
                result.update(
                    usage=event.data["usage"], quota=event.data["quota"], finish_reason=event.data["finish_reason"]
                )
            elif event.name == "error":
                result["error"] = event.data
        result["content"] = "".join(text)
        return result

    def _say(self, text: str) -> None:
        self._out.write(text + "\n")
        self._out.flush()


def _described(error: ApiError) -> str:
    if error.status == 429 and error.retry_after:
        return f"{error.detail} (try again in {error.retry_after} s)"
    if error.status == 402:
        return f"{error.detail} (the period's quota is spent: /usage, or upgrade your plan)"
    return f"{error.detail} ({error.status})"
