"""Pages people open in a browser, served by the gateway as static files.

`GET /producteurs`: the producers' demand page. It is one self-contained file (no CDN, no
library: the charts are SVG drawn by its own script) that asks for the access token and then
calls the API with it; loading the page itself needs no token. Its inline script and style are
allowed by their hashes in a Content-Security-Policy, and nothing else is.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

router = APIRouter(tags=["pages"])


@dataclass(frozen=True)
class Page:
    html: bytes
    etag: str
    policy: str


def _hashes(html: str, tag: str) -> str:
    return " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL))


@cache
def page(name: str) -> Page:
    html = resources.files("services.gateway").joinpath("static", name).read_text("utf-8")
    policy = ("default-src 'none'; connect-src 'self'; img-src 'self' data:; "
              f"script-src {_hashes(html, 'script')}; style-src {_hashes(html, 'style')}; "
              "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
    body = html.encode("utf-8")
    return Page(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"', policy)


def _serve(request: Request, name: str) -> Response:
    found = page(name)
    headers = {"ETag": found.etag, "Cache-Control": "no-cache",
               "Content-Security-Policy": found.policy, "Referrer-Policy": "no-referrer",
               "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    return HTMLResponse(found.html, headers=headers)


@router.get("/producteurs", response_class=HTMLResponse, include_in_schema=False)
async def producers_page(request: Request) -> Response:
    """Per product of each territory: sales, forecast band, committed supply and gap, live."""
    return _serve(request, "producteurs.html")
