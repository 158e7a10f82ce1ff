"""docs/asyncapi.yaml is a valid AsyncAPI 3.0 document for the AsyncAPI project's own parser
(@asyncapi/parser, with @asyncapi/avro-schema-parser reading each referenced .avsc as Avro), and
the parser reads back what the generator meant: each channel's address, Kafka binding, message
and payload fields, each operation's action and channel. Broken copies are refused, so that a
lenient parser cannot let a wrong document through.

The parser is installed from npm, pinned by tests/checks/js/package-lock.json, by `make
asyncapi-parser` (`make test` does it first); without it these tests fail, naming that target.
The drift test (generated == committed) is tests/unit/test_asyncapi.py."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from services.bus import asyncapi
from services.bus.schemas import SCHEMA_DIR, load_current

JS = Path(__file__).resolve().parent / "js"
SCRIPT = JS / "asyncapi-parse.mjs"
PINNED = json.loads((JS / "package.json").read_text(encoding="utf-8"))["dependencies"]
BLOCKING = {"error", "warning"}


def parse(path: Path) -> dict[str, Any]:
    """The parser's report on the document at `path` (its $refs resolved from its directory)."""
    node = shutil.which("node")
    if node is None or not (JS / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.fail("the AsyncAPI parser is missing: run `make asyncapi-parser` once (`make test` "
                    "does; it needs Node.js and npm)", pytrace=False)
    result = subprocess.run([node, str(SCRIPT), str(path)], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0 and result.stdout, result.stderr
    return json.loads(result.stdout)


def blocking(report: dict[str, Any]) -> list[str]:
    return [f"{d['severity']} {d['code']} at {d['path']}: {d['message']}"
            for d in report["diagnostics"] if d["severity"] in BLOCKING]


@cache
def committed() -> dict[str, Any]:
    return parse(asyncapi.DOCUMENT)


def test_the_committed_document_is_valid_for_the_pinned_parser() -> None:
    report = committed()
    assert report["parser"] == PINNED["@asyncapi/parser"]
    assert report["parsed"], blocking(report)
    assert not blocking(report), "\n".join(blocking(report))
    assert report["version"] == asyncapi.ASYNCAPI_VERSION


def test_the_parser_reads_back_the_channels_and_their_avro_payloads() -> None:
    doc = asyncapi.document()
    fields = {name: [f["name"] for f in found.schema["fields"]]
              for name, found in load_current().items()}
    parsed = committed()["channels"]
    assert list(parsed) == list(doc["channels"])
    for name, channel in doc["channels"].items():
        kafka = {k: v for k, v in channel["bindings"]["kafka"].items() if k != "bindingVersion"}
        assert parsed[name]["address"] == channel["address"]
        assert parsed[name]["kafka"] == kafka, name
        for message_id, message in parsed[name]["messages"].items():
            if message_id == "DeadLetter":
                continue
            assert message["schemaFormat"] == asyncapi.AVRO, name
            assert message["fields"] == fields[message["name"]], name  # the .avsc was read
            assert message["key"]["type"] == "string", name


def test_the_parser_reads_back_each_principals_operations() -> None:
    doc = asyncapi.document()
    parsed = committed()["operations"]
    assert set(parsed) == set(doc["operations"])
    for op_id, operation in doc["operations"].items():
        assert parsed[op_id]["action"] == operation["action"]
        assert parsed[op_id]["channels"] == [operation["channel"]["$ref"].split("/")[-1]]


def _broken() -> dict[str, Any]:
    """The document with one wrong value in a binding, a reference and a schema of each kind."""
    doc = copy.deepcopy(asyncapi.document())
    channels = doc["channels"]
    channels["sales.tickets"]["bindings"]["kafka"]["partitions"] = 0
    channels["sales.refunds"]["bindings"]["kafka"]["topicConfiguration"]["cleanup.policy"] = [
        "forever"]
    channels["stock.counts"]["messages"]["StockCounted"]["bindings"]["kafka"][
        "schemaIdLocation"] = "trailer"
    first = next(iter(doc["operations"].values()))
    first["channel"] = {"$ref": "#/channels/nowhere"}
    doc["components"]["schemas"]["org.vivres.stock.WasteRecorded"]["schema"] = {
        "$ref": "../schemas/stock/Nothing.avsc"}
    return doc


def test_broken_copies_are_refused(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "schemas").symlink_to(SCHEMA_DIR, target_is_directory=True)
    path = tmp_path / "docs" / "asyncapi.yaml"
    path.write_text(asyncapi.render(_broken()), encoding="utf-8")
    errors = "\n".join(blocking(parse(path)))
    for where in ("channels/sales.tickets/bindings/kafka/partitions",
                  "channels/sales.refunds/bindings/kafka/topicConfiguration/cleanup.policy",
                  "channels/stock.counts/messages/StockCounted/bindings/kafka/schemaIdLocation",
                  "/channel/$ref", "Nothing.avsc"):
        assert where in errors, f"{where} not refused:\n{errors}"
