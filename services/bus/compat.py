"""Avro schema resolution (Avro 1.11 specification), as a compatibility check.

`can_read(reader, writer)` lists everything that stops data written with `writer` from being read
with `reader`; each finding names the field it is about, so a failing check says what to fix.
`check_backward_transitive(new, earlier)` does the same against every earlier version.
Pure: schemas are the parsed JSON of .avsc files.

Named types match as the specification (and the Java and fastavro readers) says: same unqualified
name, or the writer's full name listed in the reader's `aliases`. A reader union takes the first
branch that matches the writer's type, promotions included. A decimal matches another decimal
only with the same precision and scale; other logical types resolve on their underlying type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any] | list[Any] | str
Namespaces = tuple[str | None, str | None]  # enclosing namespace on the reader, writer side

PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
PROMOTIONS = {  # writer type -> reader types that can read it
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
}
NAMED = {"record", "error", "enum", "fixed"}
KINDS = PRIMITIVES | NAMED | {"array", "map", "union"}


@dataclass(frozen=True)
class Incompatibility:
    """One reason data written with the old schema cannot be read with the new one.

    `path` is the dotted path from the top-level type to the value concerned: record field names,
    "[]" for array items, "{}" for map values, "|<type>" for a branch of a writer union.
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _full(name: str, namespace: str | None) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _namespace(full_name: str) -> str | None:
    return full_name.rpartition(".")[0] or None


class _Names:
    """The named types one schema defines, by full name, so references by name resolve."""

    def __init__(self, schema: Schema) -> None:
        self.types: dict[str, dict[str, Any]] = {}
        self._collect(schema, None)

    def _collect(self, schema: Schema, namespace: str | None) -> None:
        if isinstance(schema, list):
            for branch in schema:
                self._collect(branch, namespace)
        elif isinstance(schema, dict):
            kind = schema.get("type")
            if isinstance(kind, dict | list):
                self._collect(kind, namespace)
            elif kind in NAMED:
                name = _full(schema["name"], schema.get("namespace", namespace))
                self.types[name] = {**schema, "_full": name}
                for field in schema.get("fields", ()):
                    self._collect(field["type"], _namespace(name))
            elif kind == "array":
                self._collect(schema["items"], namespace)
            elif kind == "map":
                self._collect(schema["values"], namespace)

    def resolve(self, schema: Schema, namespace: str | None) -> Schema:
        """The type itself: a reference by name or a {"type": <type>} wrapper replaced by what it
        stands for (an unknown name is returned unchanged)."""
        if isinstance(schema, str):
            if schema in PRIMITIVES:
                return schema
            return self.types.get(_full(schema, namespace)) or self.types.get(schema) or schema
        if isinstance(schema, dict):
            kind = schema.get("type")
            if isinstance(kind, dict | list) or kind not in KINDS:
                return self.resolve(kind, namespace)
            if kind in NAMED:
                return self.types.get(_full(schema["name"], schema.get("namespace", namespace)),
                                      schema)
        return schema


def _kind(schema: Schema) -> str:
    """The kind of a resolved type: "union", a type name such as "record" or "long", or the
    unknown name it refers to."""
    if isinstance(schema, list):
        return "union"
    kind = schema if isinstance(schema, str) else schema["type"]
    return "record" if kind == "error" else kind


def _label(schema: Schema) -> str:
    if isinstance(schema, dict) and "_full" in schema:
        return schema["_full"]
    if isinstance(schema, dict) and schema.get("logicalType") == "decimal":
        return f"{schema['type']} (decimal({schema.get('precision')},{schema.get('scale', 0)}))"
    if isinstance(schema, dict) and schema.get("logicalType"):
        return f"{schema['type']} ({schema['logicalType']})"
    return _kind(schema)


def _subject(field: str | None) -> str:
    return f"field '{field}'" if field else "the top-level value"


