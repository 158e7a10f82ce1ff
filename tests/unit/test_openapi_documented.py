"""What the OpenAPI documents give besides the routes' schemas (services/bus/openapi.py): the
bearer scheme on every route that takes a token, every error answer in one shape, the event
streams and the webhooks Vivres sends. The API fuzz test checks the answers seen against it."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from services.gateway.app import GatewayDeps, create_app
from services.health.app import create_app as create_health_app

PUBLIC = {("get", "/healthz"), ("get", "/v1/catalog/products"), ("get", "/asyncapi.yaml"),
          ("get", "/schemas/{area}/{name}"), ("get", "/v1/dfc/products"),
          ("get", "/v1/dfc/products/{product_id}"), ("get", "/v1/dfc/ns")}


def gateway_doc() -> dict:
    return create_app(GatewayDeps(publisher=None, tokens={}, products={}, mappings={},
                                  unmapped={}, stock={}, offers={}, orders={})).openapi()


def health_doc() -> dict:
    return create_health_app(lambda: None, lambda: None, CollectorRegistry()).openapi()


def operations(doc: dict):
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def test_every_route_that_takes_a_token_says_so_and_documents_401_403_503() -> None:
    for doc in (gateway_doc(), health_doc()):
        assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        for method, path, operation in operations(doc):
            if (method, path) in PUBLIC:
                assert "security" not in operation, path
                continue
            assert operation["security"] == [{"bearer": []}], (method, path)
            assert {"401", "403", "503"} <= set(operation["responses"]), (method, path)


def test_every_error_answer_has_the_problem_shape_and_a_description() -> None:
    doc = gateway_doc()
    assert doc["components"]["schemas"]["Problem"]["required"] == ["detail"]
    for method, path, operation in operations(doc):
        for status, answer in operation["responses"].items():
            if int(status) >= 400:
                assert answer["description"], (method, path, status)
                assert answer["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"}, (method, path, status)
        if "{" in path:
            assert "404" in operation["responses"], (method, path)
        if "requestBody" in operation:
            assert {"400", "422"} <= set(operation["responses"]), (method, path)


def test_the_caisse_documents_its_conflicts_and_ask_again() -> None:
    paths = gateway_doc()["paths"]
    for path in ("/v1/caisse/redemptions", "/v1/caisse/refunds", "/v1/caisse/credits"):
        assert {"409", "504"} <= set(paths[path]["post"]["responses"]), path
    assert "504" in paths["/v1/caisse/households"]["post"]["responses"]


def test_the_event_streams_say_what_their_events_are() -> None:
    paths = gateway_doc()["paths"]
    for path, event in (("/v1/demand/stream", "signal"), ("/v1/planning/stream", "coverage")):
        answer = paths[path]["get"]["responses"]["200"]
        assert "text/event-stream" in answer["content"]
        assert f"event: {event}" in answer["description"]
        assert "Last-Event-ID" in answer["description"]


def test_the_webhooks_vivres_sends_are_documented_with_their_signed_headers() -> None:
    signed = {"webhook-id", "webhook-timestamp", "webhook-signature"}
    for doc, names in ((gateway_doc(), {"demand.signal", "planning.coverage"}),
                       (health_doc(), {"health.alert"})):
        assert set(doc["webhooks"]) == names
        for name in names:
            post = doc["webhooks"][name]["post"]
            assert signed <= {p["name"] for p in post["parameters"] if p["in"] == "header"}
            assert "application/json" in post["requestBody"]["content"]
    signal = gateway_doc()["webhooks"]["demand.signal"]["post"]["requestBody"]
    assert signal["content"]["application/json"]["schema"]["$ref"].endswith(
        "DemandSignalRecorded")


def test_the_dfc_import_documents_its_body_and_its_size_limit() -> None:
    paths = gateway_doc()["paths"]
    post = paths["/v1/dfc/producers/{producer_id}/catalog"]["post"]
    assert set(post["requestBody"]["content"]) == {"application/ld+json", "application/json"}
    assert {"400", "403", "413", "422"} <= set(post["responses"])
    for path in ("/v1/dfc/products", "/v1/dfc/producers/{producer_id}/catalog",
                 "/v1/dfc/orders", "/v1/dfc/ns"):
        answer = paths[path]["get"]["responses"]["200"]
        assert set(answer["content"]) == {"application/ld+json"}, path


def test_the_dfc_links_document_every_answer_they_give() -> None:
    links = gateway_doc()["paths"]["/v1/dfc/producers/{producer_id}/links"]
    assert {"201", "400", "401", "403", "404", "422", "503"} <= set(links["post"]["responses"])
    assert {"200", "401", "403", "404", "422", "503"} <= set(links["get"]["responses"])
    answer = links["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert answer["$ref"].endswith("/DfcProductLinked")
