"""Pages people open in a browser, served by the gateway (see services.bus.pages).

`GET /producteurs`: the producers' demand page.
`GET /annuaire`: the territory's directory (épiceries, producers, hubs; their tokens).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.bus.pages import serve_page

router = APIRouter(tags=["pages"])


@router.get("/producteurs", response_class=HTMLResponse, include_in_schema=False)
async def producers_page(request: Request) -> Response:
    """Per product of each territory: sales, forecast band, committed supply and gap, live."""
    return serve_page(request, "services.gateway", "producteurs.html")


@router.get("/annuaire", response_class=HTMLResponse, include_in_schema=False)
async def directory_page(request: Request) -> Response:
    """The territory's directory: list, add, correct and close entries, issue their tokens."""
    return serve_page(request, "services.gateway", "annuaire.html")
