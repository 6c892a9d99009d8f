"""The common-password denylist shipped with the package (30,000 entries, from zxcvbn's MIT-licensed
frequency lists; see common_passwords.LICENSE)."""

from __future__ import annotations

from importlib.resources import files


class FilePasswordDenylist:
    def __init__(self, words: frozenset[str]) -> None:
        self._words = words

    @classmethod
    def bundled(cls) -> FilePasswordDenylist:
        text = files("adapters.security").joinpath("common_passwords.txt").read_text(encoding="utf-8")
        return cls(frozenset(line.strip().lower() for line in text.splitlines() if line.strip()))

    def __contains__(self, password: object) -> bool:
        return isinstance(password, str) and password.lower() in self._words

    def __len__(self) -> int:
        return len(self._words)
