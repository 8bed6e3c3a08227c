"""The logic of ``POST /classify`` outside the HTTP layer: decode, choose a model, conform, score."""
