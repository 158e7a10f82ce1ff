"""The sales ingest stage's handler with fakes: submitted tickets built by hand go through the
handler its routes give each input topic, what it would publish is recorded, and what it writes
lands in fake output partitions, each record with the CloudEvents headers the real publisher
puts on it, which the memory rebuild (`records_from`) reads back. No broker, no real clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from services.bus.catalog import (
    REFUNDS,
    REFUNDS_SUBMITTED,
    SALES,
    SALES_SUBMITTED,
    UNMAPPED,
    Topic,
)
from services.bus.headers import CloudEvent, Headers
from services.bus.metrics import Metrics
from services.bus.runtime import Received, Reject
from services.events.catalog import TillCodeMapped, TillCodeUnmapped, code_key
from services.events.sales import (
    CodeKind,
    PaymentMethod,
    QuantityUnit,
    RefundLine,
    RefundPayment,
    SaleRefunded,
    ticket_id,
)
from services.sales import ingest as ingest_module
from services.sales.ingest import SalesIngest
from services.sales.intake import MAX_FUTURE, UPLOAD_WINDOW
from tests.support import sale
from tests.unit.fakes import FakePublisher, Sent

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
SHOP, TILL = "lyon-graine", "t1"  # tests.support.sale()'s shop and till
TOMATO = code_key(SHOP, CodeKind.PLU, "2001")  # the two lines of tests.support.sale()
BREAD = code_key(SHOP, CodeKind.EAN, "3760123450012")
DUPLICATES = "vivres_sales_duplicates_total"
FLAGGED = "vivres_sales_unmapped_codes_total"


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class Clock:
    """The injected clock: moves only when a test moves it."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


class FakeOutput:
    """The output partitions as raw records (headers, append timestamp), read as
    `records_from` reads them: from the first record stamped at or after `since_ms` on."""

    def __init__(self) -> None:
        self.held: dict[tuple[str, int], list[SimpleNamespace]] = {}
        self.reads: list[tuple[str, int, int | None]] = []

    def append(self, topic: str, partition: int, headers: Headers | None, *,
               timestamp_ms: int) -> None:
        held = self.held.setdefault((topic, partition), [])
        held.append(SimpleNamespace(topic=topic, partition=partition, offset=len(held),
                                    timestamp=timestamp_ms, key=None, value=b"",
                                    headers=headers))

    def ids(self, topic: Topic, partition: int) -> list[str]:
        """The ce_id of every record the partition holds, in order."""
        held = self.held.get((topic.name, partition), [])
        return [dict(record.headers)["ce_id"].decode() for record in held]

    async def records_from(self, settings, tp, *, since_ms: int | None = None):
        self.reads.append((tp.topic, tp.partition, since_ms))
        held = list(self.held.get((tp.topic, tp.partition), []))
        start = next((i for i, record in enumerate(held)
                      if since_ms is None or record.timestamp >= since_ms), len(held))
        for record in held[start:]:
            await asyncio.sleep(0)
            yield record


def written(event, *, correlation_id: str | None = None) -> Headers:
    """The headers the real publisher puts on a record of this event."""
    return CloudEvent(id=event.event_id, source=event.event_source, type=event.schema_name,
                      time=event.event_time,
                      correlation_id=correlation_id or event.event_id).to_headers()


class OutputPublisher(FakePublisher):
    """FakePublisher that also keeps each correlation id and appends what goes to an output
    topic to the fake output partition, stamped with the clock, as the broker would."""

    def __init__(self, output: FakeOutput | None = None, clock: Clock | None = None) -> None:
        super().__init__()
        self.output = output or FakeOutput()
        self.clock = clock or Clock()
        self.correlations: list[tuple[str, str, str | None]] = []

    async def enqueue(self, topic: Topic, event, *, correlation_id: str | None = None,
                      partition: int | None = None) -> None:
        await super().enqueue(topic, event, correlation_id=correlation_id, partition=partition)
        self.correlations.append((topic.name, event.event_id, correlation_id))
        if topic in (SALES, REFUNDS):
            self.output.append(topic.name, partition, written(event, correlation_id=correlation_id),
                               timestamp_ms=ms(self.clock()))


