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

    await archive.write_day(FactKind.MESSAGE_REPLIED, DAY, [*reversed(facts), sparse])

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
    await archive.write_day(FactKind.PAYMENT_SUCCEEDED, DAY, first)
    second = [*first[:1], FactFactory.of(FactKind.PAYMENT_SUCCEEDED, T0 + timedelta(hours=5))]

    await archive.write_day(FactKind.PAYMENT_SUCCEEDED, DAY, second)

    assert rows(list(await archive.read_day(FactKind.PAYMENT_SUCCEEDED, DAY))) == rows(second)
    assert files_under(archive, FactKind.PAYMENT_SUCCEEDED, DAY) == [FILE_NAME]


async def test_a_day_written_empty_goes_and_days_are_listed_oldest_first(archive: ParquetArchive) -> None:
    kind = FactKind.USER_SIGNED_UP
    for offset in (2, 0, 1):
        await archive.write_day(kind, DAY + timedelta(days=offset), [FactFactory.of(kind, T0 + timedelta(days=offset))])
    assert await archive.days(kind) == [DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)]
    assert await archive.days(FactKind.USER_VERIFIED) == []
    assert archive.kinds_with_files() == {kind}

    await archive.write_day(kind, DAY + timedelta(days=1), [])

    assert await archive.days(kind) == [DAY, DAY + timedelta(days=2)]
    assert await archive.read_day(kind, DAY + timedelta(days=1)) == []


async def test_a_kinds_files_read_as_one_hive_partitioned_relation(archive: ParquetArchive) -> None:
    kind = FactKind.SUBSCRIPTION_STARTED
    await archive.write_day(kind, DAY, [FactFactory.of(kind, T0), FactFactory.of(kind, T0 + timedelta(hours=2))])
    await archive.write_day(kind, DAY + timedelta(days=1), [FactFactory.of(kind, T0 + timedelta(days=1))])

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
    for offset in range(3):
        moment = T0 + timedelta(days=offset, hours=1)
        await archive.write_day(
            FactKind.MESSAGE_REPLIED,
            DAY + timedelta(days=offset),
            [FactFactory.of(FactKind.MESSAGE_REPLIED, moment, cached=False, error=None, finish_reason="stop")],
        )
        await archive.write_day(
            FactKind.USER_SIGNED_UP, DAY + timedelta(days=offset), [FactFactory.of(FactKind.USER_SIGNED_UP, moment)]
        )
    started = FactFactory.of(FactKind.SUBSCRIPTION_STARTED, T0 + timedelta(hours=2), price_cents=2000, status="active")
    await archive.write_day(FactKind.SUBSCRIPTION_STARTED, DAY, [started])

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
