"""The model card, ``models/<name>/model.json``: the only place where a model's input contract lives.

DESIGN section 4. Training writes the card (``training/export.py``); the service loads and validates
it at start-up, and a broken card stops the service with a :class:`CardError` that names the file and
every offending field (``input.bands: ...``). The schema is strict: unknown keys are refused (a typo
is an error, not a silently ignored field), types are not coerced (``"1"`` is not an int, ``1`` is not
a bool), floats must be finite, and the sections are cross-checked (bands against the accepted input
formats, metrics keys against them too, the calibration parameters against the method).

Conventions recorded in a card:
- ``input.bands`` are lower-case band names in the model's plane order (DESIGN section 3: ``["vis"]``,
  ``["u", "g", "r", "i"]``, and ``["i", "r", "g"]`` as the R, G, B planes of a colour composite).
  Pixels go in as float32 (N, C, H, W), any linear flux unit (or PNG levels), masked pixels NaN.
- ``output.threshold`` applies to the ``probability`` output: the probability that a visible strong
  lens is in the cutout, under the training prior (the training set's lens fraction).
- ``identity.created`` is an ISO 8601 UTC time; ``identity.onnx_sha256`` the lower-case hex SHA-256
  of ``model.onnx`` in the same folder (:meth:`ModelCard.verify_files` checks it).
- ``metrics`` are on held-out simulated test data, keyed by input kind: ``"fits"``, ``"png-gray"``,
  or ``"<kind>:<stretch>"`` for one stretch of a PNG rendering (``"png-rgb:unseen-gamma"``); ``null``
  when the model has not been evaluated yet.
- ``plots`` map a role (``"roc"``, ``"reliability"``, ...) to a file name relative to the card.
- ``input_statistics`` (optional; absent or null in cards written before it): quantiles of cheap
  per-plane statistics of the training inputs, per accepted input kind (``app.ood.stats``), from
  which the service derives its out-of-distribution warnings (``app.ood.check``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path, PurePosixPath
from typing import Annotated, Final, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from app.conform import InputSpec
from app.decode.types import InputFormat

SCHEMA_VERSION: Final = 1
ONNX_FILE: Final = "model.onnx"
CARD_FILE: Final = "model.json"
PNG_BANDS: Final[dict[str, int]] = {"png-gray": 1, "png-rgb": 3}

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Count = Annotated[int, Field(ge=0)]
Text = Annotated[str, Field(min_length=1)]


class CardError(Exception):
    """A model card that cannot be read or is invalid; ``path`` is the card file, ``str()`` says why."""

    def __init__(self, path: Path | str, message: str) -> None:
        self.path = Path(path)
        super().__init__(f"model card {self.path}: {message}")


class _Section(BaseModel):
    # strict: no coercion; extra="forbid": a misspelt key is an error; finite floats only (JSON has no NaN).
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class Identity(_Section):
    """Which model this is and where it came from. ``git_commit`` is None outside a git checkout;
    ``git_dirty`` says the working tree had uncommitted changes at export (None when unknown)."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
    version: Text
    created: datetime
    onnx_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    opset: Annotated[int, Field(ge=17)]
    git_commit: Annotated[str, Field(pattern=r"^[0-9a-f]{40}$")] | None
    git_dirty: bool | None

    @field_validator("created", mode="before")
    @classmethod
    def _parse_created(cls, value: object) -> object:
        # Strict mode takes datetime objects from Python but ISO strings only from JSON; accept both.
        return datetime.fromisoformat(value) if isinstance(value, str) else value

    @field_validator("created")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.utcoffset() != timedelta(0):
            raise ValueError("must be an ISO 8601 time in UTC, for example 2025-01-31T12:00:00Z")
        return value

    @field_serializer("created")
    def _iso(self, value: datetime) -> str:
        return value.isoformat().replace("+00:00", "Z")


class Preprocessing(_Section):
    """The normalisation recipe; ``in_graph`` True when it is the ONNX graph's first layer (then any
    ONNX runtime scores raw pixels and the service does no preprocessing of its own)."""

    description: Text
    in_graph: bool


