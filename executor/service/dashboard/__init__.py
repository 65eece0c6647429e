"""The operator's page at `/`: server-rendered from the same reports as `GET /status` and `explain`."""
