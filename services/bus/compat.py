"""Avro schema resolution (Avro 1.11 specification), as a compatibility check.

`can_read(reader, writer)` lists everything that stops data written with `writer` from being read
with `reader`; each finding names the field it is about, so a failing check says what to fix.
Pure: schemas are the parsed JSON of .avsc files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any] | list[Any] | str

PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
PROMOTIONS = {
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
}
NAMED = {"record", "enum", "fixed", "error"}


@dataclass(frozen=True)
class Incompatibility:
    """One reason data written with the old schema cannot be read with the new one."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class _Names:
    """Named types of one schema by full name, so references by name resolve."""

    def __init__(self, schema: Schema) -> None:
        self.types: dict[str, dict[str, Any]] = {}
        self._collect(schema, None)

    def _collect(self, schema: Schema, namespace: str | None) -> None:
        if isinstance(schema, list):
            for branch in schema:
                self._collect(branch, namespace)
        elif isinstance(schema, dict):
            kind = schema.get("type")
            if kind in NAMED:
                name = _full(schema["name"], schema.get("namespace", namespace))
                self.types[name] = {**schema, "_full": name}
                namespace = name.rpartition(".")[0] or None
                for field in schema.get("fields", ()):
                    self._collect(field["type"], namespace)
            elif kind == "array":
                self._collect(schema["items"], namespace)
            elif kind == "map":
                self._collect(schema["values"], namespace)
            elif isinstance(kind, dict | list):
                self._collect(kind, namespace)

    def resolve(self, schema: Schema, namespace: str | None = None) -> Schema:
        """The schema with a name reference replaced by the named type it refers to."""
        if isinstance(schema, str) and schema not in PRIMITIVES:
            return self.types.get(schema) or self.types.get(_full(schema, namespace)) or schema
        if isinstance(schema, dict):
            kind = schema.get("type")
            if kind in NAMED:
                return self.types.get(_full(schema["name"], schema.get("namespace", namespace)),
                                      schema)
            if isinstance(kind, str) and kind not in PRIMITIVES and kind not in ("array", "map"):
                return self.resolve(kind, namespace)
        return schema


def _full(name: str, namespace: str | None) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _kind(schema: Schema) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, str):
        return schema
    kind = schema["type"]
    return kind if isinstance(kind, str) else _kind(kind)


def _label(schema: Schema) -> str:
    if isinstance(schema, dict) and "_full" in schema:
        return schema["_full"]
    if isinstance(schema, dict) and schema.get("logicalType"):
        return f"{schema['type']} ({schema['logicalType']})"
    return "union" if isinstance(schema, list) else _kind(schema)


