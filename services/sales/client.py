"""A client of the gateway's HTTP API, for the CSV importer, the simulator and till integrators."""

from __future__ import annotations

from typing import Any

import httpx

from services.sales.intake import SalesBatch

DEFAULT_URL = "http://127.0.0.1:8080"


class GatewayError(Exception):
    """The gateway refused a request; `status` and `detail` say why."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


class GatewayClient:
    """Calls the API with one bearer token (a shop's, to post its sales).
    `async with GatewayClient(...) as gateway:`."""

    def __init__(self, token: str, base_url: str = DEFAULT_URL, timeout_s: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_s,
                                       headers={"Authorization": f"Bearer {token}"},
                                       transport=transport)

    async def __aenter__(self) -> GatewayClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    async def post_sales(self, batch: SalesBatch) -> dict[str, Any]:
        """Send a batch; returns the gateway's 202 body once the events are durably in Kafka."""
        response = await self._http.post(
            "/v1/sales", content=batch.model_dump_json(exclude_none=True),
            headers={"Content-Type": "application/json"})
        if response.status_code != 202:
            raise _error(response)
        return response.json()

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None,
                   params: dict[str, Any] | None = None) -> tuple[int, Any]:
        """Any request of the API (the directory's, the tokens'): its 2xx status and JSON body;
        GatewayError for any other answer."""
        response = await self._http.request(method, path, json=body, params=params)
        if not response.is_success:
            raise _error(response)
        return response.status_code, response.json()


def _error(response: httpx.Response) -> GatewayError:
    try:
        detail = response.json().get("detail", response.text)
    except (ValueError, AttributeError):
        detail = response.text
    return GatewayError(response.status_code, detail)
