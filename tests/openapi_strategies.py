"""Hypothesis strategies from the JSON schemas of our OpenAPI documents (FastAPI, pydantic v2).

A small stand-in for hypothesis-jsonschema, on hypothesis's public API only, for the subset of
JSON Schema those documents use: `$ref` into `#/components/`, `type` (one or a list), `enum`,
`const`, `anyOf`/`oneOf`, a one-element `allOf`, `default`, string `pattern`/`minLength`/
`maxLength`/`format` (date, date-time, uri), number bounds (inclusive and exclusive), array
`items`/`minItems`/`maxItems`/`uniqueItems`, object `properties`/`required`/
`additionalProperties`. Other keywords are ignored (a value may then fall outside the schema:
the API fuzz test wants requests that reach the handlers, not a validator's proof). Values stay
small (at most 5 items to a list, short strings) so that drawing is fast.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import strategies as st

__all__ = ["JSON_VALUES", "from_schema"]

Strategy = st.SearchStrategy[Any]
MAX_ITEMS = 5  # items of a list (more only when minItems asks for more)
MAX_TEXT = 32  # characters of a string beyond its minLength (when it has no pattern)

JSON_VALUES: Strategy = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=MAX_TEXT)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=5)

# mostly around the API's years (2000 to 2100), sometimes any year from 1 to 9999; datetimes
# naive or in UTC (hypothesis bounds them with naive ones)
NEAR_DATES = date(1990, 1, 1), date(2110, 12, 31)
NEAR_TIMES = datetime(1990, 1, 1), datetime(2110, 12, 31)  # noqa: DTZ001
ZONES = st.none() | st.just(UTC)
FORMATS: dict[str, Strategy] = {
    "date": (st.dates(*NEAR_DATES) | st.dates()).map(date.isoformat),
    "date-time": (st.datetimes(*NEAR_TIMES, timezones=ZONES) | st.datetimes(timezones=ZONES)
                  ).map(datetime.isoformat),
    # Loopback only, on a port where nothing listens: a URL drawn here may become a webhook
    # subscription that a service then calls, and tests send traffic to this machine alone.
    "uri": st.from_regex(r"https?://(127\.0\.0\.1|localhost):9(/[A-Za-z0-9._~-]{0,12}){0,3}",
                         fullmatch=True),
}

# the type a schema without `type` implies by its keywords
IMPLIED_TYPES = (("properties", "object"), ("additionalProperties", "object"),
                 ("items", "array"), ("pattern", "string"), ("minLength", "string"),
                 ("maxLength", "string"), ("format", "string"), ("minimum", "number"),
                 ("maximum", "number"), ("exclusiveMinimum", "number"),
                 ("exclusiveMaximum", "number"))


def from_schema(schema: dict, components: dict) -> Strategy:
    """Values of `schema`, a JSON schema of an OpenAPI document.

    `components` is the document's `components` object, which its `$ref`s name
    (`{"$ref": "#/components/schemas/Order"}` is `components["schemas"]["Order"]`); references
    are resolved lazily, once each, so a recursive schema is fine. An empty or unknown schema
    gives any small JSON value (`JSON_VALUES`).
    """
    return _Builder(components).build(schema)


class _Builder:
    def __init__(self, components: dict) -> None:
        self.components = components
        self.refs: dict[str, Strategy] = {}

    def build(self, schema: dict) -> Strategy:
        if "default" in schema:
            return st.just(schema["default"]) | self.build(_without(schema, "default"))
        if "$ref" in schema:
            return self.ref(schema["$ref"])
        if len(schema.get("allOf", ())) == 1:
            return self.build({**_without(schema, "allOf"), **schema["allOf"][0]})
        branches = schema.get("anyOf") or schema.get("oneOf")
        if branches:
            return st.one_of([self.build(branch) for branch in branches])
        if "const" in schema:
            return st.just(schema["const"])
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        kind = schema.get("type", _implied_type(schema))
        if isinstance(kind, list):
            return st.one_of([self.build({**schema, "type": one}) for one in kind])
        return self.typed(kind, schema)

    def typed(self, kind: str | None, schema: dict) -> Strategy:
        makers = {"object": self.object, "array": self.array, "string": _string,
                  "integer": _integer, "number": _number,
                  "boolean": lambda _: st.booleans(), "null": lambda _: st.none()}
        return makers[kind](schema) if kind in makers else JSON_VALUES

    def ref(self, ref: str) -> Strategy:
        if ref not in self.refs:  # deferred: a schema may name itself
            self.refs[ref] = st.deferred(lambda: self.build(self.resolve(ref)))
        return self.refs[ref]

    def resolve(self, ref: str) -> dict:
        prefix = "#/components/"
        if not ref.startswith(prefix):
            raise ValueError(f"unsupported $ref {ref!r}: only {prefix}... is known")
        target = self.components
        for part in ref.removeprefix(prefix).split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        return target

    def object(self, schema: dict) -> Strategy:
        """The required properties, each optional one sometimes, and when additionalProperties
        allows them (it does unless false) up to two other keys."""
        properties = {name: self.build(sub) for name, sub in
                      schema.get("properties", {}).items()}
        required = set(schema.get("required", ()))
        known = st.fixed_dictionaries(
            {name: s for name, s in properties.items() if name in required},
            optional={name: s for name, s in properties.items() if name not in required})
        extra = schema.get("additionalProperties", True)
        if extra is False:
            return known
        values = JSON_VALUES if extra is True else self.build(extra)
        keys = st.text(max_size=8).filter(lambda key: key not in properties)
        extras = st.dictionaries(keys, values, max_size=2)
        return st.builds(lambda more, drawn: {**more, **drawn}, extras, known)

    def array(self, schema: dict) -> Strategy:
        low = schema.get("minItems", 0)
        high = min(schema.get("maxItems", math.inf), max(low, MAX_ITEMS))
        unique = _canonical if schema.get("uniqueItems") else None
        return st.lists(self.build(schema.get("items", {})), min_size=low, max_size=high,
                        unique_by=unique)


def _string(schema: dict) -> Strategy:
    """A pattern's matches within the lengths; else a format's values; else text within the
    lengths (at most MAX_TEXT characters beyond the minimum)."""
    low, high = schema.get("minLength", 0), schema.get("maxLength", math.inf)
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True).filter(
            lambda text: low <= len(text) <= high)
    if schema.get("format") in FORMATS:
        return FORMATS[schema["format"]]
    return st.text(min_size=low, max_size=min(high, low + MAX_TEXT))


def _integer(schema: dict) -> Strategy:
    lows = [math.ceil(schema["minimum"])] if "minimum" in schema else []
    if "exclusiveMinimum" in schema:
        lows.append(math.floor(schema["exclusiveMinimum"]) + 1)
    highs = [math.floor(schema["maximum"])] if "maximum" in schema else []
    if "exclusiveMaximum" in schema:
        highs.append(math.ceil(schema["exclusiveMaximum"]) - 1)
    return st.integers(max(lows, default=None), min(highs, default=None))


def _number(schema: dict) -> Strategy:
    low, exclude_low = _bound(schema, "exclusiveMinimum", "minimum", max)
    high, exclude_high = _bound(schema, "exclusiveMaximum", "maximum", min)
    return st.floats(low, high, exclude_min=exclude_low, exclude_max=exclude_high,
                     allow_nan=False, allow_infinity=False)


def _bound(schema: dict, exclusive: str, inclusive: str, stricter: Any) -> tuple[Any, bool]:
    """(the stricter of the two bounds, whether it is exclusive); (None, False) when none."""
    found = [(schema[key], key == exclusive) for key in (exclusive, inclusive) if key in schema]
    return stricter(found, key=lambda bound: bound[0]) if found else (None, False)


def _implied_type(schema: dict) -> str | None:
    return next((kind for key, kind in IMPLIED_TYPES if key in schema), None)


def _without(schema: dict, key: str) -> dict:
    return {k: v for k, v in schema.items() if k != key}


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
