"""The HTTP API: one router per area (classify, models, health, metrics; deps.py, errors.py)."""
