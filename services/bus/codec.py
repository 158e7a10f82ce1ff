"""The Confluent wire format: magic byte 0, a 4-byte big-endian schema id, then the Avro body.

Writers always use the topic's current schema; readers resolve whatever version the record was
written with against the schema they expect (Avro schema resolution), so old records stay readable.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import fastavro

from services.bus.registry import NotFound, SchemaRegistry
from services.bus.schemas import schema

MAGIC = 0
_HEADER = struct.Struct(">bI")


class DecodeError(Exception):
    """The bytes are not a Confluent-framed Avro record readable with the expected schema."""


def frame(schema_id: int, body: bytes) -> bytes:
    return _HEADER.pack(MAGIC, schema_id) + body


def unframe(data: bytes) -> tuple[int, bytes]:
    """(schema id, Avro body) of a framed record."""
    if data is None or len(data) < _HEADER.size:
        raise DecodeError(f"record of {0 if data is None else len(data)} bytes is too short "
                          "for the Confluent wire format")
    magic, schema_id = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise DecodeError(f"unknown magic byte {magic}: not the Confluent wire format")
    return schema_id, data[_HEADER.size:]


class AvroCodec:
    """Encodes and decodes the records of one subject through the schema registry."""

    def __init__(self, registry: SchemaRegistry, subject: str, schema: dict[str, Any]) -> None:
        self.registry = registry
        self.subject = subject
        self.schema = schema
        self._parsed = fastavro.parse_schema(schema)
        self._schema_id: int | None = None
        self._readers: dict[int, tuple[Any, Any]] = {}  # id → (writer, reader or None)

    @classmethod
    def for_topic(cls, registry: SchemaRegistry, topic: Any) -> AvroCodec:
        """The codec of a catalog topic's values: its subject and its current schema."""
        return cls(registry, topic.subject, schema(topic.schema_name))

    async def schema_id(self) -> int:
        """The registry id of this codec's schema (registered on first use)."""
        if self._schema_id is None:
            self._schema_id = await self.registry.register(self.subject, self.schema)
        return self._schema_id

    async def encode(self, record: dict[str, Any]) -> bytes:
        schema_id = await self.schema_id()
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, self._parsed, record)
        return frame(schema_id, buffer.getvalue())

    async def decode(self, data: bytes) -> dict[str, Any]:
        schema_id, body = unframe(data)
        schemas = self._readers.get(schema_id)
        if schemas is None:
            # An unknown id makes the record undecodable; an unreachable registry is transient
            # (RegistryError propagates, and the runtime retries rather than dead-letters).
            try:
                writer = fastavro.parse_schema(await self.registry.schema(schema_id))
            except NotFound as err:
                raise DecodeError(f"schema id {schema_id} is unknown to the registry") from err
            except (ValueError, TypeError, KeyError) as err:
                raise DecodeError(f"writer schema {schema_id} is not valid Avro: {err}") from err
            # A record written with our own schema needs no resolution, which costs a fifth of
            # the decoding of a ticket (bench/README.md)
            schemas = self._readers[schema_id] = (
                writer, None if writer == self._parsed else self._parsed)
        return _read(schema_id, schemas, body)

    def decode_known(self, data: bytes) -> dict[str, Any] | None:
        """`decode` without awaiting, for a record whose writer schema was met before; None
        for one that needs the registry (ask `decode`)."""
        schema_id, body = unframe(data)
        schemas = self._readers.get(schema_id)
        return None if schemas is None else _read(schema_id, schemas, body)


def _read(schema_id: int, schemas: tuple[Any, Any], body: bytes) -> dict[str, Any]:
    try:
        return fastavro.schemaless_reader(io.BytesIO(body), *schemas)
    except Exception as err:  # noqa: BLE001 - fastavro raises many types on bad bytes
        raise DecodeError(f"Avro body unreadable with schema {schema_id}: {err!r}") from err