class _Checker:
    """Walks a reader and a writer schema side by side, collecting incompatibilities."""

    def __init__(self, reader: Schema, writer: Schema) -> None:
        self.readers, self.writers = _Names(reader), _Names(writer)
        self.seen: set[tuple[str, str]] = set()  # record pairs already checked (recursive types)
        self.found: list[Incompatibility] = []

    def fail(self, path: str, message: str) -> None:
        self.found.append(Incompatibility(path, message))

    def check(self, reader: Schema, writer: Schema, path: str, field: str | None,
              ns: Namespaces) -> None:
        reader, writer = self.readers.resolve(reader, ns[0]), self.writers.resolve(writer, ns[1])
        r_kind, w_kind = _kind(reader), _kind(writer)
        for side, kind in (("new", r_kind), ("earlier", w_kind)):
            if kind not in KINDS:
                return self.fail(path, f"{_subject(field)} refers to type '{kind}', which the "
                                       f"{side} schema does not define")
        if w_kind == "union":
            for branch in writer:
                branch = self.writers.resolve(branch, ns[1])
                where = f"{path}|{_label(branch)}"
                if self.matches(reader, branch, ns):
                    self.check(reader, branch, where, field, ns)
                else:
                    self.fail(where, f"{_subject(field)} may hold a {_label(branch)} in earlier "
                                     f"data, which its new type {_label(reader)} cannot read")
        elif r_kind == "union":
            branch = next((b for b in reader if self.matches(b, writer, ns)), None)
            if branch is None:
                self.fail(path, f"type changed from {_label(writer)} to a union with no branch "
                                f"that can read it, so {_subject(field)} cannot be read")
            else:
                self.check(branch, writer, path, field, ns)
        elif r_kind != w_kind and r_kind not in PROMOTIONS.get(w_kind, ()):
            self.fail(path, f"type changed from {_label(writer)} to {_label(reader)}, which "
                            f"Avro cannot promote, so {_subject(field)} cannot be read")
        elif r_kind in NAMED and not self.same_name(reader, writer):
            self.fail(path, f"type of {_subject(field)} renamed from {writer['_full']} to "
                            f"{reader['_full']} without an alias: list \"{writer['_full']}\" "
                            f"in the \"aliases\" of {reader['_full']}")
        elif r_kind == "record":
            self.record(reader, writer, path)
        elif r_kind == "enum":
            missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
            if missing and "default" not in reader:
                self.fail(path, f"symbol(s) {', '.join(missing)} removed from enum "
                                f"{reader['_full']} of {_subject(field)}, which has no default "
                                "symbol to read them as")
        elif r_kind == "array":
            self.check(reader["items"], writer["items"], f"{path}[]", field, ns)
        elif r_kind == "map":
            self.check(reader["values"], writer["values"], f"{path}{{}}", field, ns)
        else:
            if r_kind == "fixed" and reader["size"] != writer["size"]:
                self.fail(path, f"fixed {reader['_full']} of {_subject(field)} changed size "
                                f"from {writer['size']} to {reader['size']} bytes")
            self.decimal(reader, writer, path, field)

    def matches(self, reader: Schema, writer: Schema, ns: Namespaces) -> bool:
        """Whether this reader type can take this (non-union) writer type at all: same kind,
        a promotion, or for a named type the same name."""
        reader, writer = self.readers.resolve(reader, ns[0]), self.writers.resolve(writer, ns[1])
        r_kind, w_kind = _kind(reader), _kind(writer)
        if r_kind == "union":
            return any(self.matches(branch, writer, ns) for branch in reader)
        if r_kind in NAMED and r_kind == w_kind:
            return self.same_name(reader, writer)
        return r_kind == w_kind or r_kind in PROMOTIONS.get(w_kind, ())

    def same_name(self, reader: dict[str, Any], writer: dict[str, Any]) -> bool:
        """Same unqualified name, or the writer's name among the reader's aliases."""
        r_full, w_full = reader["_full"], writer["_full"]
        aliases = {_full(alias, _namespace(r_full)) for alias in reader.get("aliases", ())}
        return r_full.rpartition(".")[2] == w_full.rpartition(".")[2] or w_full in aliases

    def record(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> None:
        key = (reader["_full"], writer["_full"])
        if key in self.seen:
            return
        self.seen.add(key)
        written = {f["name"]: f for f in writer["fields"]}
        ns = (_namespace(reader["_full"]), _namespace(writer["_full"]))
        for field in reader["fields"]:
            name = field["name"]
            source = written.get(name) or next(
                (written[a] for a in field.get("aliases", ()) if a in written), None)
            if source is not None:
                self.check(field["type"], source["type"], f"{path}.{name}", name, ns)
            elif "default" not in field:
                self.fail(f"{path}.{name}", f"field '{name}' was added without a default: data "
                                            "written with the earlier schema has no value for it")

    def decimal(self, reader: Schema, writer: Schema, path: str, field: str | None) -> None:
        if not (isinstance(reader, dict) and isinstance(writer, dict)):
            return
        if reader.get("logicalType") == writer.get("logicalType") == "decimal":
            for attribute in ("precision", "scale"):
                old, new = writer.get(attribute, 0), reader.get(attribute, 0)
                if old != new:
                    self.fail(path, f"decimal {attribute} of {_subject(field)} changed from "
                                    f"{old} to {new}: the stored numbers would change meaning")


def can_read(reader: Schema, writer: Schema) -> list[Incompatibility]:
    """Everything that stops data written with `writer` from being read with `reader`
    (an empty list: compatible). Paths start with the reader's top-level type name."""
    checker = _Checker(reader, writer)
    root = checker.readers.resolve(reader, None)
    checker.check(reader, writer, _label(root), None, (None, None))
    return checker.found


def check_backward_transitive(new: Schema, earlier: Sequence[Schema]) -> list[Incompatibility]:
    """Everything that stops `new` from reading data written by any earlier version
    (BACKWARD_TRANSITIVE). Versions are numbered from 1 (v1 is earlier[0]) and each finding's
    message starts with the version it concerns: "[v2] field 'price' ..."."""
    return [
        Incompatibility(issue.path, f"[v{number}] {issue.message}")
        for number, old in enumerate(earlier, start=1)
        for issue in can_read(new, old)
    ]