class Stretch(_Section):
    """The display stretch of a PNG model: ``name`` (``"gray-asinh"``, ``"lupton-rgb"``, ...), its
    parameters as in ``app.render`` (``GrayStretch`` / ``LuptonStretch`` fields), and a description
    (for example that training randomised it around these values)."""

    name: Text
    parameters: dict[str, JsonValue]
    description: Text


class InputSection(_Section):
    """What the model takes: ``bands`` (lower-case, plane order), ``height`` x ``width`` pixels at
    ``pixel_scale_arcsec`` arcsec/px, the formats it ``accepts``, and how pixels are treated."""

    bands: Annotated[list[str], Field(min_length=1)]
    height: Annotated[int, Field(ge=1)]
    width: Annotated[int, Field(ge=1)]
    pixel_scale_arcsec: Annotated[float, Field(gt=0.0)] | None
    accepts: Annotated[list[InputFormat], Field(min_length=1)]
    preprocessing: Preprocessing
    masked_pixels: Text
    nan_handling: Text
    stretch: Stretch | None

    @field_validator("bands")
    @classmethod
    def _band_names(cls, bands: list[str]) -> list[str]:
        for band in bands:
            if not band or band != band.strip().lower():
                raise ValueError(f"band names must be non-empty lower-case, got {band!r}")
        if len(set(bands)) != len(bands):
            raise ValueError(f"a band is repeated in {bands}")
        return bands

    @field_validator("accepts")
    @classmethod
    def _unique_formats(cls, accepts: list[InputFormat]) -> list[InputFormat]:
        if len(set(accepts)) != len(accepts):
            raise ValueError(f"a format is repeated in {accepts}")
        return accepts

    @model_validator(mode="after")
    def _formats_match_bands(self) -> Self:
        pngs = [fmt for fmt in self.accepts if fmt in PNG_BANDS]
        for fmt in pngs:
            if len(self.bands) != PNG_BANDS[fmt]:
                raise ValueError(
                    f"bands {self.bands} has {len(self.bands)} band(s) but accepts has {fmt!r}, "
                    f"whose pictures have {PNG_BANDS[fmt]} plane(s)"
                )
        if pngs and self.stretch is None:
            raise ValueError(f"stretch is required when accepts has {pngs}: a PNG is a stretched rendering")
        if not pngs and self.stretch is not None:
            raise ValueError("stretch is given but accepts has no PNG format")
        return self


class Calibration(_Section):
    """How ``probability`` is made from ``logit``; a fitted calibration is fitted on the validation set,
    so the probability is under that set's lens fraction. ``platt``: probability = sigmoid(a * logit + b),
    parameters ``{"scale": a, "bias": b}`` with a > 0 (the ranking is kept) and b finite (baked into
    the graph); ``temperature``: probability = sigmoid(logit / T), parameters ``{"temperature": T}``
    with T > 0 (Platt with a = 1/T, b = 0; baked into the graph); ``isotonic``: a non-decreasing map
    given as knots ``{"x": [...], "y": [...]}`` (logits -> probabilities, linear between knots, clipped
    outside); ``none``: sigmoid(logit), ``{}``."""

    method: Literal["platt", "temperature", "isotonic", "none"]
    parameters: dict[str, float | list[float]]

    @model_validator(mode="after")
    def _parameters_fit_method(self) -> Self:
        p = self.parameters
        if self.method == "platt":
            a, b = p.get("scale"), p.get("bias")
            numbers = isinstance(a, float | int) and isinstance(b, float | int)
            if set(p) != {"scale", "bias"} or not numbers:
                raise ValueError(f"platt calibration needs {{'scale': a > 0, 'bias': b}}, got {p}")
            if not (isinstance(a, float | int) and a > 0):
                raise ValueError(f"platt calibration needs scale a > 0 (a <= 0 reverses ranking), got {a}")
        elif self.method == "temperature":
            t = p.get("temperature")
            if set(p) != {"temperature"} or not isinstance(t, float | int) or not t > 0:
                raise ValueError(f"temperature calibration needs {{'temperature': T > 0}}, got {p}")
        elif self.method == "none" and p:
            raise ValueError(f"calibration method 'none' takes no parameters, got {p}")
        elif self.method == "isotonic":
            _check_isotonic(p)
        return self


