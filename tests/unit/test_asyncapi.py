"""docs/asyncapi.yaml is what services/bus/asyncapi.py makes from the catalog, the principals and
the schemas; it says what they say (channels, keys, retention, the Confluent schema-id framing,
each principal's operations as its ACLs allow them); a changed topic changes it, so the drift test
catches a catalog changed without it; the gateway serves it, with the schemas it refers to.

The AsyncAPI project's parser validates it in tests/checks/test_asyncapi.py."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from services.bus import access, asyncapi, catalog
from services.bus.access import Operation, Pattern, Resource
from services.bus.schemas import full_name
from services.gateway.app import GatewayDeps, create_app

DOC = asyncapi.document()
K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "generate.py"


def refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        own = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return own + [ref for v in value.values() for ref in refs(v)]
    if isinstance(value, list):
        return [ref for v in value for ref in refs(v)]
    return []


def pointed(ref: str) -> Any:
    found: Any = DOC
    for part in ref.removeprefix("#/").split("/"):
        found = found[part]
    return found


# --- the committed file is the generator's ----------------------------------------------------


def test_the_committed_document_is_what_the_generator_makes() -> None:
    assert asyncapi.DOCUMENT.read_text(encoding="utf-8") == asyncapi.render(), (
        "docs/asyncapi.yaml differs from what the catalog, access.py and schemas/ give: run "
        "`.venv/bin/vivres asyncapi`")


def test_a_topic_changed_without_the_document_is_caught() -> None:
    committed = asyncapi.DOCUMENT.read_text(encoding="utf-8")
    changes = {
        "partitions": dict(partitions=12),
        "retention": dict(retention_ms=3 * catalog.DAY_MS),
        "key": dict(key="till_id"),
        "cleanup": dict(cleanup="compact"),
    }
    for what, change in changes.items():
        topics = tuple(dataclasses.replace(t, **change) if t is catalog.SALES else t
                       for t in catalog.TOPICS)
        assert asyncapi.render(asyncapi.document(topics)) != committed, what
    fewer = tuple(t for t in catalog.TOPICS if t is not catalog.STOCK_ALERTS)
    assert asyncapi.render(asyncapi.document(fewer, ())) != committed


# --- it says what the catalog says ------------------------------------------------------------


def test_each_topic_is_a_channel_with_its_partitions_retention_and_key() -> None:
    assert list(DOC["channels"]) == [name for t in catalog.TOPICS
                                     for name in (t.name, t.dead_letter)]
    for topic in catalog.TOPICS:
        channel = DOC["channels"][topic.name]
        kafka = channel["bindings"]["kafka"]
        assert channel["address"] == topic.name
        assert kafka["partitions"] == topic.partitions
        assert kafka["replicas"] == topic.replication_factor
        config = kafka["topicConfiguration"]
        assert config["cleanup.policy"] == [topic.cleanup]
        assert config["retention.ms"] == topic.retention_ms
        assert config["min.insync.replicas"] == topic.min_insync_replicas
        (message,) = channel["messages"].values()
        assert message["name"] == topic.schema_name
        assert f"`{topic.key}`" in message["bindings"]["kafka"]["key"]["description"]
        dead = DOC["channels"][topic.dead_letter]["bindings"]["kafka"]
        assert dead["partitions"] == topic.dead_letter_partitions
        assert dead["topicConfiguration"]["retention.ms"] == topic.dead_letter_retention_ms


def test_messages_are_confluent_framed_avro_referring_to_the_avsc_files() -> None:
    for topic in catalog.TOPICS:
        (message,) = DOC["channels"][topic.name]["messages"].values()
        kafka = message["bindings"]["kafka"]
        # magic byte, 4-byte id in the value; subject <topic>-value (services/bus/codec.py)
        assert (kafka["schemaIdLocation"], kafka["schemaIdPayloadEncoding"],
                kafka["schemaLookupStrategy"]) == ("payload", "confluent", "TopicNameStrategy")
        assert topic.subject == f"{topic.name}-value"
        payload = pointed(message["payload"]["$ref"])
        assert payload["schemaFormat"].startswith("application/vnd.apache.avro")
        avsc = (asyncapi.DOCUMENT.parent / payload["schema"]["$ref"]).resolve()
        assert full_name(json.loads(avsc.read_text(encoding="utf-8"))) == topic.schema_name


def test_every_internal_reference_points_at_something() -> None:
    for ref in refs(DOC):
        if ref.startswith("#/"):
            assert pointed(ref) is not None, ref
        else:
            assert (asyncapi.DOCUMENT.parent / ref).is_file(), ref


def test_the_headers_are_the_ones_the_publisher_writes() -> None:
    headers = DOC["components"]["schemas"]["CloudEventHeaders"]
    assert {"ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time"} <= set(
        headers["required"])
    assert all(p["description"] for p in headers["properties"].values()), (
        "a header without a description: add it to asyncapi.HEADER_DOCS")


# --- operations are the principals' ACLs --------------------------------------------------------


def acl_uses(principal: access.Principal) -> set[tuple[str, str]]:
    """(action, topic) of each literal READ or WRITE topic ACL (not faust's prefixes, not *)."""
    action = {Operation.WRITE: "send", Operation.READ: "receive"}
    return {(action[acl.operation], acl.name) for acl in principal.acls()
            if acl.resource == Resource.TOPIC and acl.pattern == Pattern.LITERAL
            and acl.operation in action and acl.name != access.ANY}


def test_each_principal_sends_and_receives_what_its_acls_allow() -> None:
    for principal in access.PRINCIPALS:
        documented = {(op["action"], op["channel"]["$ref"].removeprefix("#/channels/"))
                      for op in DOC["operations"].values()
                      if op["tags"] == [{"$ref": f"#/components/tags/{principal.user}"}]}
        assert documented == acl_uses(principal), principal.user


def test_a_consumer_group_is_named_on_what_it_consumes() -> None:
    for principal in access.PRINCIPALS:
        for name in principal.consumes:
            operation = DOC["operations"][f"{principal.user}.receive.{name}"]
            groups = operation["bindings"]["kafka"]["groupId"]["enum"]
            assert groups == list(principal.groups[:1]), (principal.user, name)


def test_a_principal_that_writes_a_new_topic_gets_an_operation() -> None:
    gateway = dataclasses.replace(access.by_user("vivres-gateway"), reads=(),
                                  writes=(catalog.STOCK_ALERTS.name,))
    doc = asyncapi.document(principals=(gateway,))
    assert list(doc["operations"]) == ["vivres-gateway.send.stock.alerts"]


# --- servers --------------------------------------------------------------------------------------


def test_the_kubernetes_server_is_deploy_k8s_one() -> None:
    spec = importlib.util.spec_from_file_location("vivres_k8s_generate_asyncapi", K8S)
    assert spec and spec.loader
    generate = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = generate  # dataclasses look their module up
    spec.loader.exec_module(generate)
    server = DOC["servers"]["kubernetes"]
    assert server["host"] == generate.BOOTSTRAP
    assert server["bindings"]["kafka"]["schemaRegistryUrl"] == generate.REGISTRY_URL


# --- served by the gateway ------------------------------------------------------------------------


async def test_the_gateway_serves_the_document_and_the_schemas_it_refers_to() -> None:
    app = create_app(GatewayDeps(publisher=None, tokens={}, products={}, mappings={},
                                 unmapped={}, stock={}, offers={}, orders={}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.get("/asyncapi.yaml")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/yaml")
        assert answer.text == asyncapi.DOCUMENT.read_text(encoding="utf-8")
        for ref in {ref for ref in refs(DOC) if not ref.startswith("#")}:
            url = urljoin("http://test/asyncapi.yaml", ref)  # as a reader resolves it
            schema = await client.get(url)
            assert schema.status_code == 200, url
            assert schema.content == (asyncapi.DOCUMENT.parent / ref).read_bytes(), url
        for missing in ("/schemas/history/x.avsc", "/schemas/sales/Nothing.avsc"):
            assert (await client.get(missing)).status_code == 404, missing


def test_the_cli_writes_the_document_and_its_check_fails_while_it_is_stale(
    tmp_path, monkeypatch
) -> None:
    from click.testing import CliRunner

    from services.cli.main import main

    monkeypatch.setenv("VIVRES_LANG", "en")
    target = tmp_path / "docs" / "asyncapi.yaml"
    target.parent.mkdir()
    target.write_text("asyncapi: 3.0.0\n", encoding="utf-8")  # a topic added since
    monkeypatch.setattr(asyncapi, "DOCUMENT", target)
    runner = CliRunner()
    stale = runner.invoke(main, ["asyncapi", "--check"])
    assert stale.exit_code == 1 and target.read_text() == "asyncapi: 3.0.0\n"
    assert runner.invoke(main, ["asyncapi"]).exit_code == 0
    assert target.read_text(encoding="utf-8") == asyncapi.render()
    assert runner.invoke(main, ["asyncapi", "--check"]).exit_code == 0
