"""CloudEvents binary-binding headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from cloudevents.core.bindings.kafka import KafkaMessage, from_binary

from services.bus.headers import CloudEvent, HeaderError, format_time, schema_url
from tests.support import OpaqueFormat


def test_headers_round_trip() -> None:
    event = CloudEvent(id="lyon-graine/t1/42", source="/shops/lyon-graine/tills/t1",
                       type="org.vivres.sales.SaleRecorded",
                       time=datetime(2026, 11, 25, 17, 4, 5, 123000, tzinfo=UTC),
                       correlation_id="req-1")
    headers = event.to_headers()
    assert dict(headers)["ce_specversion"] == b"1.0"
    assert dict(headers)["ce_time"] == b"2026-11-25T17:04:05.123Z"
    assert dict(headers)["ce_correlationid"] == b"req-1"
    assert CloudEvent.from_headers(headers) == event


def test_the_value_s_format_and_schema_travel_as_the_kafka_binding_says() -> None:
    """`content-type` (no prefix) is datacontenttype; `ce_dataschema` where the registry serves
    the writer's schema. Read back by the CloudEvents SDK, not by our own parser."""
    registry = "http://registry:8080/apis/ccompat/v7/"
    event = CloudEvent(id="lyon-graine/t1/42", source="/shops/lyon-graine/tills/t1",
                       type="org.vivres.sales.SaleRecorded",
                       time=datetime(2026, 11, 25, 17, 4, 5, 123000, tzinfo=UTC),
                       correlation_id="req-1", dataschema=schema_url(registry, 12))
    headers = dict(event.to_headers())
    assert headers["content-type"] == b"application/avro"
    assert headers["ce_dataschema"] == b"http://registry:8080/apis/ccompat/v7/schemas/ids/12"
    read = from_binary(KafkaMessage(headers=headers, key=b"lyon-graine", value=b"\0avro"),
                       OpaqueFormat())
    assert read.get_datacontenttype() == "application/avro"
    assert read.get_dataschema() == "http://registry:8080/apis/ccompat/v7/schemas/ids/12"
    assert read.get_time() == event.time
    assert read.get_extension("correlationid") == "req-1"


def test_a_till_s_record_without_format_headers_is_still_read() -> None:
    """Tills written before the binding was complete send neither: the ingest takes them."""
    read = CloudEvent.from_headers([("ce_specversion", b"1.0"), ("ce_id", b"x"),
                                    ("ce_source", b"/shops/a/tills/t1"), ("ce_type", b"t"),
                                    ("ce_time", b"2026-01-01T00:00:00Z")])
    assert read.dataschema is None and read.datacontenttype is None


def test_time_is_written_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    assert format_time(datetime(2026, 1, 2, 9, 0, tzinfo=paris)) == "2026-01-02T08:00:00.000Z"


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_time(datetime(2026, 1, 2, 9, 0))  # noqa: DTZ001 - the point of the test


def test_missing_attributes_are_named() -> None:
    with pytest.raises(HeaderError, match="ce_source, ce_type"):
        CloudEvent.from_headers([("ce_specversion", b"1.0"), ("ce_id", b"x"),
                                 ("ce_time", b"2026-01-01T00:00:00Z")])


def test_correlation_defaults_to_the_event_id() -> None:
    meta = CloudEvent.from_headers([("ce_specversion", b"1.0"), ("ce_id", b"x"),
                                    ("ce_source", b"/s"), ("ce_type", b"t"),
                                    ("ce_time", b"2026-01-01T00:00:00Z")])
    assert meta.correlation_id == "x"
