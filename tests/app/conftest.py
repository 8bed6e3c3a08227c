"""Fixtures shared by the client, command-line and gallery tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.pipeline_helpers import live_service, shipped_models, write_inputs


@pytest.fixture(scope="session")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Input folders made in code (see ``write_inputs``), shared read-only by the tests."""
    return write_inputs(tmp_path_factory.mktemp("inputs"))


@pytest.fixture(scope="session")
def service_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service with the shipped space and ground models, in a real uvicorn process."""
    with live_service(shipped_models(tmp_path_factory.mktemp("served"))) as url:
        yield url
