"""Pages people open in a browser, served by the gateway (see services.bus.pages).

`GET /producteurs`: the producers' demand page.
`GET /annuaire`: the territory's directory (épiceries, producers, hubs; their tokens).
`GET /epicerie`: a shop's stock, counts, waste, deliveries, needs, orders and till codes.
`GET /pole`: the hub's delivery slots: needs and offers, consolidation, receipt and dispatch.
`GET /caisse`: the caisse's committee and treasurer: households, credit, decisions, reports.
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


@router.get("/epicerie", response_class=HTMLResponse, include_in_schema=False)
async def shop_page(request: Request) -> Response:
    """Mon épicerie: stock and its flags, shelf counts, waste, deliveries, needs, orders."""
    return serve_page(request, "services.gateway", "epicerie.html")


@router.get("/pole", response_class=HTMLResponse, include_in_schema=False)
async def hub_page(request: Request) -> Response:
    """Pôle logistique: a slot's needs and offers, consolidation, receipt and dispatch."""
    return serve_page(request, "services.gateway", "pole.html")


@router.get("/caisse", response_class=HTMLResponse, include_in_schema=False)
async def caisse_page(request: Request) -> Response:
    """Comité de la caisse: households and credits, decisions, spend, settlements."""
    return serve_page(request, "services.gateway", "caisse.html")