class _Checker:
    def __init__(self, reader: Schema, writer: Schema) -> None:
        self.readers = _Names(reader)
        self.writers = _Names(writer)
        self.seen: set[tuple[str, str]] = set()  # record pairs in progress (recursive types)
        self.found: list[Incompatibility] = []

    def fail(self, path: str, message: str) -> None:
        self.found.append(Incompatibility(path, message))

    def check(self, reader: Schema, writer: Schema, path: str, namespace: tuple = (None, None)):
        reader = self.readers.resolve(reader, namespace[0])
        writer = self.writers.resolve(writer, namespace[1])
        r_kind, w_kind = _kind(reader), _kind(writer)
        if w_kind == "union":
            for branch in writer:
                branch = self.writers.resolve(branch, namespace[1])
                if not self.matches(reader, branch, namespace):
                    self.fail(path, f"the new type {_label(reader)} cannot hold the earlier "
                                    f"union branch {_label(branch)}")
                else:
                    self.check(reader, branch, f"{path}|{_label(branch)}", namespace)
            return
        if r_kind == "union":
            branch = next((b for b in reader if self.matches(b, writer, namespace)), None)
            if branch is None:
                self.fail(path, f"type changed from {_label(writer)} to a union without it")
            else:
                self.check(branch, writer, path, namespace)
            return
        if r_kind != w_kind and r_kind not in PROMOTIONS.get(w_kind, ()):
            self.fail(path, f"type changed from {_label(writer)} to {_label(reader)}, "
                            "which Avro cannot promote")
            return
        if r_kind in ("record", "error"):
            self.record(reader, writer, path)
        elif r_kind == "enum":
            self.enum(reader, writer, path)
        elif r_kind == "fixed":
            self.named(reader, writer, path)
            if reader.get("size") != writer.get("size"):
                self.fail(path, f"fixed size changed from {writer.get('size')} to "
                                f"{reader.get('size')}")
        elif r_kind == "array":
            self.check(reader["items"], writer["items"], f"{path}[]", namespace)
        elif r_kind == "map":
            self.check(reader["values"], writer["values"], f"{path}{{}}", namespace)
        else:
            self.logical(reader, writer, path)

    def matches(self, reader: Schema, writer: Schema, namespace: tuple) -> bool:
        """Whether a writer branch can be read by this reader branch at all (by kind and name)."""
        reader = self.readers.resolve(reader, namespace[0])
        writer = self.writers.resolve(writer, namespace[1])
        r_kind, w_kind = _kind(reader), _kind(writer)
        if r_kind == "union":
            return any(self.matches(b, writer, namespace) for b in reader)
        if r_kind in NAMED and r_kind == w_kind:
            return self._same_name(reader, writer)
        return r_kind == w_kind or r_kind in PROMOTIONS.get(w_kind, ())

    def _same_name(self, reader: dict[str, Any], writer: dict[str, Any]) -> bool:
        names = {reader.get("_full"), reader.get("name")}
        namespace = (reader.get("_full") or "").rpartition(".")[0] or None
        names |= {_full(alias, namespace) for alias in reader.get("aliases", ())}
        names |= set(reader.get("aliases", ()))
        return writer.get("_full") in names or writer.get("name") in names

    def named(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> bool:
        if self._same_name(reader, writer):
            return True
        self.fail(path, f"type renamed from {writer.get('_full')} to {reader.get('_full')} "
                        "without an alias")
        return False

    def record(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> None:
        if not self.named(reader, writer, path):
            return
        key = (reader["_full"], writer["_full"])
        if key in self.seen:
            return
        self.seen.add(key)
        written = {f["name"]: f for f in writer["fields"]}
        namespaces = (reader["_full"].rpartition(".")[0] or None,
                      writer["_full"].rpartition(".")[0] or None)
        for field in reader["fields"]:
            where = f"{path}.{field['name']}"
            source = written.get(field["name"]) or next(
                (written[a] for a in field.get("aliases", ()) if a in written), None)
            if source is not None:
                self.check(field["type"], source["type"], where, namespaces)
            elif "default" not in field:
                self.fail(where, f"field '{field['name']}' was added without a default: data "
                                 "written with the earlier schema has no value for it")

    def enum(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> None:
        if not self.named(reader, writer, path):
            return
        missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
        if missing and "default" not in reader:
            self.fail(path, f"enum {reader['_full']} lost symbol(s) {', '.join(missing)} "
                            "and has no default to read them as")

    def logical(self, reader: Schema, writer: Schema, path: str) -> None:
        if not (isinstance(reader, dict) and isinstance(writer, dict)):
            return
        if reader.get("logicalType") == writer.get("logicalType") == "decimal":
            for attribute in ("precision", "scale"):
                if reader.get(attribute, 0) != writer.get(attribute, 0):
                    self.fail(path, f"decimal {attribute} changed from "
                                    f"{writer.get(attribute, 0)} to {reader.get(attribute, 0)}: "
                                    "the stored numbers would change meaning")


def can_read(reader: Schema, writer: Schema) -> list[Incompatibility]:
    """Everything that stops data written with `writer` from being read with `reader`."""
    checker = _Checker(reader, writer)
    root = checker.readers.resolve(reader)
    path = root["_full"] if isinstance(root, dict) and "_full" in root else _label(root)
    checker.check(reader, writer, path)
    return checker.found


def check_backward_transitive(new: Schema, earlier: Sequence[Schema]) -> list[Incompatibility]:
    """What stops `new` from reading data written by any earlier version (v1 is earlier[0]);
    each finding's path starts with the version it concerns, e.g. "v2 org.x.Sale.price"."""
    found: list[Incompatibility] = []
    for number, old in enumerate(earlier, start=1):
        found += [Incompatibility(f"v{number} {i.path}", i.message) for i in can_read(new, old)]
    return found