class FakeTable(dict):
    """A TableView as the handler uses it: `get` by code key, and `put` of what it published."""

    def put(self, event) -> None:
        self[event.code_key] = event


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def output(monkeypatch) -> FakeOutput:
    fake = FakeOutput()
    monkeypatch.setattr(ingest_module, "records_from", fake.records_from)
    return fake


@pytest.fixture
def publisher(output, clock) -> OutputPublisher:
    return OutputPublisher(output=output, clock=clock)


def make_ingest(publisher: OutputPublisher, *, mappings: dict | None = None,
                unmapped: FakeTable | None = None) -> SalesIngest:
    """One instance of the stage (a new one is a restart or another owner): its own metrics and
    memory, the clock and output partitions of the test."""
    platform = SimpleNamespace(settings=None, registry=None, publisher=publisher,
                               metrics=Metrics("sales-ingest"))
    return SalesIngest(platform, mappings if mappings is not None else {},
                       unmapped if unmapped is not None else FakeTable(), clock=publisher.clock)


@pytest.fixture
def ingest(publisher) -> SalesIngest:
    return make_ingest(publisher)


def mapped(key_code: str = "2001", kind: CodeKind = CodeKind.PLU) -> dict:
    mapping = TillCodeMapped(shop_id=SHOP, code=key_code, code_kind=kind, product_id="tomate",
                             mapped_at=T0 - timedelta(days=100))
    return {mapping.code_key: mapping}


def refund(number: int = 50, *, at: datetime | None = None,
           original: str = ticket_id(SHOP, TILL, 1)) -> SaleRefunded:
    lines = (RefundLine(line_number=1, product_code="2001", code_kind=CodeKind.PLU,
                        quantity=750, unit=QuantityUnit.GRAM, refunded_cents=72),)
    return SaleRefunded(refund_id=ticket_id(SHOP, TILL, number), shop_id=SHOP, till_id=TILL,
                        ticket_number=number, occurred_at=at or T0 - timedelta(hours=1),
                        timezone="Europe/Paris", original_ticket_id=original, reason="abîmé",
                        lines=lines,
                        payments=(RefundPayment(method=PaymentMethod.CASH, amount_cents=72),))


def ticket(number: int, *, at: datetime | None = None):
    """A valid ticket of tests.support.sale(), an hour before T0 unless told."""
    return sale(SHOP, number, till_id=TILL, at=at or T0 - timedelta(hours=1))


async def submit(service: SalesIngest, event, *, partition: int = 0, offset: int = 0,
                 correlation_id: str | None = None) -> None:
    """The record through the handler the service routes its submitted topic to, with the
    CloudEvents metadata the runtime decodes from its headers (None: it had none)."""
    topic = REFUNDS_SUBMITTED if isinstance(event, SaleRefunded) else SALES_SUBMITTED
    [handler] = [route.handler for route in service.routes() if route.topic is topic]
    meta = (CloudEvent.from_headers(written(event, correlation_id=correlation_id))
            if correlation_id else None)
    await handler(Received(event=event, key=topic.key_of(event), meta=meta, topic=topic.name,
                           partition=partition, offset=offset, timestamp_ms=ms(T0)))


def sent_tickets(publisher: FakePublisher) -> list[Sent]:
    return [s for s in publisher.take() if s.topic in (SALES.name, REFUNDS.name)]


def duplicates(service: SalesIngest, topic: Topic = SALES_SUBMITTED) -> float:
    value = service.platform.metrics.registry.get_sample_value(DUPLICATES, {"topic": topic.name})
    return value or 0.0


def flagged(service: SalesIngest) -> float:
    return service.platform.metrics.registry.get_sample_value(FLAGGED) or 0.0


