"""A tiny transactional store: committed tables plus a per-transaction overlay of pending writes.
Objects are copied in and out, so a caller must `update()` to change anything, as with a real database."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

from domain.shared.errors import Conflict


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
        self.commit_actions: list[Callable[[], None]] = []

    def increment(self, table: str, key: Any, create: Callable[[], Any], change: Callable[[Any], None]) -> None:
        """At commit, `change` the committed row in place (or a `create`d one): a counter that concurrent
        transactions add to, as `SET n = n + 1` does in SQL, never a value written back from an earlier read."""

        def apply() -> None:
            rows = self.db.table(table)
            row = copy.deepcopy(rows[key]) if rows.get(key) is not None else create()
            if row is not None:  # None: nothing to count (the row is gone)
                change(row)
                rows[key] = row

        self.commit_actions.append(apply)

    def insert(self, table: str, key: Any, obj: Any) -> None:
        """`put` a new row: the commit fails with Conflict if the key is taken by then (a primary key)."""
        self.put(table, key, obj)

        def check() -> None:
            if self.db.table(table).get(key) is not None:
                raise Conflict()

        self.commit_checks.append(check)

    def put(self, table: str, key: Any, obj: Any) -> None:
        self.pending.setdefault(table, {})[key] = copy.deepcopy(obj)

    def get(self, table: str, key: Any) -> Any:
        obj = self.pending.get(table, {}).get(key)
        if obj is None:
            obj = self.db.table(table).get(key)
        return copy.deepcopy(obj)

    def rows(self, table: str) -> Iterator[Any]:
        for _key, obj in self.items(table):
            yield obj

    def items(self, table: str) -> Iterator[tuple[Any, Any]]:
        merged = {**self.db.table(table), **self.pending.get(table, {})}
        for key, obj in merged.items():
            yield key, copy.deepcopy(obj)

    def commit(self) -> None:
        for check in self.commit_checks:
            check()
        for table, rows in self.pending.items():
            self.db.table(table).update(rows)
        for action in self.commit_actions:
            action()
        self.rollback()

    def rollback(self) -> None:
        self.pending.clear()
        self.commit_checks.clear()
        self.commit_actions.clear()


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
