"""What every event on the bus is: an immutable pydantic value tied to one .avsc schema."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Self

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict


def _to_the_millisecond(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


# A time as the wire keeps it (Avro timestamp-millis): an event made here equals the same event
# read back from its topic, so a table that keeps what it published and then reads the record
# back never shows two different times for one fact.
WireTime = Annotated[AwareDatetime, AfterValidator(_to_the_millisecond)]


class Event(BaseModel):
    """An immutable fact, named in the past tense, whose wire form is its `.avsc` schema.

    Subclasses name their schema and say which of their fields give the event's stable id (so a
    repeat is recognised as a repeat), its source and its time.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    schema_name: ClassVar[str]  # the Avro full name, e.g. "org.vivres.sales.SaleRecorded"
    id_field: ClassVar[str | None] = None  # the field that is the stable id, when one is
    time_field: ClassVar[str]  # the field that says when it happened

    @property
    def event_id(self) -> str:
        """The stable id: a repeat of the same fact has the same id."""
        if self.id_field is None:
            raise NotImplementedError(f"{type(self).__name__} must define its event_id")
        return str(getattr(self, self.id_field))

    @property
    def event_source(self) -> str:
        raise NotImplementedError

    @property
    def event_time(self) -> datetime:
        return getattr(self, self.time_field)

    def to_avro(self) -> dict[str, Any]:
        """The record as fastavro writes it (enums as their symbols, times as aware datetimes)."""
        return self.model_dump(mode="python")

    @classmethod
    def from_avro(cls, record: dict[str, Any]) -> Self:
        return cls.model_validate(record)
