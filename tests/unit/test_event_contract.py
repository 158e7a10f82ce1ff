"""Each pydantic event model matches its .avsc file, and every schema-valid record round-trips."""

from __future__ import annotations

import io
import types
import typing
from datetime import date, datetime
from enum import Enum

import fastavro
import pytest
from fastavro.utils import generate_many
from pydantic import BaseModel

from services.bus.schemas import load_current
from services.events import EVENT_TYPES
from services.events.base import WireTime

CURRENT = load_current()
MODELS = sorted(EVENT_TYPES.items())


def test_every_schema_has_a_model_and_every_model_a_schema() -> None:
    assert set(EVENT_TYPES) == set(CURRENT)


def _inner(annotation: object) -> tuple[object, bool]:
    """(the non-None type, whether None is allowed) of a field annotation."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return annotation, False


def _assert_matches(model: type[BaseModel], record: dict, path: str) -> None:
    avro_fields = {f["name"]: f for f in record["fields"]}
    assert set(model.model_fields) == set(avro_fields), f"{path}: fields differ"
    for name, info in model.model_fields.items():
        avro = avro_fields[name]
        where = f"{path}.{name}"
        assert info.is_required() == ("default" not in avro), f"{where}: default differs"
        annotation, nullable = _inner(info.annotation)
        if info.metadata:  # pydantic keeps a required field's Annotated[...] extras apart
            annotation = typing.Annotated[annotation, *info.metadata]
        avro_type = avro["type"]
        if isinstance(avro_type, list):
            assert nullable and avro_type[0] == "null", f"{where}: nullability differs"
            avro_type = avro_type[1]
        else:
            assert not nullable, f"{where}: model allows None, schema does not"
        _assert_type(annotation, avro_type, where)


NAMED: dict[str, dict] = {}  # named types by short name, as the schemas define them


def _collect_named(schema: object) -> None:
    if isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed"):
            NAMED[schema["name"]] = schema
        for value in schema.values():
            _collect_named(value)
    elif isinstance(schema, list):
        for value in schema:
            _collect_named(value)


for _file in CURRENT.values():
    _collect_named(_file.schema)


def _assert_type(annotation: object, avro_type: object, where: str) -> None:
    if isinstance(avro_type, str) and avro_type in NAMED:  # a reference to a named type
        avro_type = NAMED[avro_type]
    if isinstance(avro_type, dict) and avro_type.get("type") == "array":
        assert typing.get_origin(annotation) is tuple, f"{where}: arrays are tuples"
        _assert_type(typing.get_args(annotation)[0], avro_type["items"], f"{where}[]")
    elif isinstance(avro_type, dict) and avro_type.get("type") == "record":
        _assert_matches(annotation, avro_type, where)
    elif isinstance(avro_type, dict) and avro_type.get("type") == "enum":
        assert issubclass(annotation, Enum), f"{where}: enums are Enum types"
        assert [m.value for m in annotation] == avro_type["symbols"], f"{where}: symbols"
    elif isinstance(avro_type, dict) and avro_type.get("logicalType") == "timestamp-millis":
        assert annotation == WireTime, f"{where}: timestamps are WireTime (the wire's precision)"
    elif isinstance(avro_type, dict) and avro_type.get("logicalType") == "date":
        assert annotation is date, f"{where}: dates"
    else:
        expected = {"string": str, "long": int, "int": int, "boolean": bool,
                    "double": float}[avro_type]
        assert annotation is expected, f"{where}: {annotation} is not {avro_type}"


@pytest.mark.parametrize(("name", "model"), MODELS)
def test_model_fields_match_the_schema(name: str, model: type) -> None:
    _assert_matches(model, CURRENT[name].schema, name)


@pytest.mark.parametrize(("name", "model"), MODELS)
def test_random_records_round_trip_through_model_and_avro(name: str, model: type) -> None:
    parsed = fastavro.parse_schema(CURRENT[name].schema)
    for generated in generate_many(parsed, 50):
        raw = io.BytesIO()  # generated values are raw (a date is an int): read them as a
        fastavro.schemaless_writer(raw, parsed, generated)  # consumer would
        raw.seek(0)
        event = model.from_avro(fastavro.schemaless_reader(raw, parsed))
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, parsed, event.to_avro())
        buffer.seek(0)
        again = model.from_avro(fastavro.schemaless_reader(buffer, parsed))
        assert again == event


def _with_microseconds(value: object) -> object:
    """The same value with every time moved 456 µs on: what a clock gives, finer than the wire."""
    if isinstance(value, datetime):
        return value.replace(microsecond=value.microsecond // 1000 * 1000 + 456)
    if isinstance(value, dict):
        return {k: _with_microseconds(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_with_microseconds(v) for v in value]
    return value


@pytest.mark.parametrize(("name", "model"), MODELS)
def test_an_event_made_here_equals_the_same_event_read_back(name: str, model: type) -> None:
    """A service that keeps what it published and then reads the record back (a table does)
    must not see two values for one fact: times are kept to the millisecond, as on the wire."""
    parsed = fastavro.parse_schema(CURRENT[name].schema)
    for generated in generate_many(parsed, 20):
        raw = io.BytesIO()
        fastavro.schemaless_writer(raw, parsed, generated)
        raw.seek(0)
        read = fastavro.schemaless_reader(raw, parsed)
        made = model.model_validate(_with_microseconds(model.from_avro(read).to_avro()))
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, parsed, made.to_avro())
        buffer.seek(0)
        assert model.from_avro(fastavro.schemaless_reader(buffer, parsed)) == made
