"""What an HTTP API of Vivres documents besides its routes' own schemas: the bearer scheme, and
every error answer a route can give, with one shape (`Problem`).

FastAPI documents a route's success and its 422; the rest are written once here, from what the
route is: one that takes a token answers 401 (no, unknown or revoked token), 403 (a token of
another role or subject) and 503 (the token table is not current, so a revocation could be
missing); one with a path parameter answers 404; one with a body answers 400 when it is not
JSON. What only some routes answer (409, 413, 504…)
they declare themselves with `errors(...)`.
The API fuzz test (tests/integration/test_api_fuzz.py) fails on any status it sees that the
document does not give for that route.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Body, FastAPI, Header  # noqa: F401 - Header: read in annotations
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts

BEARER = {"type": "http", "scheme": "bearer",
          "description": "A token from `vivres tokens issue` (or the directory's page), sent "
                         "as `Authorization: Bearer <token>`; its role and subject decide what "
                         "it may read and write."}
PROBLEM = {
    "title": "Problem",
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {
        "description": "A sentence, or (422 and the refusals located at a field) one entry "
                       "per field: its location, the message, its type and, for people, `fr`.",
        "anyOf": [{"type": "string"}, {"type": "array", "items": {
            "type": "object", "required": ["loc", "msg", "type"],
            "properties": {"loc": {"type": "array", "items": {
                "anyOf": [{"type": "string"}, {"type": "integer"}]}},
                "msg": {"type": "string"}, "type": {"type": "string"},
                "fr": {"type": "string"}}}}]}},
}
WHY = {
    400: "The body cannot be read as JSON.",
    401: "No token, or an unknown or revoked one.",
    403: "The token's role or subject may not do this.",
    404: "No such resource.",
    409: "The request conflicts with what is recorded (said in `detail`).",
    413: "The body is larger than the route takes (`detail` says its limit).",
    422: "A field is missing or invalid (`detail` names each).",
    503: "The service cannot answer right now (Kafka or the registry is away): ask again.",
    504: "The service behind did not answer in time: ask again with the same request id.",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route's own error answers, e.g. `errors(409, 504)`."""
    return {status: {"description": WHY[status]} for status in statuses}


def depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(d.call is call or depends_on(d, call) for d in dependant.dependencies)


def document(app: FastAPI, authenticated: Callable[[Any], bool]) -> None:
    """Make `app.openapi()` give the bearer scheme and every route's error answers in the
    `Problem` shape."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = plain()
        components = doc.setdefault("components", {})
        components.setdefault("securitySchemes", {})["bearer"] = BEARER
        components.setdefault("schemas", {})["Problem"] = PROBLEM
        for route in iter_route_contexts(app.routes):  # with the routers' prefixes
            if getattr(route, "dependant", None) is not None and route.include_in_schema:
                for method in route.methods:
                    operation = doc["paths"][route.path_format][method.lower()]
                    _document_route(operation, route, authenticated(route))
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def _document_route(operation: dict[str, Any], route: Any, authenticated: bool) -> None:
    statuses = {int(s) for s in operation.get("responses", {}) if s.isdigit() and int(s) >= 400}
    if authenticated:
        operation["security"] = [{"bearer": []}]
        statuses |= {401, 403, 503}
    if route.dependant.path_params:
        statuses.add(404)
    if route.dependant.body_params:
        statuses |= {400, 422}
    if (route.dependant.body_params or route.dependant.query_params
            or route.dependant.header_params):
        statuses.add(422)
    responses = operation.setdefault("responses", {})
    for status in sorted(statuses):
        answer = responses.setdefault(str(status), {})
        if status != 422:  # FastAPI's own 422 keeps its description; its shape is ours too
            answer["description"] = answer.get("description") or WHY[status]
        answer["content"] = {"application/json": {
            "schema": {"$ref": "#/components/schemas/Problem"}}}


SIGNED = ("Signed the Standard Webhooks way: `webhook-id` (the same on every retry: drop a "
          "repeat), `webhook-timestamp` (refuse one more than 5 minutes off) and "
          "`webhook-signature` (`v1,` and the base64 HMAC-SHA256 of id.timestamp.body under "
          "the secret; several when the secret is being rotated). Answer 2xx; anything else "
          "is retried with backoff.")


def webhook(app: FastAPI, name: str, body: Any, summary: str) -> None:
    """Document a webhook Vivres POSTs (OpenAPI 3.1 `webhooks`): its body and signed headers."""

    def delivery(
        payload: Any,  # the body's type, set below (the annotation is a string here)
        webhook_id: Annotated[str, Header(alias="webhook-id")],
        webhook_timestamp: Annotated[int, Header(alias="webhook-timestamp")],
        webhook_signature: Annotated[str, Header(alias="webhook-signature")],
        x_vivres_event: Annotated[str | None, Header(
            alias="X-Vivres-Event", description="The event's name, on demand deliveries "
                                                "(a receiver may take several).")] = None,
    ) -> None: ...

    delivery.__annotations__["payload"] = Annotated[body, Body()]
    app.webhooks.post(name, summary=summary, description=SIGNED,
                      responses={200: {"description": "Received (any 2xx)."}})(delivery)
