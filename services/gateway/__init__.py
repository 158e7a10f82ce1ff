"""The public HTTP API on one base URL (default http://127.0.0.1:8080): sales intake, the shared
catalog, and (as they arrive) the other services' endpoints. OpenAPI at /openapi.json."""
