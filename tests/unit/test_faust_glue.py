"""The two faust internals the demand processor leans on (services/demand/faust_glue.py):
a faust upgrade that moves them fails here, not in production."""

from __future__ import annotations

from types import SimpleNamespace

import faust
from faust.streams import current_event
from faust.transport.consumer import ThreadDelegateConsumer

from services.demand.faust_glue import TableWriter


def test_a_table_record_is_written_on_the_partition_asked_for_and_nothing_stays_current():
    app = faust.App("glue-test", broker="kafka://127.0.0.1:1", store="memory://",
                    autodiscover=False)
    table = app.Table("t", partitions=6, default=None)
    sent: list[tuple[int, str, object]] = []

    def send_changelog(partition, key, value, **_kwargs):
        sent.append((partition, key, value))
        return SimpleNamespace(message=SimpleNamespace(partition=partition))

    table.send_changelog = send_changelog
    TableWriter(table, "sales.tickets").write(4, {"sold/a/2026-12-01": {"u": 1}, "gone": None})
    assert sent == [(4, "sold/a/2026-12-01", {"u": 1})]  # a key never written: no tombstone
    assert table["sold/a/2026-12-01"] == {"u": 1}
    assert current_event() is None


def test_faust_still_commits_offsets_through_its_consumer_thread():
    assert callable(ThreadDelegateConsumer._commit)  # noqa: SLF001
