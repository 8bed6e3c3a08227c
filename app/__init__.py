"""lensfinder runtime: decoding, preprocessing and the lens-scoring service. Never imports torch."""

__version__ = "0.1.0"
