"""The Confluent wire format, byte by byte, without a broker."""

from __future__ import annotations

import io
import struct

import fastavro
import pytest

from services.bus.codec import AvroCodec, DecodeError, frame, unframe
from services.bus.registry import NotFound

SCHEMA_V1 = {"type": "record", "name": "Thing", "namespace": "t",
             "fields": [{"name": "n", "type": "long"}]}
SCHEMA_V2 = {"type": "record", "name": "Thing", "namespace": "t",
             "fields": [{"name": "n", "type": "long"},
                        {"name": "label", "type": "string", "default": "none"}]}


class FakeRegistry:
    """Ids handed out in registration order, as a registry would."""

    def __init__(self) -> None:
        self.schemas: dict[int, dict] = {}

    async def register(self, subject: str, schema: dict) -> int:
        for schema_id, known in self.schemas.items():
            if known == schema:
                return schema_id
        self.schemas[len(self.schemas) + 1] = schema
        return len(self.schemas)

    async def schema(self, schema_id: int) -> dict:
        if schema_id not in self.schemas:
            raise NotFound(f"id {schema_id}")
        return self.schemas[schema_id]


def test_frame_is_magic_zero_then_big_endian_id() -> None:
    assert frame(258, b"\x02") == b"\x00\x00\x00\x01\x02\x02"
    assert unframe(b"\x00\x00\x00\x01\x02\x02") == (258, b"\x02")


@pytest.mark.parametrize("data", [b"", b"\x00\x00", b"\x01\x00\x00\x00\x01\x02", b"garbage!"])
def test_unframe_rejects_what_is_not_the_wire_format(data: bytes) -> None:
    with pytest.raises(DecodeError):
        unframe(data)


async def test_encode_writes_plain_avro_after_the_header() -> None:
    registry = FakeRegistry()
    codec = AvroCodec(registry, "things-value", SCHEMA_V1)
    data = await codec.encode({"n": 42})
    assert data[0] == 0
    assert struct.unpack(">I", data[1:5]) == (1,)
    body = fastavro.schemaless_reader(io.BytesIO(data[5:]), fastavro.parse_schema(SCHEMA_V1))
    assert body == {"n": 42}
    assert await codec.decode(data) == {"n": 42}


async def test_old_records_are_read_with_the_new_schema() -> None:
    registry = FakeRegistry()
    old = await AvroCodec(registry, "things-value", SCHEMA_V1).encode({"n": 7})
    assert await AvroCodec(registry, "things-value", SCHEMA_V2).decode(old) == {
        "n": 7, "label": "none"}


async def test_unknown_schema_id_is_a_decode_error() -> None:
    codec = AvroCodec(FakeRegistry(), "things-value", SCHEMA_V1)
    with pytest.raises(DecodeError, match="unknown"):
        await codec.decode(frame(99, b"\x02"))


async def test_truncated_body_is_a_decode_error() -> None:
    registry = FakeRegistry()
    codec = AvroCodec(registry, "things-value", SCHEMA_V2)
    data = await codec.encode({"n": 1, "label": "a long label"})
    with pytest.raises(DecodeError):
        await codec.decode(data[:-4])
