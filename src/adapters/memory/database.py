"""A tiny transactional store: committed tables plus a per-transaction overlay of pending writes.
Objects are copied in and out, so a caller must `update()` to change anything, as with a real database."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any


class InMemoryDatabase:
    def __init__(self) -> None:
        self.tables: dict[str, dict[Any, Any]] = {}

    def table(self, name: str) -> dict[Any, Any]:
        return self.tables.setdefault(name, {})


class Transaction:
    """Pending writes of one unit of work; applied to the database on commit, dropped on rollback."""

    def __init__(self, db: InMemoryDatabase) -> None:
        self.db = db
        self.pending: dict[str, dict[Any, Any]] = {}
        self.commit_checks: list[Callable[[], None]] = []

    def put(self, table: str, key: Any, obj: Any) -> None:
        self.pending.setdefault(table, {})[key] = copy.deepcopy(obj)

    def get(self, table: str, key: Any) -> Any:
        obj = self.pending.get(table, {}).get(key)
        if obj is None:
            obj = self.db.table(table).get(key)
        return copy.deepcopy(obj)

    def rows(self, table: str) -> Iterator[Any]:
        merged = {**self.db.table(table), **self.pending.get(table, {})}
        for obj in merged.values():
            yield copy.deepcopy(obj)

    def commit(self) -> None:
        for check in self.commit_checks:
            check()
        for table, rows in self.pending.items():
            self.db.table(table).update(rows)
        self.pending.clear()

    def rollback(self) -> None:
        self.pending.clear()


class TableView:
    """Base of the in-memory repositories: one table seen through the current transaction."""

    table: str

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def _put(self, key: Any, obj: Any) -> None:
        self._tx.put(self.table, key, obj)

    def _get(self, key: Any) -> Any:
        return self._tx.get(self.table, key)

    def _rows(self) -> Iterator[Any]:
        return self._tx.rows(self.table)
