"""A small YAML emitter: block style, strings quoted unless plainly strings, comments carried
with the values (`Note`, `Doc`), so that generated files need nothing beyond the project's own
dependencies. Used by deploy/k8s/generate.py and services/bus/asyncapi.py.

What it writes reads back, with any YAML 1.1 or 1.2 parser, as `plain()` of what it was given.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


# --- a document, and comments carried with its values ------------------------------------------


@dataclass(frozen=True)
class Note:
    """A value with the comment lines written above its key (or list item)."""

    value: Any
    comment: str


@dataclass(frozen=True)
class Doc:
    body: dict[str, Any]
    comment: str = ""


def plain(value: Any) -> Any:
    """The data without its comments: what a YAML parser reads back."""
    if isinstance(value, Note):
        return plain(value.value)
    if isinstance(value, Doc):
        return plain(value.body)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


# --- the YAML emitter ---------------------------------------------------------------------------

_PLAIN = re.compile(r"[A-Za-z/][A-Za-z0-9_./-]*")
WIDTH = 100  # comments are wrapped to it
_RESERVED = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}  # YAML 1.1 and 1.2


def scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if _PLAIN.fullmatch(value) and value.lower() not in _RESERVED:
            return value
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted one
    raise TypeError(f"no YAML for {value!r}")


def _comment(text: str, indent: int) -> list[str]:
    pad = " " * indent + "# "
    return [pad + line for paragraph in text.splitlines()
            for line in textwrap.wrap(paragraph, WIDTH - len(pad), break_on_hyphens=False)
            or [""]]


def _empty(value: Any) -> str | None:
    """The value on its key's line: a scalar, an empty collection, a short list of scalars."""
    if isinstance(value, dict) and not value:
        return "{}"
    if isinstance(value, list) and not any(isinstance(v, dict | list | Note) for v in value):
        flow = "[" + ", ".join(scalar(v) for v in value) + "]"
        return flow if len(flow) <= 60 else None
    if not isinstance(value, dict | list):
        return scalar(value)
    return None


def _literal(value: Any) -> bool:
    """Whether a string reads back the same as a literal block (`|`: one final newline kept)."""
    if not isinstance(value, str) or "\n" not in value[:-1] or not value.endswith("\n"):
        return False
    lines = value[:-1].split("\n")
    return (not value.endswith("\n\n") and not lines[0].startswith(" ")
            and all(line == line.rstrip() and line.isprintable() for line in lines))


def _mapping(data: dict[str, Any], indent: int) -> list[str]:
    lines: list[str] = []
    pad = " " * indent
    for key, value in data.items():
        if isinstance(value, Note):
            lines += _comment(value.comment, indent)
            value = value.value
        inline = _empty(value)
        if _literal(value):  # a file's text, as a block: `key: |` and its lines
            lines.append(f"{pad}{scalar(key)}: |")
            lines += [f"{pad}  {line}" if line else "" for line in value[:-1].split("\n")]
        elif inline is not None:
            lines.append(f"{pad}{scalar(key)}: {inline}")
        else:
            lines.append(f"{pad}{scalar(key)}:")
            lines += _block(value, indent + 2)
    return lines


def _sequence(data: list[Any], indent: int) -> list[str]:
    lines: list[str] = []
    pad = " " * indent
    for value in data:
        if isinstance(value, Note):
            lines += _comment(value.comment, indent)
            value = value.value
        inline = _empty(value)
        if inline is not None:
            lines.append(f"{pad}- {inline}")
            continue
        nested = _block(value, indent + 2)
        lines.append(f"{pad}- {nested[0].lstrip()}")  # the first key on the dash's line
        lines += nested[1:]
    return lines


def _block(value: Any, indent: int) -> list[str]:
    if isinstance(value, dict):
        return _mapping(value, indent)
    return _sequence(value, indent)


def dump(docs: Iterable[Doc], header: str) -> str:
    out = _comment(header, 0)
    for doc in docs:
        out.append("---")
        if doc.comment:
            out += _comment(doc.comment, 0)
        out += _mapping(doc.body, 0)
    return "\n".join(out) + "\n"
