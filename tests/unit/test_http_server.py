"""The services' HTTP server keeps an idle connection longer than the clients in front of it do,
so it never closes one just as a client sends its next request on it (services/bus/http.py)."""

from __future__ import annotations

import httpx

from services.bus.http import http_server

NGINX_UPSTREAM_KEEPALIVE_S = 60  # nginx's keepalive_timeout default, for a proxy in front


async def app(scope, receive, send) -> None:  # pragma: no cover - never served here
    raise AssertionError


def test_idle_connections_outlive_the_clients_and_proxies_in_front() -> None:
    server = http_server(app, "127.0.0.1", 0)
    client_expiry = httpx.Limits().keepalive_expiry  # httpx's default: 5 s
    assert server.config.timeout_keep_alive > max(client_expiry, NGINX_UPSTREAM_KEEPALIVE_S)