def windowed(reads: list[tuple[str, int, int | None]], clock: Clock, *,
             window: timedelta = UPLOAD_WINDOW) -> list[tuple[str, int]]:
    """The (topic, partition) of these reads, each of which must have asked for the upload
    window of the output, not its whole history: from at least `window` ago (a fix may reach
    back MAX_FUTURE further, for tickets dated ahead of their append)."""
    for topic, partition, since_ms in reads:
        assert since_ms is not None, f"{topic}/{partition} read from its beginning"
        assert ms(clock() - window - MAX_FUTURE) <= since_ms <= ms(clock() - window), (
            f"{topic}/{partition} read from {since_ms}, not the window")
    return sorted((topic, partition) for topic, partition, _ in reads)


# --- writing each ticket once ------------------------------------------------------------


def test_both_submitted_topics_are_routed_to_the_handler_with_retries() -> None:
    service = make_ingest(OutputPublisher())
    routes = service.routes()
    assert [route.topic for route in routes] == [SALES_SUBMITTED, REFUNDS_SUBMITTED]
    assert all(route.handler == service.handle and route.policy.retries > 0 for route in routes)


async def test_a_ticket_is_written_once_to_the_same_partition_of_sales_with_its_correlation(
    ingest, publisher, output
) -> None:
    await submit(ingest, ticket(1), partition=4, correlation_id="upload-17")
    [sent] = sent_tickets(publisher)
    assert (sent.topic, sent.key, sent.partition, sent.event) == (SALES.name, SHOP, 4, ticket(1))
    assert (SALES.name, ticket(1).ticket_id, "upload-17") in publisher.correlations
    # On the wire: the ticket's id and time, and the upload's correlation.
    [record] = output.held[SALES.name, 4]
    meta = CloudEvent.from_headers(record.headers)
    assert (meta.id, meta.time, meta.correlation_id) == (
        ticket(1).ticket_id, ticket(1).occurred_at, "upload-17")
    assert output.held.get((REFUNDS.name, 4), []) == []


async def test_a_refund_is_written_to_the_same_partition_of_refunds(
    ingest, publisher, output
) -> None:
    await submit(ingest, refund(50), partition=2, correlation_id="csv-3")
    [sent] = sent_tickets(publisher)
    assert (sent.topic, sent.partition, sent.event) == (REFUNDS.name, 2, refund(50))
    assert (REFUNDS.name, refund(50).refund_id, "csv-3") in publisher.correlations
    assert output.ids(REFUNDS, 2) == [refund(50).refund_id]
    assert output.ids(SALES, 2) == []


async def test_a_record_without_cloudevents_metadata_is_written_without_a_correlation(
    ingest, publisher
) -> None:
    await submit(ingest, ticket(1))  # a till producing straight to Kafka, no ce_ headers
    [sent] = sent_tickets(publisher)
    assert sent.event == ticket(1)
    assert [c for c in publisher.correlations if c[0] == SALES.name] == [
        (SALES.name, ticket(1).ticket_id, None)]


async def test_a_repeat_is_dropped_and_counted(ingest, publisher, output) -> None:
    await submit(ingest, ticket(1), offset=0)
    await submit(ingest, ticket(2), offset=1)
    await submit(ingest, ticket(1), offset=2)  # the till uploaded it again
    await submit(ingest, ticket(1), offset=3)
    assert [s.event.ticket_id for s in sent_tickets(publisher)] == [
        ticket(1).ticket_id, ticket(2).ticket_id]
    assert output.ids(SALES, 0) == [ticket(1).ticket_id, ticket(2).ticket_id]
    assert duplicates(ingest) == 2
    assert duplicates(ingest, REFUNDS_SUBMITTED) == 0


async def test_a_repeated_refund_is_dropped_and_counted_under_its_own_topic(
    ingest, publisher
) -> None:
    await submit(ingest, refund(50))
    await submit(ingest, refund(50))
    assert [s.event for s in sent_tickets(publisher)] == [refund(50)]
    assert (duplicates(ingest, REFUNDS_SUBMITTED), duplicates(ingest)) == (1, 0)


async def test_the_memory_is_per_partition(ingest, publisher) -> None:
    await submit(ingest, ticket(1), partition=0)
    await submit(ingest, ticket(1), partition=1)  # not the same output partition
    assert [s.partition for s in sent_tickets(publisher)] == [0, 1]
    assert duplicates(ingest) == 0


