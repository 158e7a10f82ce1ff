"""The bus's contract, beside the HTTP API's own (`/openapi.json`, `/docs`): the AsyncAPI document
of the Kafka topics and the Avro schemas it refers to, so that a till vendor or an integrator
reads topics, keys, schemas and who may write them from the gateway.

`GET /asyncapi.yaml`: the document, the same text as docs/asyncapi.yaml (services.bus.asyncapi).
`GET /schemas/{area}/{name}`: a current schema (`schemas/<area>/<Name>.avsc`). The document's
references (`../schemas/<area>/<Name>.avsc`, relative to docs/) resolve here too: above the
root, `..` stays at the root (RFC 3986, 5.2.4).
"""

from __future__ import annotations

from functools import cache

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from services.bus import asyncapi
from services.bus.schemas import SCHEMA_DIR, load_current

router = APIRouter(tags=["contract"])


class YamlResponse(Response):
    media_type = "application/yaml"


class AvroSchemaResponse(Response):
    media_type = "application/json"


@cache
def _document() -> str:
    return asyncapi.render()


@cache
def _schemas() -> dict[str, bytes]:
    """The current schemas' files by their path under schemas/ ("sales/SaleRecorded.avsc")."""
    return {found.path.relative_to(SCHEMA_DIR).as_posix(): found.path.read_bytes()
            for found in load_current().values()}


@router.get("/asyncapi.yaml", response_class=YamlResponse,
            responses={200: {"description": "The AsyncAPI 3.0 document of the bus."}})
async def asyncapi_document() -> Response:
    """The Kafka topics as AsyncAPI 3.0: channels (partitions, key, retention, the Confluent
    schema-id framing), each service's send and receive operations, messages referring to their
    Avro schemas."""
    return YamlResponse(_document())


@router.get("/schemas/{area}/{name}", response_class=AvroSchemaResponse,
            responses={200: {"description": "The Avro schema (.avsc) as committed.",
                              "content": {"application/json": {"schema": {"type": "object"}}}}})
async def avro_schema(area: str, name: str) -> Response:
    """A current Avro schema, e.g. `/schemas/sales/SaleRecorded.avsc`, as the AsyncAPI document
    refers to it (earlier versions: the registry's subject `<topic>-value`)."""
    found = _schemas().get(f"{area}/{name}")
    if found is None:
        raise HTTPException(404, f"no schema schemas/{area}/{name}")
    return AvroSchemaResponse(found)