def _check_isotonic(p: dict[str, float | list[float]]) -> None:
    x, y = p.get("x"), p.get("y")
    if set(p) != {"x", "y"} or not isinstance(x, list) or not isinstance(y, list) or len(x) != len(y):
        raise ValueError("isotonic calibration needs parameters {'x': [...], 'y': [...]} of equal length")
    if any(b < a for a, b in pairwise(x)) or any(b < a for a, b in pairwise(y)):
        raise ValueError("isotonic calibration knots must be non-decreasing in x and y")
    if any(not 0.0 <= v <= 1.0 for v in y):
        raise ValueError("isotonic calibration y values are probabilities in [0, 1]")


class OutputSection(_Section):
    """What comes out: ``meaning`` of the probability, the decision ``threshold`` on it and the rule
    that chose it, the calibration, and the ONNX graph's input and output tensor names."""

    meaning: Text
    threshold: Fraction
    threshold_rule: Text
    calibration: Calibration
    input_name: Text
    output_names: Annotated[list[str], Field(min_length=1)]

    @field_validator("output_names")
    @classmethod
    def _has_probability(cls, names: list[str]) -> list[str]:
        if "probability" not in names or len(set(names)) != len(names):
            raise ValueError(f"must be unique names including 'probability', got {names}")
        return names


class Counts(_Section):
    """Cutouts in each split of the data the model was trained, validated and tested on."""

    train: Count
    val: Count
    test: Count


class TrainingData(_Section):
    """The data: ``source`` (what and where, e.g. simulated space set or the real BLF release),
    the simulator's version and seed (None for real data), split counts, and the label rule."""

    source: Text
    simulator_version: str | None
    seed: int | None
    counts: Counts
    label_rule: Text


class TrainingSection(_Section):
    """How the model was made. ``flops_per_cutout`` counts multiply-adds x 2 of one forward pass;
    ``epochs`` trained, ``best_epoch`` (1-based) the one shipped, at validation AUC ``val_auc``;
    ``wall_time_s`` is the training's wall time in seconds; ``config`` is the resolved config."""

    data: TrainingData
    architecture: Text
    parameters: Annotated[int, Field(ge=1)]
    flops_per_cutout: Annotated[float, Field(ge=0.0)]
    epochs: Count
    best_epoch: Count | None
    val_auc: Fraction | None
    augmentation: dict[str, JsonValue]
    search: dict[str, JsonValue] | None
    wall_time_s: Annotated[float, Field(ge=0.0)]
    hardware: Text
    config: dict[str, JsonValue]


class KindRate(_Section):
    """False-positive rate among the ``n`` test cutouts of one kind at the card's threshold (None if n=0)."""

    n: Count
    fpr: Fraction | None


class InputMetrics(_Section):
    """DESIGN section 5's metrics for one input kind (``training.metrics.lens_metrics``), plus the
    accuracy and the false-positive rate per non-lens kind at the card's threshold. None: undefined
    on the test set (AUC with one class, TPR10 with fewer than 10 non-lenses)."""

    model_config = ConfigDict(populate_by_name=True)

    auc: Fraction | None
    tpr0: Fraction | None
    tpr10: Fraction | None
    n_nonlenses: Count
    n_lenses: Count
    tpr_at_fpr_1e_2: Annotated[float | None, Field(ge=0.0, le=1.0, alias="tpr_at_fpr_1e-2")]
    tpr_at_fpr_1e_3: Annotated[float | None, Field(ge=0.0, le=1.0, alias="tpr_at_fpr_1e-3")]
    accuracy: Fraction | None
    hard_negative_fpr: dict[str, KindRate]


