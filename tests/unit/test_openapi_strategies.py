"""tests/openapi_strategies.py: what it draws from a schema satisfies the schema.

The schemas are pydantic's own (the models' JSON schemas, with their references under
`#/components/schemas/` as in an OpenAPI document), and pydantic validates the drawn values as
JSON; a few hand-written schemas check the keywords pydantic does not emit here.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from hypothesis import find, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from tests.openapi_strategies import from_schema

FEW = settings(max_examples=60, deadline=None)
REFS = "#/components/schemas/{model}"


class Unit(StrEnum):
    KG = "KG"
    PIECE = "PIECE"


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_id: Annotated[str, Field(min_length=1, max_length=8, pattern=r"^[a-z0-9][a-z0-9-]*$")]
    unit: Unit = Unit.PIECE
    quantity: Annotated[int, Field(gt=0, le=1000)]


class Order(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: Annotated[int, Field(ge=1, le=20)]  # a required bounded int
    code: Annotated[str, Field(max_length=6, pattern=r"^[A-Z]{2,}$")] = "AA"  # optional
    note: str | None = None  # anyOf with null
    kind: Literal["gift", "sale"] = "sale"
    lines: Annotated[list[Line], Field(min_length=1, max_length=3)]  # $ref, minItems
    day: date
    at: datetime | None = None
    weight: Annotated[float, Field(gt=0, lt=1.5)] = 1.0


class Loose(BaseModel):  # additionalProperties absent: other keys come, pydantic ignores them
    name: Annotated[str, Field(min_length=2, max_length=4)]


def schema_of(model: type) -> tuple[dict, dict]:
    """(the model's schema, the components its references name)."""
    schema = TypeAdapter(model).json_schema(ref_template=REFS)
    return schema, {"schemas": schema.pop("$defs", {})}


def strategy_of(model: type) -> st.SearchStrategy[Any]:
    return from_schema(*schema_of(model))


@FEW
@given(strategy_of(Order))
def test_pydantic_validates_what_is_drawn_for_its_schema(value: dict) -> None:
    order = TypeAdapter(Order).validate_json(json.dumps(value))
    assert 1 <= order.count <= 20 and 1 <= len(order.lines) <= 3


@FEW
@given(strategy_of(Loose))
def test_other_keys_unless_additional_properties_are_false(value: dict) -> None:
    assert 2 <= len(TypeAdapter(Loose).validate_json(json.dumps(value)).name) <= 4


def test_optional_properties_are_drawn_sometimes() -> None:
    strategy = strategy_of(Order)
    assert "code" not in find(strategy, lambda v: "code" not in v)  # find: or NoSuchExample
    assert re.fullmatch(r"[A-Z]{2,6}", find(strategy, lambda v: "code" in v)["code"])
    assert find(strategy, lambda v: v.get("note") is None and "note" in v)["note"] is None
    assert isinstance(find(strategy, lambda v: v.get("note") is not None)["note"], str)
    assert set(find(strategy_of(Loose), lambda v: len(v) > 1)) > {"name"}


ARRAY = {"type": "array", "items": {"type": "integer", "exclusiveMinimum": 0, "maximum": 9.0},
         "minItems": 2, "uniqueItems": True}


@FEW
@given(from_schema(ARRAY, {}))
def test_arrays_keep_their_sizes_and_unique_items(value: list) -> None:
    assert 2 <= len(value) <= 5 and len(set(value)) == len(value)
    assert all(isinstance(v, int) and 1 <= v <= 9 for v in value)


TREE = {"schemas": {"Tree": {"type": "object", "required": ["label"], "properties": {
    "label": {"enum": ["a", "b"]},
    "children": {"type": "array", "maxItems": 2,
                 "items": {"$ref": "#/components/schemas/Tree"}}}}}}


def labels_valid(tree: dict) -> bool:
    return tree["label"] in ("a", "b") and all(map(labels_valid, tree.get("children", [])))


@FEW
@given(from_schema({"$ref": "#/components/schemas/Tree"}, TREE))
def test_a_recursive_reference(tree: dict) -> None:
    assert labels_valid(tree)


SCALARS = {"anyOf": [
    {"type": ["integer", "null"], "exclusiveMaximum": 3},
    {"allOf": [{"const": "x"}]},
    {"type": "number", "minimum": -1, "exclusiveMaximum": 0},
    {"type": "string", "format": "uri"},
    {"type": "string", "format": "date"},
    {"type": "boolean", "default": True},
]}


def in_scalars(value: Any) -> bool:
    if value is None or value == "x" or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return value <= 2
    if isinstance(value, float):
        return -1 <= value < 0
    if value.startswith("http"):
        return bool(re.match(r"https?://", value))
    return isinstance(date.fromisoformat(value), date)


@FEW
@given(from_schema(SCALARS, {}))
def test_types_bounds_formats_const_and_default(value: Any) -> None:
    assert in_scalars(value)


@FEW
@given(from_schema({}, {}) | from_schema({"type": "whatever"}, {}))
def test_an_empty_or_unknown_schema_gives_json_values(value: Any) -> None:
    assert json.loads(json.dumps(value)) == value
