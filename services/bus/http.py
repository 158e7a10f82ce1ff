"""How a Vivres service serves HTTP (the gateway, the health service, and their copies in the
tests): uvicorn on the service's own event loop, its signals left to the service, no access log
of uvicorn's own (the gateway writes its own, without tokens: services/gateway/access.py).

Idle connections are kept KEEP_ALIVE_S, longer than the clients and proxies in front keep
theirs (httpx 5 s, nginx 60 s): a server that closes an idle connection first races the
client's next request on it, which then fails with no answer (a ReadError, or a 502 behind a
proxy). uvicorn's default, 5 s, is exactly httpx's, and the fuzz test met that race once on a
loaded machine.
"""

from __future__ import annotations

import contextlib
from typing import Any

import uvicorn

KEEP_ALIVE_S = 75


def http_server(app: Any, host: str, port: int, *,
                graceful_shutdown_s: float | None = None) -> uvicorn.Server:
    """A server for `app`; `await server.serve()` runs it, `server.should_exit = True` stops it
    (after the requests in flight, or graceful_shutdown_s for those that never end alone)."""
    server = uvicorn.Server(uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="off",
        timeout_keep_alive=KEEP_ALIVE_S, timeout_graceful_shutdown=graceful_shutdown_s))
    # The service's handlers, not uvicorn's: uvicorn re-raises the signal after serving, which
    # would kill the process before its producer flushes (and would take pytest's signals).
    server.capture_signals = contextlib.nullcontext
    return server