class Metrics(_Section):
    """Held-out test metrics: ``test_data`` says which set (simulator, seed, size); ``by_input`` is
    keyed by input kind (``"fits"``, ``"png-gray"``) or ``"<kind>:<stretch>"``."""

    test_data: Text
    by_input: Annotated[dict[str, InputMetrics], Field(min_length=1)]


QUANTILE_KEYS: Final = ("p0.1", "p1", "p50", "p99", "p99.9")


class Quantiles(_Section):
    """Quantiles (0.1, 1, 50, 99 and 99.9 per cent) of one statistic over the training inputs, taken
    on its ``n`` finite values (a statistic is undefined on some cutouts, e.g. the FWHM of a peak too
    faint to measure); all 0 when ``n`` is 0."""

    model_config = ConfigDict(populate_by_name=True)

    n: Count
    p0_1: Annotated[float, Field(alias="p0.1")]
    p1: float
    p50: float
    p99: float
    p99_9: Annotated[float, Field(alias="p99.9")]

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        values = (self.p0_1, self.p1, self.p50, self.p99, self.p99_9)
        if any(b < a for a, b in pairwise(values)):
            raise ValueError(f"quantiles must be non-decreasing, got {values}")
        return self


class KindStatistics(_Section):
    """Statistics of the training inputs of one input kind (``fits``, ``png-gray``, ``png-rgb``), as
    the model takes them (PNG kinds: the rendered and decoded levels; ``rendering`` says how, None for
    FITS): ``n`` cutouts, the per-cutout ``masked_fraction`` (all planes), and ``planes``: statistic
    name -> band -> quantiles, the statistics of ``app.ood.stats`` (names it does not know are kept
    and ignored by the checks)."""

    n: Annotated[int, Field(ge=1)]
    rendering: Text | None
    masked_fraction: Quantiles
    planes: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], dict[str, Quantiles]]


class PsfSize(_Section):
    """The PSF FWHM (arcsec) per band of the training data when the data say it (the simulator's
    catalogue), else None; ``note`` says where it comes from or why it is not known."""

    fwhm_arcsec: dict[str, Quantiles] | None
    note: Text


class InputStatistics(_Section):
    """Optional: what the training inputs looked like, so that the service can warn when a cutout
    falls outside them (``app.ood``). Written by ``training.input_stats`` (``description`` says how,
    ``data`` from which set); ``by_input`` is keyed by accepted input kind."""

    description: Text
    data: Text
    pixel_scale_arcsec: Annotated[float, Field(gt=0.0)] | None
    psf: PsfSize
    by_input: Annotated[dict[InputFormat, KindStatistics], Field(min_length=1)]


