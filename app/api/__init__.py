"""The HTTP API: one router per area (health, models; classify arrives with the service issue)."""
