"""Pages people open in a browser, each one self-contained file shipped in a service's package.

A page has no CDN and no library: its charts are SVG drawn by its own script, and it asks for
the access token before calling the API with it (loading the page itself needs no token). Its
inline script and style are allowed by their hashes in a Content-Security-Policy, and nothing
else is. Served with an ETag, so a phone on a weak connection downloads it once.

What several pages share (reading the token, calling the API, French refusals next to their
field, one request per click, drawing bars) is written once, in `static/commun.js` and
`static/commun.css`, and written into each page where it says `/* inclure: commun.js */`:
the page a browser gets is still one file.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from fastapi import Request
from fastapi.responses import HTMLResponse, Response


@dataclass(frozen=True)
class Page:
    html: bytes
    etag: str
    policy: str


def _hashes(html: str, tag: str) -> str:
    return " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL))


INCLUDE = re.compile(r"/\* inclure: ([a-z0-9-]+\.(?:js|css)) \*/")


def _assembled(package: str, name: str) -> str:
    static = resources.files(package).joinpath("static")
    return INCLUDE.sub(lambda m: static.joinpath(m.group(1)).read_text("utf-8"),
                       static.joinpath(name).read_text("utf-8"))


@cache
def page(package: str, name: str) -> Page:
    """`<package>/static/<name>` with its inclusions, its policy and ETag (read once)."""
    html = _assembled(package, name)
    policy = ("default-src 'none'; connect-src 'self'; img-src 'self' data:; "
              f"script-src {_hashes(html, 'script')}; style-src {_hashes(html, 'style')}; "
              "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
    body = html.encode("utf-8")
    return Page(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"', policy)


def serve_page(request: Request, package: str, name: str) -> Response:
    found = page(package, name)
    headers = {"ETag": found.etag, "Cache-Control": "no-cache",
               "Content-Security-Policy": found.policy, "Referrer-Policy": "no-referrer",
               "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    return HTMLResponse(found.html, headers=headers)
