"""`python -m bench` (or `make bench`): run every benchmark against the running local stack."""

from __future__ import annotations

import asyncio

from bench import gateway_ingest

if __name__ == "__main__":
    asyncio.run(gateway_ingest.main())
