"""Ingress: every source (WebSocket, HTTP webhook, Redis Streams) converges on the durable inbox."""
