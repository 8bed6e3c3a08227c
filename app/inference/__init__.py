"""Inference: onnxruntime providers, one session per model, and the asyncio micro-batcher."""
