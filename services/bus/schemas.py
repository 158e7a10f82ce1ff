"""The `.avsc` files under schemas/: the single source of truth of the wire contract.

Each event has one current schema, `schemas/<area>/<Name>.avsc`, and the versions it has had,
frozen under `schemas/history/<full.name>/v<N>.avsc`. A current schema must be readable-compatible
with every frozen version (BACKWARD_TRANSITIVE, as the registry enforces) and must itself be
frozen as the newest version, so the history never misses a release.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.bus.compat import can_read

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
HISTORY = "history"


@dataclass(frozen=True)
class SchemaFile:
    full_name: str
    path: Path
    schema: dict[str, Any]


def full_name(schema: dict[str, Any]) -> str:
    name = schema["name"]
    namespace = schema.get("namespace")
    return name if "." in name or not namespace else f"{namespace}.{name}"


def load_current(root: Path = SCHEMA_DIR) -> dict[str, SchemaFile]:
    """Every current schema by Avro full name."""
    found: dict[str, SchemaFile] = {}
    for path in sorted(root.rglob("*.avsc")):
        if HISTORY in path.relative_to(root).parts:
            continue
        schema = json.loads(path.read_text(encoding="utf-8"))
        name = full_name(schema)
        if name in found:
            raise ValueError(f"{name} is defined twice: {found[name].path} and {path}")
        found[name] = SchemaFile(name, path, schema)
    return found


def load_history(name: str, root: Path = SCHEMA_DIR) -> list[dict[str, Any]]:
    """The frozen versions of a schema, oldest first (v1, v2, ...)."""
    folder = root / HISTORY / name
    paths = sorted(folder.glob("v*.avsc"), key=lambda p: int(p.stem[1:]))
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths]


def schema(name: str, root: Path = SCHEMA_DIR) -> dict[str, Any]:
    """The current schema with this Avro full name."""
    try:
        return load_current(root)[name].schema
    except KeyError:
        raise KeyError(f"no schema named {name} under {root}") from None


def incompatibilities(root: Path = SCHEMA_DIR) -> list[str]:
    """Where a current schema cannot read a frozen version, naming schema, version and field."""
    problems: list[str] = []
    for name, current in load_current(root).items():
        for number, earlier in enumerate(load_history(name, root), start=1):
            for issue in can_read(current.schema, earlier):
                problems.append(
                    f"{name} ({current.path.relative_to(root)}) cannot read data written with "
                    f"v{number}: {issue}"
                )
    return problems


def check(root: Path = SCHEMA_DIR) -> list[str]:
    """Every problem with the schemas under root: incompatibilities, then unfrozen changes."""
    problems = incompatibilities(root)
    for name, current in load_current(root).items():
        versions = load_history(name, root)
        if not versions or versions[-1] != current.schema:
            problems.append(
                f"{name} differs from its newest frozen version: once it is compatible, "
                f"record it with `vivres schemas freeze`"
            )
    return problems


def freeze(root: Path = SCHEMA_DIR) -> list[Path]:
    """Record each current schema that differs from its newest frozen version as a new version.

    Callers check `incompatibilities()` first: an incompatible schema must not become a version.
    """
    written: list[Path] = []
    for name, current in load_current(root).items():
        versions = load_history(name, root)
        if versions and versions[-1] == current.schema:
            continue
        folder = root / HISTORY / name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"v{len(versions) + 1}.avsc"
        path.write_text(current.path.read_text(encoding="utf-8"), encoding="utf-8")
        written.append(path)
    return written