# --- the memory rebuilt from the output partition -----------------------------------------


async def test_a_repeat_of_a_ticket_written_before_a_restart_is_dropped(
    publisher, output, clock
) -> None:
    before = make_ingest(publisher)
    await submit(before, ticket(1), partition=3)
    await submit(before, refund(50), partition=3)
    publisher.take()
    clock.advance(timedelta(minutes=5))

    after = make_ingest(publisher)  # restarted: no memory but what partition 3 holds
    await after.seen.own({3})
    assert windowed(output.reads[-2:], clock) == [(REFUNDS.name, 3), (SALES.name, 3)]
    await submit(after, ticket(1), partition=3)  # redelivered: its offset was not committed
    await submit(after, refund(50), partition=3)
    await submit(after, ticket(2), partition=3)
    assert [s.event for s in sent_tickets(publisher)] == [ticket(2)]
    assert (duplicates(after), duplicates(after, REFUNDS_SUBMITTED)) == (1, 1)


async def test_the_first_record_of_a_partition_rebuilds_its_memory_without_an_assignment(
    publisher, output, clock
) -> None:
    output.append(SALES.name, 1, written(ticket(1)), timestamp_ms=ms(clock()))
    service = make_ingest(publisher)
    await submit(service, ticket(1), partition=1)
    assert sent_tickets(publisher) == []
    assert duplicates(service) == 1
    assert windowed(output.reads, clock) == [(REFUNDS.name, 1), (SALES.name, 1)]


async def test_the_rebuild_reads_only_the_upload_window_of_the_output(
    publisher, output, clock
) -> None:
    # Written 61 days ago (before the window) and 59 days ago (inside it).
    old, recent = ticket(1), ticket(2)
    output.append(SALES.name, 0, written(old), timestamp_ms=ms(T0 - timedelta(days=61)))
    output.append(SALES.name, 0, written(recent), timestamp_ms=ms(T0 - timedelta(days=59)))
    service = make_ingest(publisher)
    memory = (await service.seen.get(0))[SALES.name]
    assert windowed(output.reads, clock) == [(REFUNDS.name, 0), (SALES.name, 0)]
    assert recent.ticket_id in memory
    assert old.ticket_id not in memory and len(memory) == 1


async def test_a_window_of_its_own_sets_how_far_back_the_rebuild_reads(
    publisher, output, clock
) -> None:
    platform = SimpleNamespace(settings=None, registry=None, publisher=publisher,
                               metrics=Metrics("sales-ingest"))
    service = SalesIngest(platform, {}, FakeTable(), window=timedelta(days=7), clock=clock)
    await service.seen.own({0})
    assert windowed(output.reads, clock, window=timedelta(days=7)) == [
        (REFUNDS.name, 0), (SALES.name, 0)]


async def test_forgotten_then_owned_again_the_memory_is_what_the_output_now_holds(
    publisher, output, clock
) -> None:
    ours = make_ingest(publisher)
    await ours.seen.own({0, 1})
    await submit(ours, ticket(1), partition=0)
    ours.seen.forget({0})  # revoked

    # Meanwhile partition 0's next owner wrote ticket 2 to it; partition 1 stayed ours.
    clock.advance(timedelta(minutes=1))
    other = make_ingest(publisher)
    await submit(other, ticket(2), partition=0)
    publisher.take()
    output.reads.clear()

    clock.advance(timedelta(minutes=1))
    await ours.seen.own({0, 1})  # assigned back
    # Partition 1 was not read again.
    assert windowed(output.reads, clock) == [(REFUNDS.name, 0), (SALES.name, 0)]
    await submit(ours, ticket(2), partition=0)  # written by the other owner
    await submit(ours, ticket(1), partition=0)  # written by us before the revocation
    await submit(ours, ticket(3), partition=0)
    assert [s.event for s in sent_tickets(publisher)] == [ticket(3)]
    assert duplicates(ours) == 2
    assert output.ids(SALES, 0) == [t.ticket_id for t in (ticket(1), ticket(2), ticket(3))]