class ModelCard(_Section):
    """``models/<name>/model.json``: every field of DESIGN section 4. Load with :meth:`load`."""

    schema_version: Literal[1]
    identity: Identity
    input: InputSection
    output: OutputSection
    training: TrainingSection
    metrics: Metrics | None
    plots: dict[str, str]
    # Optional (cards written before it stay valid): statistics of the training inputs.
    input_statistics: InputStatistics | None = None

    @field_validator("plots")
    @classmethod
    def _relative_plots(cls, plots: dict[str, str]) -> dict[str, str]:
        for role, name in plots.items():
            pure = PurePosixPath(name)
            if not name or pure.is_absolute() or ".." in pure.parts or "\\" in name:
                raise ValueError(f"plot {role!r}: {name!r} must be a file name relative to the card")
        return plots

    @model_validator(mode="after")
    def _metrics_match_inputs(self) -> Self:
        if self.metrics is None:
            return self
        for key in self.metrics.by_input:
            kind = key.split(":", 1)[0]
            if kind not in self.input.accepts or key.endswith(":"):
                raise ValueError(
                    f"metrics.by_input key {key!r} must be an accepted input kind {self.input.accepts} "
                    "or '<kind>:<stretch>'"
                )
        return self

    @model_validator(mode="after")
    def _statistics_match_inputs(self) -> Self:
        stats = self.input_statistics
        if stats is None:
            return self
        bands = sorted(self.input.bands)
        for kind, section in stats.by_input.items():
            if kind not in self.input.accepts:
                raise ValueError(
                    f"input_statistics.by_input has {kind!r}, which accepts {self.input.accepts} lacks"
                )
            for name, per_band in section.planes.items():
                if sorted(per_band) != bands:
                    raise ValueError(
                        f"input_statistics.by_input.{kind}.planes.{name} has bands {sorted(per_band)}; "
                        f"the model's are {self.input.bands}"
                    )
        if stats.psf.fwhm_arcsec is not None and sorted(stats.psf.fwhm_arcsec) != bands:
            raise ValueError(f"input_statistics.psf.fwhm_arcsec must give every band of {self.input.bands}")
        return self

    @property
    def name(self) -> str:
        return self.identity.name

    def input_spec(self) -> InputSpec:
        """The :class:`app.conform.InputSpec` that decoded files are conformed to for this model."""
        section = self.input
        return InputSpec(
            bands=tuple(section.bands),
            height=section.height,
            width=section.width,
            pixel_scale_arcsec=section.pixel_scale_arcsec,
            accepts=tuple(section.accepts),
        )

    def to_json(self) -> str:
        """Pretty JSON (2-space indent, fields in schema order, trailing newline); a card without
        ``input_statistics`` is written without the key, as cards were before it existed."""
        data = self.model_dump(mode="json", by_alias=True)
        if data.get("input_statistics") is None:
            del data["input_statistics"]
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    def write(self, path: Path | str) -> None:
        """Write the card as pretty JSON, atomically (a reader never sees half a card)."""
        target = Path(path)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self.to_json())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def parse(cls, text: str | bytes, path: Path | str = "<memory>") -> ModelCard:
        """Validate card JSON; a :class:`CardError` naming ``path`` and each bad field on failure."""
        try:
            return cls.model_validate_json(text)
        except ValidationError as error:
            raise CardError(path, _describe(error)) from None

    @classmethod
    def from_dict(cls, data: dict[str, object], path: Path | str = "<memory>") -> ModelCard:
        """Validate a card given as plain JSON-ready data, by the same rules as :meth:`load`."""
        try:
            text = json.dumps(data, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise CardError(path, f"not JSON-serialisable: {error}") from None
        return cls.parse(text, path)

    @classmethod
    def load(cls, path: Path | str) -> ModelCard:
        """Read and validate ``path``; :class:`CardError` on a missing file, bad JSON or a bad field."""
        path = Path(path)
        try:
            text = path.read_bytes()
        except OSError as error:
            raise CardError(path, f"cannot be read: {error.strerror or error}") from None
        try:
            json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise CardError(path, f"is not valid JSON: {error}") from None
        return cls.parse(text, path)

    def verify_files(self, directory: Path | str) -> None:
        """Check that ``directory`` (the card's folder) holds ``model.onnx`` with the card's SHA-256 and
        every plot the card names; :class:`CardError` otherwise."""
        folder = Path(directory)
        card_path = folder / CARD_FILE
        onnx_path = folder / ONNX_FILE
        if not onnx_path.is_file():
            raise CardError(card_path, f"identity.onnx_sha256: {onnx_path} does not exist")
        digest = file_sha256(onnx_path)
        if digest != self.identity.onnx_sha256:
            raise CardError(
                card_path,
                f"identity.onnx_sha256: {onnx_path} has SHA-256 {digest}, the card says "
                f"{self.identity.onnx_sha256} (the file was changed after export)",
            )
        missing = [name for name in self.plots.values() if not (folder / name).is_file()]
        if missing:
            raise CardError(card_path, f"plots: missing file(s) {missing} in {folder}")


def file_sha256(path: Path | str) -> str:
    """Lower-case hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _describe(error: ValidationError) -> str:
    """One line per problem, each led by the field's dotted path (``input.bands.0``)."""
    lines = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "(card)"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}")
    count = len(lines)
    return f"invalid ({count} problem{'s' if count != 1 else ''}):\n  " + "\n  ".join(lines)
