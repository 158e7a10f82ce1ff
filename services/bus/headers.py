"""CloudEvents 1.0 metadata in the Kafka binary binding: one `ce_` header per attribute.

The event body stays pure Avro; id, source, type and time travel beside it so that any consumer,
Vivres or not, can route and de-duplicate without decoding. `ce_correlationid` (an extension
attribute: CloudEvents allows lowercase alphanumerics only) ties together everything one request
caused.

The value's format travels as the binding says: `content-type` (no prefix: it maps to
`datacontenttype`) is `application/avro`, and `ce_dataschema` is the registry's URL of the
writer's schema id (`<registry>/schemas/ids/<id>`), so a receiver that knows neither our code
nor our subjects can fetch the schema it needs to read the value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

SPEC_VERSION = "1.0"
REQUIRED = ("ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time")  # a record lacking one
AVRO = "application/avro"  # the value: Confluent-framed Avro (services/bus/codec.py)
Headers = list[tuple[str, bytes]]


class HeaderError(ValueError):
    """A record lacks a CloudEvents attribute or carries an unreadable one."""


@dataclass(frozen=True)
class CloudEvent:
    """The CloudEvents attributes of one record."""

    id: str
    source: str
    type: str
    time: datetime
    correlation_id: str
    dataschema: str | None = None  # the registry's URL of the writer's schema
    datacontenttype: str | None = AVRO

    def to_headers(self) -> Headers:
        optional = [(name, value.encode()) for name, value in (
            ("content-type", self.datacontenttype), ("ce_dataschema", self.dataschema))
            if value is not None]
        return [
            ("ce_specversion", SPEC_VERSION.encode()),
            ("ce_id", self.id.encode()),
            ("ce_source", self.source.encode()),
            ("ce_type", self.type.encode()),
            ("ce_time", format_time(self.time).encode()),
            ("ce_correlationid", self.correlation_id.encode()),
            *optional,
        ]

    @classmethod
    def from_headers(cls, headers: Iterable[tuple[str, bytes]]) -> CloudEvent:
        # Kafka allows a header without a value (aiokafka gives None): as if it were absent.
        values = {key: value.decode("utf-8", "replace") for key, value in headers or ()
                  if value is not None}
        missing = [k for k in REQUIRED if k not in values]
        if missing:
            raise HeaderError(f"missing CloudEvents headers: {', '.join(missing)}")
        if values["ce_specversion"] != SPEC_VERSION:
            raise HeaderError(f"unsupported ce_specversion {values['ce_specversion']!r}")
        try:
            time = datetime.fromisoformat(values["ce_time"].replace("Z", "+00:00"))
        except ValueError as err:
            raise HeaderError(f"ce_time is not RFC 3339: {values['ce_time']!r}") from err
        if time.tzinfo is None:  # RFC 3339 always gives the offset
            raise HeaderError(f"ce_time has no offset: {values['ce_time']!r}")
        return cls(
            id=values["ce_id"], source=values["ce_source"], type=values["ce_type"], time=time,
            correlation_id=values.get("ce_correlationid", values["ce_id"]),
            dataschema=values.get("ce_dataschema"), datacontenttype=values.get("content-type"),
        )


def schema_url(registry_url: str, schema_id: int) -> str:
    """Where the registry serves a schema by its id (the Confluent API: `{"schema": ...}`)."""
    return f"{registry_url.rstrip('/')}/schemas/ids/{schema_id}"


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with millisecond precision, e.g. 2026-11-25T18:04:05.123Z."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: event times must carry a timezone")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