async def test_an_assignment_and_a_record_at_once_read_the_output_once(
    ingest, publisher, output
) -> None:
    await asyncio.gather(ingest.seen.own({5}), submit(ingest, ticket(1), partition=5))
    assert windowed(output.reads, ingest.clock) == [(REFUNDS.name, 5), (SALES.name, 5)]
    await submit(ingest, ticket(1), partition=5)
    assert len(sent_tickets(publisher)) == 1 and duplicates(ingest) == 1


async def test_records_with_unreadable_headers_do_not_break_the_rebuild(
    publisher, output, clock
) -> None:
    stamp = ms(clock())
    good = written(ticket(2))
    without = [(k, v) for k, v in good if k != "ce_id"]
    badly_timed = [(k, b"yesterday" if k == "ce_time" else v) for k, v in good]
    other_spec = [(k, b"0.3" if k == "ce_specversion" else v) for k, v in good]
    for headers in (None, [], without, badly_timed, other_spec,
                    [("ce_id", b"\xff\xfe"), ("traceparent", b"00-ab")]):
        output.append(SALES.name, 0, headers, timestamp_ms=stamp)
    output.append(SALES.name, 0, written(ticket(1)), timestamp_ms=stamp)

    service = make_ingest(publisher)
    await service.seen.own({0})
    assert len((await service.seen.get(0))[SALES.name]) == 1  # the one readable record
    await submit(service, ticket(1))
    await submit(service, ticket(2))  # its records were unreadable: not remembered
    assert [s.event for s in sent_tickets(publisher)] == [ticket(2)]
    assert duplicates(service) == 1


async def test_a_header_with_a_null_value_does_not_break_the_rebuild(
    publisher, output, clock
) -> None:
    output.append(SALES.name, 0, [*written(ticket(2)), ("traceparent", None)],
                  timestamp_ms=ms(clock()))
    output.append(SALES.name, 0, written(ticket(1)), timestamp_ms=ms(clock()))
    service = make_ingest(publisher)
    await service.seen.own({0})
    await submit(service, ticket(1))
    assert sent_tickets(publisher) == [] and duplicates(service) == 1


async def test_a_future_dated_ticket_at_the_window_s_edge_is_still_remembered_after_a_restart(
    publisher, output, clock
) -> None:
    early = ticket(1, at=T0 + MAX_FUTURE - timedelta(minutes=1))  # a till clock 9 minutes fast
    await submit(make_ingest(publisher), early)
    publisher.take()

    clock.advance(UPLOAD_WINDOW + timedelta(minutes=1))  # still inside the window by event time
    restarted = make_ingest(publisher)
    await submit(restarted, early)
    assert sent_tickets(publisher) == [], "the ticket was written to sales.tickets twice"


async def test_a_ce_time_without_an_offset_in_the_output_does_not_break_the_pruning(
    publisher, output, clock, monkeypatch
) -> None:
    monkeypatch.setattr(ingest_module, "PRUNE_EVERY", 1)
    naive = [(k, b"2026-11-30T08:00:00.000" if k == "ce_time" else v)
             for k, v in written(ticket(1))]
    output.append(SALES.name, 0, naive, timestamp_ms=ms(clock()))
    service = make_ingest(publisher)
    await service.seen.own({0})
    await submit(service, ticket(2))
    assert [s.event for s in sent_tickets(publisher)] == [ticket(2)]


# --- rejected tickets ----------------------------------------------------------------------


async def test_a_ticket_before_the_upload_window_is_rejected_and_not_written(
    ingest, publisher, output
) -> None:
    late = ticket(1, at=T0 - UPLOAD_WINDOW - timedelta(seconds=1))
    with pytest.raises(Reject, match=r"lyon-graine/t1/1 occurred 2026-10-02, before the "
                                     r"60-day upload window"):
        await submit(ingest, late)
    assert publisher.take() == []  # neither written nor flagged (no mapping is known)
    assert output.reads == []  # rejected before any memory is needed
    assert flagged(ingest) == 0


