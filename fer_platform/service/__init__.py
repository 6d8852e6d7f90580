"""The search service (HTTP API, page and CLI search): similarity search and emotion prediction."""
