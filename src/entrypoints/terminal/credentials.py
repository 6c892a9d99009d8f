"""Where `parley chat` keeps what lets it sign in again without a password: one refresh token per server, in
`$XDG_CONFIG_HOME/parley/credentials.json` (else `~/.config/parley/`), readable by the user alone (0600, in a
0700 folder). Refresh tokens rotate: each use stores the new one."""

from __future__ import annotations

import json
import os
from pathlib import Path


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "parley"


class CredentialStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_dir() / "credentials.json"

    def refresh_token(self, server: str) -> str | None:
        token = self._read().get(server)
        return token if isinstance(token, str) else None

    def save(self, server: str, refresh_token: str | None) -> None:
        """Keep `refresh_token` for `server` (None forgets it)."""
        tokens = self._read()
        if refresh_token is None:
            tokens.pop(server, None)
        else:
            tokens[server] = refresh_token
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(tokens, file)
        os.chmod(temporary, 0o600)
        temporary.replace(self.path)

    def _read(self) -> dict[str, object]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}
