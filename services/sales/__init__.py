"""Till sales: what tills send (intake), the HTTP gateway, the de-duplicating ingest stage,
CSV import and the shared product catalog."""
