"""The ``lensfinder`` command line: ``classify``, ``score``, ``serve``, ``models``, ``gallery``."""

from app.cli.main import main

__all__ = ["main"]
