"""Pydantic models of the HTTP API's responses (DESIGN section 6), with OpenAPI examples.

Conventions: ``lens_probability`` is the model's calibrated probability that a visible strong lens is
in the cutout (under its training prior); ``is_lens`` is ``lens_probability >= threshold``. ``index``
is the 0-based position of a cutout in its file; it is null in an error item about a whole file (one
that could not be decoded or used). ``ra``/``dec`` are ICRS degrees from the FITS header, null when
the file does not say (always for PNG).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue


class Problem(BaseModel):
    """A stable error ``code`` (clients match on it) and a ``message`` for people."""

    code: str
    message: str


class Notice(BaseModel):
    """A warning about a scored cutout (``cropped``, ``padded``, ``bands_assumed``, ...)."""

    code: str
    message: str


class ModelRef(BaseModel):
    """The model that scored the request and the threshold ``is_lens`` used."""

    name: str
    version: str
    threshold: float = Field(ge=0.0, le=1.0)


class CutoutResult(BaseModel):
    """The score of one cutout."""

    file: str
    index: int = Field(ge=0)
    id: str | None
    ra: float | None
    dec: float | None
    lens_probability: float = Field(ge=0.0, le=1.0)
    is_lens: bool
    warnings: list[Notice]


class CutoutFailure(BaseModel):
    """A cutout (``index`` >= 0) or a whole file (``index`` null) that could not be scored."""

    file: str
    index: int | None
    error: Problem


_RESPONSE_EXAMPLE: dict[str, JsonValue] = {
    "model": {"name": "space", "version": "1.0.0", "threshold": 0.963},
    "results": [
        {
            "file": "EUC_VIS-100001.fits",
            "index": 0,
            "id": "100001",
            "ra": 150.1191,
            "dec": 2.2058,
            "lens_probability": 0.982,
            "is_lens": True,
            "warnings": [],
        },
        {
            "file": "notes.txt",
            "index": None,
            "error": {
                "code": "not_fits_or_png",
                "message": "notes.txt is neither FITS (plain or gzip-compressed) nor PNG, judging by its "
                "first bytes",
            },
        },
    ],
}


class ClassifyResponse(BaseModel):
    """One result per cutout, in upload order (files in order, cutouts in file order)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_RESPONSE_EXAMPLE]})

    model: ModelRef
    results: list[CutoutResult | CutoutFailure]


class ErrorBody(BaseModel):
    """Every error response: ``error`` says what went wrong; ``problems`` (only with
    ``nothing_to_score``) holds the failure of every file and cutout, in upload order."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "code": "nothing_to_score",
                        "message": "no cutout of the request could be scored: notes.txt: not_fits_or_png",
                    },
                    "problems": [
                        {
                            "file": "notes.txt",
                            "index": None,
                            "error": {"code": "not_fits_or_png", "message": "notes.txt is neither FITS ..."},
                        }
                    ],
                },
                {
                    "error": {
                        "code": "queue_full",
                        "message": "the queue of model space holds 4090 cutouts; ...",
                    }
                },
            ]
        }
    )

    error: Problem
    problems: list[CutoutFailure] | None = None


class ModelReadiness(BaseModel):
    """One model's state: its version, the onnxruntime provider it runs on, its padded batch sizes, and
    its inference streams (sessions run side by side) with the intra-op threads of each (0: default)."""

    version: str
    provider: str
    batch_sizes: list[int]
    warmed: bool
    streams: int = 1
    threads: int = 0


class ReadyResponse(BaseModel):
    """``/readyz``: ``ready`` (200) once every model is loaded and warmed; ``starting`` or ``failed``
    (503) before, with ``error`` saying why a warm-up failed."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ready",
                    "models": {
                        "space": {
                            "version": "1.0.0",
                            "provider": "CUDAExecutionProvider",
                            "batch_sizes": [1, 8, 32, 64],
                            "warmed": True,
                            "streams": 1,
                            "threads": 0,
                        }
                    },
                    "error": None,
                    "decode_threads": 4,
                }
            ]
        }
    )

    status: Literal["ready", "starting", "failed", "stopping"]
    models: dict[str, ModelReadiness]
    error: str | None = None
    decode_threads: int = 1  # threads decoding uploads (LENSFINDER_DECODE_THREADS, resolved)


class ExplainedCutout(CutoutResult):
    """The score of one cutout and its saliency map: ``saliency[row][column]``, the cutout's size, rows
    in FITS order (row 0 at the bottom, as the cutout's pixel array; flip it to display north up),
    in log-odds: positive where hiding the region lowers the lens log-odds (evidence for a lens),
    negative where it raises it. ``segments`` (LIME only): the superpixel label of each pixel."""

    saliency: list[list[float]]
    segments: list[list[int]] | None = None


class ExplainResponse(BaseModel):
    """``POST /explain``: the model, the method and its parameters, and one item per cutout of the
    file, in order (an error item for a cutout or file that could not be explained)."""

    model: ModelRef
    method: Literal["occlusion", "lime"]
    target: Literal["log_odds"] = "log_odds"
    parameters: dict[str, int | float]
    results: list[ExplainedCutout | CutoutFailure]
