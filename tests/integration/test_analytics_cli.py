"""`parley analytics export` as an operator runs it (main() in this process, configured by the environment):
the days asked for are written under PARLEY_ANALYTICS_DIR, each listed with its count; a bad date or range is
refused with a clear message and exit code 2, and writes nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.sql.engine import create_engine, create_session_factory
from adapters.sql.unit_of_work import SqlUnitOfWork
from application.shared.facts import FactKind
from entrypoints.cli import main
from tests.factories.facts import FactFactory

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def configured(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environment of an operator's shell: the database, a var dir, no schedule; the analytics dir."""
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "PARLEY_DATABASE_URL": database_url,
        "PARLEY_VAR_DIR": str(tmp_path / "var"),
        "PARLEY_ANALYTICS_DIR": str(tmp_path / "exports"),
    }.items():
        monkeypatch.setenv(name, value)
    return tmp_path / "exports"


def record(database_url: str, count_per_day: int, days: int) -> None:
    async def run() -> None:
        engine = create_engine(database_url)
        sessions = create_session_factory(engine)
        try:
            async with SqlUnitOfWork(sessions) as uow:
                for day in range(days):
                    for index in range(count_per_day):
                        at = T0 + timedelta(days=day, minutes=index)
                        await uow.facts.record(FactFactory.of(FactKind.MESSAGE_REPLIED, at))
                await uow.commit()
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_export_writes_the_days_asked_for(
    configured: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    record(database_url, count_per_day=3, days=3)

    assert main(["analytics", "export", "--from", "2026-03-01", "--to", "2026-03-02"]) == 0

    out = capsys.readouterr().out
    assert out.splitlines() == ["2026-03-01\t3 facts", "2026-03-02\t3 facts"]
    written = sorted(str(path.relative_to(configured)) for path in configured.rglob("*.parquet"))
    assert [path for path in written if path.startswith("kind=")] == [
        "kind=message_replied/date=2026-03-01/part-0.parquet",
        "kind=message_replied/date=2026-03-02/part-0.parquet",
    ]
    # Both days are complete: their rollups are written beside them, and nothing else is.
    assert "rollup=messages/date=2026-03-02/part-0.parquet" in written
    assert all(path.startswith(("kind=", "rollup=")) for path in written)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--from", "2026-13-01", "--to", "2026-03-02"], "argument --from: not a date: '2026-13-01'"),
        (["--from", "2026-03-01", "--to", "yesterday"], "argument --to: not a date: 'yesterday'"),
        (["--from", "2026-03-02", "--to", "2026-03-01"], "--from must not be after --to"),
        (["--to", "2026-03-01"], "--to needs --from"),
    ],
)
def test_a_bad_date_or_range_is_refused_with_exit_code_2(
    configured: Path, arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["analytics", "export", *arguments])

    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not configured.exists()