async def test_a_ticket_at_the_window_s_start_is_written(ingest, publisher) -> None:
    await submit(ingest, ticket(1, at=T0 - UPLOAD_WINDOW))
    assert len(sent_tickets(publisher)) == 1


async def test_a_refund_before_the_upload_window_is_rejected(ingest, publisher) -> None:
    with pytest.raises(Reject, match="60-day upload window"):
        await submit(ingest, refund(50, at=T0 - timedelta(days=61)))
    assert publisher.take() == []


async def test_a_ticket_too_far_in_the_future_is_rejected(ingest, publisher) -> None:
    ahead = ticket(1, at=T0 + MAX_FUTURE + timedelta(seconds=1))
    with pytest.raises(Reject, match=r"lyon-graine/t1/1 occurred 2026-12-01T08:10:01\+00:00, "
                                     r"in the future \(a till clock gone wrong\?\)"):
        await submit(ingest, ahead)
    assert publisher.take() == []


async def test_a_ticket_up_to_max_future_ahead_is_written(ingest, publisher) -> None:
    await submit(ingest, ticket(1, at=T0 + MAX_FUTURE))  # a till clock a little fast
    assert len(sent_tickets(publisher)) == 1


@pytest.mark.parametrize(("broken", "problem"), [
    (ticket(1).model_copy(update={"ticket_id": "lyon-graine/t1/2"}),
     "id 'lyon-graine/t1/2' is not shop/till/number of the ticket"),
    (ticket(1).model_copy(update={"timezone": "Mars/Olympus"}), "is not an IANA timezone"),
    (ticket(1).model_copy(update={"payments": ticket(1).payments[:1]}),
     "payments add up to 42 cents but the lines to 142"),
    (ticket(1).model_copy(update={"lines": ()}), "0 lines, not 1..200"),
    (refund(50, original=ticket_id(SHOP, TILL, 50)), "a refund cannot correct itself"),
    (refund(50, original="autre-epicerie/t1/1"),
     "original_ticket_id is not a ticket of the same shop"),
], ids=["ticket-id", "timezone", "payments", "no-lines", "self-refund", "other-shop"])
async def test_a_ticket_with_a_problem_is_rejected_with_it_and_changes_nothing(
    ingest, publisher, output, broken, problem
) -> None:
    with pytest.raises(Reject, match="^" + broken.event_id) as rejected:
        await submit(ingest, broken)
    assert problem in str(rejected.value)
    assert publisher.take() == []  # not written, no till code flagged
    assert ingest.unmapped == {} and flagged(ingest) == 0
    assert output.reads == []


# --- till codes not mapped to the catalog ----------------------------------------------------


async def test_an_unmapped_till_code_is_flagged_once_and_a_mapped_one_never(publisher) -> None:
    unmapped = FakeTable()
    service = make_ingest(publisher, mappings=mapped("2001"), unmapped=unmapped)
    await submit(service, ticket(1))
    flags = publisher.sent(UNMAPPED)
    assert [(s.key, s.event) for s in flags] == [(BREAD, TillCodeUnmapped(
        shop_id=SHOP, code="3760123450012", code_kind=CodeKind.EAN, label="Pain de campagne",
        ticket_id=ticket(1).ticket_id, first_seen_at=ticket(1).occurred_at))]
    assert set(unmapped) == {BREAD}  # read own write: the table has it at once
    assert len(publisher.sent(SALES)) == 1

    await submit(service, ticket(2))  # the same bread again, on another ticket
    assert len(publisher.sent(UNMAPPED)) == 1
    assert len(publisher.sent(SALES)) == 2
    assert flagged(service) == 1


async def test_codes_already_flagged_are_not_flagged_again(publisher) -> None:
    earlier = TillCodeUnmapped(shop_id=SHOP, code="2001", code_kind=CodeKind.PLU,
                               label="Tomates", ticket_id="lyon-graine/t1/0",
                               first_seen_at=T0 - timedelta(days=3))
    service = make_ingest(publisher, unmapped=FakeTable({TOMATO: earlier}))
    await submit(service, ticket(1))
    assert [s.key for s in publisher.sent(UNMAPPED)] == [BREAD]


