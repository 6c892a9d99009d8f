"""One suite for the fact archive (date-partitioned Parquet), run against a local directory and an S3
bucket on a local S3 server: a day reads back with every field, from the documented path and with exactly
the kind's columns; writing a day again replaces it (and leaves nothing else behind); a day written empty
goes; the kind's files read as one hive-partitioned relation with `kind` and `date` from the path; the
rollups of the complete days are written beside them and read back through the manifest."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from adapters.analytics.archive import FILE_NAME, LocalParquetArchive, ParquetArchive, S3ParquetArchive, s3_filesystem
from adapters.analytics.schema import columns, relation_name
from application.shared.facts import Fact, FactKind
from tests.factories.facts import T0, FactFactory

DAY = T0.date()
TYPE_NAMES = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}  # how DESCRIBE spells it


@pytest.fixture(params=["local", "s3"])
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> ParquetArchive:
    if request.param == "local":
        return LocalParquetArchive(tmp_path / "analytics")
    url: str = request.getfixturevalue("s3_bucket_url")
    return S3ParquetArchive(url, s3_filesystem(request.getfixturevalue("s3_endpoint")))


async def write_day(archive: ParquetArchive, day: date, *pages: list[Fact]) -> None:
    """Write `day` again from `pages` of facts (any kinds), as the export does."""
    async with archive.rewrite_day(day) as files:
        for page in pages:
            await files.add(page)
        await files.publish()


def rows(facts: list[Fact]) -> list[dict[str, object]]:
    return [fact.row() for fact in facts]


def files_under(archive: ParquetArchive, kind: FactKind, day: date) -> list[str]:
    folder = archive.day_path(kind, day).rsplit("/", 1)[0]
    if isinstance(archive, LocalParquetArchive):
        return sorted(path.name for path in Path(folder).iterdir())
    return sorted(key.rsplit("/", 1)[-1] for key in archive._fs.find(folder))


async def test_a_day_reads_back_with_every_field_from_its_hive_path(archive: ParquetArchive) -> None:
    facts = [FactFactory.of(FactKind.MESSAGE_REPLIED, T0 + timedelta(minutes=minute)) for minute in range(3)]
    sparse = FactFactory.build(kind=FactKind.MESSAGE_REPLIED, occurred_at=T0 + timedelta(hours=1), user_id=None)

    await write_day(archive, DAY, [facts[2], sparse], [facts[0]], [facts[1]])  # pages in no particular order

    assert rows(list(await archive.read_day(FactKind.MESSAGE_REPLIED, DAY))) == rows([*facts, sparse])
    assert archive.day_path(FactKind.MESSAGE_REPLIED, DAY) == (
        f"{archive.root}/kind=message_replied/date=2026-03-01/{FILE_NAME}"
    )
    described = archive.connect().execute(
        f"DESCRIBE SELECT * FROM read_parquet('{archive.day_path(FactKind.MESSAGE_REPLIED, DAY)}', "
        "hive_partitioning = false)"
    )
    expected = [
        (name, TYPE_NAMES.get(column_type, column_type)) for name, column_type in columns(FactKind.MESSAGE_REPLIED)
    ]
    assert [(name, column_type) for name, column_type, *_ in described.fetchall()] == expected


async def test_writing_a_day_again_replaces_it(archive: ParquetArchive) -> None:
    first = [FactFactory.of(FactKind.PAYMENT_SUCCEEDED, T0 + timedelta(hours=hour)) for hour in range(3)]
    await write_day(archive, DAY, first)
    second = [*first[:1], FactFactory.of(FactKind.PAYMENT_SUCCEEDED, T0 + timedelta(hours=5))]

    await write_day(archive, DAY, second)

    assert rows(list(await archive.read_day(FactKind.PAYMENT_SUCCEEDED, DAY))) == rows(second)
    assert files_under(archive, FactKind.PAYMENT_SUCCEEDED, DAY) == [FILE_NAME]


async def test_a_day_written_empty_goes_and_days_are_listed_oldest_first(archive: ParquetArchive) -> None:
    kind = FactKind.USER_SIGNED_UP
    for offset in (2, 0, 1):
        await write_day(archive, DAY + timedelta(days=offset), [FactFactory.of(kind, T0 + timedelta(days=offset))])
    assert await archive.days(kind) == [DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)]
    assert await archive.days(FactKind.USER_VERIFIED) == []
    assert archive.kinds_with_files() == {kind}

    await write_day(archive, DAY + timedelta(days=1))

    assert await archive.days(kind) == [DAY, DAY + timedelta(days=2)]
    assert await archive.read_day(kind, DAY + timedelta(days=1)) == []


async def test_a_day_written_from_pages_of_several_kinds_replaces_every_kinds_file(archive: ParquetArchive) -> None:
    signed_up = [FactFactory.of(FactKind.USER_SIGNED_UP, T0 + timedelta(minutes=minute)) for minute in range(4)]
    paid = [FactFactory.of(FactKind.PAYMENT_SUCCEEDED, T0 + timedelta(minutes=minute)) for minute in range(3)]
    await write_day(archive, DAY, [paid[0]])

    await write_day(archive, DAY, [signed_up[3], signed_up[0]], [signed_up[1]], [signed_up[2]])

    assert rows(list(await archive.read_day(FactKind.USER_SIGNED_UP, DAY))) == rows(signed_up)
    assert await archive.read_day(FactKind.PAYMENT_SUCCEEDED, DAY) == []  # none this time: its file went
    assert archive.kinds_with_files() == {FactKind.USER_SIGNED_UP}


async def test_a_day_left_without_publishing_keeps_its_files_and_leaves_nothing_behind(archive: ParquetArchive) -> None:
    kept = [FactFactory.of(FactKind.PAYMENT_SUCCEEDED, T0)]
    await write_day(archive, DAY, kept)

    with pytest.raises(RuntimeError, match="the database went away"):
        async with archive.rewrite_day(DAY) as files:
            await files.add([FactFactory.of(FactKind.PAYMENT_SUCCEEDED, T0 + timedelta(hours=1))])
            raise RuntimeError("the database went away")

    assert rows(list(await archive.read_day(FactKind.PAYMENT_SUCCEEDED, DAY))) == rows(kept)
    assert files_under(archive, FactKind.PAYMENT_SUCCEEDED, DAY) == [FILE_NAME]
    assert archive._connection.execute("SELECT count(*) FROM duckdb_tables()").fetchone() == (0,)  # staging dropped


async def test_a_kinds_files_read_as_one_hive_partitioned_relation(archive: ParquetArchive) -> None:
    kind = FactKind.SUBSCRIPTION_STARTED
    await write_day(archive, DAY, [FactFactory.of(kind, T0), FactFactory.of(kind, T0 + timedelta(hours=2))])
    await write_day(archive, DAY + timedelta(days=1), [FactFactory.of(kind, T0 + timedelta(days=1))])

    found = (
        archive.connect()
        .execute(
            f"SELECT kind, date, count(*) FROM read_parquet('{archive.kind_glob(kind)}', hive_partitioning = true) "
            "GROUP BY ALL ORDER BY date"
        )
        .fetchall()
    )

    assert found == [(relation_name(kind), DAY, 2), (relation_name(kind), DAY + timedelta(days=1), 1)]


async def test_the_rollups_of_complete_days_are_written_beside_the_facts_and_read_back(archive: ParquetArchive) -> None:
    assert archive.rollups() is None  # nothing rolled up yet
    started = FactFactory.of(FactKind.SUBSCRIPTION_STARTED, T0 + timedelta(hours=2), price_cents=2000, status="active")
    for offset in range(3):
        moment = T0 + timedelta(days=offset, hours=1)
        replied = FactFactory.of(FactKind.MESSAGE_REPLIED, moment, cached=False, error=None, finish_reason="stop")
        signed_up = FactFactory.of(FactKind.USER_SIGNED_UP, moment)
        await write_day(archive, DAY + timedelta(days=offset), [replied, signed_up], [started] if offset == 0 else [])

    await archive.roll_up(DAY + timedelta(days=2), None)  # the third day is not complete

    rollups = archive.rollups()
    assert rollups is not None and rollups.before == DAY + timedelta(days=2)
    assert {"messages", "latency_day", "active_recent"} <= rollups.present
    stats = archive.connect().execute(
        f"SELECT date, sum(messages) FROM read_parquet('{archive.rollup_glob('messages')}', hive_partitioning = true) "
        "GROUP BY ALL ORDER BY date"
    )
    assert stats.fetchall() == [(DAY, 1), (DAY + timedelta(days=1), 1)]
    assert "mrr" in rollups.present and rollups.mrr is not None  # the subscription's state is open at the frontier
    opened = archive.connect().execute(f"SELECT part, price_cents FROM read_parquet('{rollups.mrr['open']}')")
    assert sorted(opened.fetchall(), key=str) == [("island", None), ("state", 2000)]
    await archive.roll_up(DAY + timedelta(days=2), None)  # again: nothing changes
    assert archive.rollups() == rollups
