"""The schema history check that `make test` runs first: an incompatible edit fails, naming the
field; a compatible one must be frozen as a new version."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from services.bus import schemas

SALE = "org.vivres.sales.SaleRecorded"


@pytest.fixture
def repo_schemas(tmp_path: Path) -> Path:
    root = tmp_path / "schemas"
    shutil.copytree(schemas.SCHEMA_DIR, root)
    return root


def _edit(root: Path, change) -> None:
    path = root / "sales" / "SaleRecorded.avsc"
    schema = json.loads(path.read_text())
    change(schema)
    path.write_text(json.dumps(schema, indent=2))


def _line_fields(schema: dict) -> list[dict]:
    lines = next(f for f in schema["fields"] if f["name"] == "lines")
    return lines["type"]["items"]["fields"]


def test_the_repository_schemas_pass() -> None:
    assert schemas.check() == []


def test_every_released_version_is_kept() -> None:
    for name in schemas.load_current():
        assert schemas.load_history(name), f"{name} has no frozen version"


def test_an_incompatible_edit_is_reported_with_its_field(repo_schemas: Path) -> None:
    _edit(repo_schemas, lambda s: _line_fields(s).append({"name": "organic", "type": "boolean"}))
    [problem] = schemas.incompatibilities(repo_schemas)
    assert "org.vivres.sales.SaleRecorded.lines[].organic" in problem
    assert "v1" in problem and "without a default" in problem


def test_a_compatible_edit_must_be_frozen_then_passes(repo_schemas: Path) -> None:
    _edit(repo_schemas, lambda s: _line_fields(s).append(
        {"name": "organic", "type": "boolean", "default": False}))
    assert schemas.incompatibilities(repo_schemas) == []
    assert any("vivres schemas freeze" in p for p in schemas.check(repo_schemas))
    [written] = schemas.freeze(repo_schemas)
    assert written.name == "v2.avsc"
    assert schemas.check(repo_schemas) == []


def test_the_cli_fails_the_build_and_names_the_field(repo_schemas: Path) -> None:
    _edit(repo_schemas, lambda s: next(
        f for f in s["fields"] if f["name"] == "ticket_number").update(type="string"))
    result = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "schemas", "check", "--dir", str(repo_schemas)],
        capture_output=True, text=True, env={"VIVRES_LANG": "en", "PATH": ""},
    )
    assert result.returncode == 1
    assert f"{SALE}.ticket_number: type changed from long to string" in result.stderr
    refused = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "schemas", "freeze",
         "--dir", str(repo_schemas)],
        capture_output=True, text=True)
    assert refused.returncode == 1
    assert not (repo_schemas / "history" / SALE / "v2.avsc").exists()