async def test_the_same_code_in_another_shop_is_its_own_code(publisher) -> None:
    service = make_ingest(publisher, mappings={**mapped("2001"),
                                               **mapped("3760123450012", CodeKind.EAN)})
    await submit(service, ticket(1))
    other = sale("autre-epicerie", 1, till_id=TILL, at=T0 - timedelta(hours=1))
    await submit(service, other)
    assert sorted(s.key for s in publisher.sent(UNMAPPED)) == [
        code_key("autre-epicerie", CodeKind.EAN, "3760123450012"),
        code_key("autre-epicerie", CodeKind.PLU, "2001")]


async def test_a_refund_flags_no_code(ingest, publisher) -> None:
    await submit(ingest, refund(50))
    assert publisher.sent(UNMAPPED) == [] and flagged(ingest) == 0


async def test_a_flag_lost_in_a_crash_comes_back_with_the_repeat_of_its_ticket(
    publisher, output
) -> None:
    # The ticket was written, then the process died before its flags were acknowledged.
    output.append(SALES.name, 0, written(ticket(1)), timestamp_ms=ms(T0))
    unmapped = FakeTable()
    service = make_ingest(publisher, mappings=mapped("2001"), unmapped=unmapped)
    await submit(service, ticket(1))  # redelivered
    assert publisher.sent(SALES) == []  # the repeat is dropped ...
    assert [s.key for s in publisher.sent(UNMAPPED)] == [BREAD]  # ... but its flag comes back
    assert duplicates(service) == 1
    await submit(service, ticket(1))
    assert len(publisher.sent(UNMAPPED)) == 1


# --- a bounded memory ---------------------------------------------------------------------


async def test_the_memory_forgets_expired_ids_every_prune_every_tickets(
    publisher, output, clock, monkeypatch
) -> None:
    monkeypatch.setattr(ingest_module, "PRUNE_EVERY", 3)
    service = make_ingest(publisher)
    old = ticket(1, at=T0 - timedelta(days=59))
    old_refund = refund(50, at=T0 - timedelta(days=59))
    await submit(service, old, partition=0)
    await submit(service, ticket(2), partition=0)
    await submit(service, old_refund, partition=1)  # the 3rd: a pruning, nothing expired yet
    p0, p1 = await service.seen.get(0), await service.seen.get(1)
    assert (len(p0[SALES.name]), len(p1[REFUNDS.name])) == (2, 1)

    clock.advance(timedelta(days=2))  # the old ones are now past the window
    await submit(service, ticket(3, at=clock()), partition=0)
    await submit(service, ticket(4, at=clock()), partition=0)
    assert (len(p0[SALES.name]), len(p1[REFUNDS.name])) == (4, 1)  # not yet: 2 since
    await submit(service, ticket(5, at=clock()), partition=0)  # the 3rd since: pruned
    assert (len(p0[SALES.name]), len(p1[REFUNDS.name])) == (4, 0)
    assert old.ticket_id not in p0[SALES.name]
    assert old_refund.refund_id not in p1[REFUNDS.name]
    assert all(t.ticket_id in p0[SALES.name] for t in (ticket(2), ticket(3), ticket(4), ticket(5)))
    # What was forgotten cannot come back: it is now out of the window.
    with pytest.raises(Reject, match="upload window"):
        await submit(service, old, partition=0)


async def test_the_default_pruning_interval_keeps_a_busy_memory_bounded(
    publisher, clock
) -> None:
    service = make_ingest(publisher)
    await submit(service, ticket(1, at=T0 - timedelta(days=59)))
    clock.advance(timedelta(days=2))  # ticket 1 has expired
    for number in range(2, ingest_module.PRUNE_EVERY):
        await submit(service, ticket(number, at=clock()))
    memory = (await service.seen.get(0))[SALES.name]
    assert len(memory) == ingest_module.PRUNE_EVERY - 1  # not pruned yet
    await submit(service, ticket(ingest_module.PRUNE_EVERY, at=clock()))  # the 10,000th
    assert len(memory) == ingest_module.PRUNE_EVERY - 1
    assert ticket(1).ticket_id not in memory
