"""The embedded default mailer: each message becomes an .eml file (open it in any mail client)."""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

from adapters.email.message import build_mime
from application.shared.ports import EmailMessage

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class FileMailer:
    """Writes `<utc timestamp>-<message id>.eml` under `directory`, so a listing sorts by time. Files are
    readable by their owner only (mode 0600): the links in them sign people in.

    A file appears whole or not at all: it is written under a hidden temporary name in the same
    directory, flushed to disk, then renamed (an atomic step), and readers look only at `*.eml`."""

    def __init__(self, directory: Path, sender: str) -> None:
        self._directory = directory
        self._sender = sender

    async def send(self, message: EmailMessage) -> None:
        data = build_mime(message, self._sender).as_bytes()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        ident = _UNSAFE.sub("_", message.message_id) if message.message_id else uuid.uuid4().hex
        await asyncio.to_thread(self._write, f"{stamp}-{ident}.eml", data)

    def _write(self, name: str, data: bytes) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=self._directory, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, self._directory / name)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
