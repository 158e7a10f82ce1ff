"""A client for any Confluent-compatible schema registry (Apicurio ccompat, Confluent, Karapace)."""

from __future__ import annotations

import json
from typing import Any, Literal

import httpx

Compatibility = Literal[
    "NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
    "FULL", "FULL_TRANSITIVE",
]
_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryError(Exception):
    """The registry refused a request or could not be reached."""


class NotFound(RegistryError):
    """The registry does not know this subject, version or schema id."""


class SchemaRegistry:
    """Registers schemas under subjects and resolves ids to schemas, caching what never changes.

    An id always names the same schema, so lookups by id are cached for the life of the client.
    """

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.url, timeout=timeout_s,
            headers={"Content-Type": _CONTENT_TYPE, "Accept": _CONTENT_TYPE},
        )
        self._by_id: dict[int, dict[str, Any]] = {}
        self._ids: dict[tuple[str, str], int] = {}

    async def __aenter__(self) -> SchemaRegistry:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def register(self, subject: str, schema: dict[str, Any]) -> int:
        """The id of `schema` under `subject`, registering it as a new version if it is new."""
        text = json.dumps(schema, separators=(",", ":"), sort_keys=True)
        if (subject, text) in self._ids:
            return self._ids[(subject, text)]
        body = await self._request(
            "POST", f"/subjects/{subject}/versions", json={"schema": text, "schemaType": "AVRO"}
        )
        schema_id = int(body["id"])
        self._ids[(subject, text)] = schema_id
        self._by_id[schema_id] = schema
        return schema_id

    async def schema(self, schema_id: int) -> dict[str, Any]:
        """The schema with this id."""
        if schema_id not in self._by_id:
            body = await self._request("GET", f"/schemas/ids/{schema_id}")
            self._by_id[schema_id] = json.loads(body["schema"])
        return self._by_id[schema_id]

    async def versions(self, subject: str) -> list[int]:
        """The registered version numbers of a subject ([] when the subject is unknown)."""
        try:
            return list(await self._request("GET", f"/subjects/{subject}/versions"))
        except NotFound:
            return []

    async def compatibility(self, subject: str | None = None) -> str | None:
        path = f"/config/{subject}" if subject else "/config"
        try:
            body = await self._request("GET", path)
        except NotFound:
            return None
        return body.get("compatibilityLevel") or body.get("compatibility")

    async def set_compatibility(self, level: Compatibility, subject: str | None = None) -> None:
        path = f"/config/{subject}" if subject else "/config"
        await self._request("PUT", path, json={"compatibility": level})

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as err:
            raise RegistryError(f"schema registry at {self.url} unreachable: {err}") from err
        if response.status_code == 404:
            raise NotFound(f"{method} {path} -> 404: {response.text[:500]}")
        if response.status_code >= 400:
            raise RegistryError(
                f"{method} {path} -> {response.status_code}: {response.text[:500]}"
            )
        return response.json()
