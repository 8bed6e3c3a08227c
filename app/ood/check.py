"""Out-of-distribution warnings: each scored cutout against the statistics of the model's training inputs.

The card's optional ``input_statistics`` (``app.card.InputStatistics``, written by
``training.input_stats``) holds, per input kind and band, quantiles of the statistics of
:mod:`app.ood.stats` over the training inputs. A cutout whose statistic falls outside

    [p0.1 - margin, p99.9 + margin],  margin = max(MARGIN x (p99 - p1), FLOOR[statistic])

(one side only for some statistics, see :data:`RULES`) gets a warning. The bounds are the training
range widened by 15% of its central 98% (so a warning means "further out than nearly all
training cutouts"), with an absolute floor for fractions whose training range is a single value
(a space cutout is never masked in training, yet a pixel or two must not warn). The false-warning
rate this gives on simulated test sets is measured by ``python -m training.input_stats --test``
and stated in the README.

Warning codes (stable; the message says which band and statistic, the value and the training range):
- ``noise_level_unusual``: the noise relative to the signal (``log_noise_to_signal``) is outside the
  training range, or a plane has no measurable noise at all (sigma 0: a noiseless or clipped image).
- ``noise_correlated``: neighbouring pixels' noise is correlated (or anti-correlated) unlike training
  (``noise_correlation``): a smoothed, resampled or lossily compressed image.
- ``dynamic_range_unusual``: a pixel far brighter (``norm_max``) or darker (``norm_min``) after
  normalisation than any in training (a cosmic ray, a hot pixel, a badly subtracted background).
- ``saturated``: more pixels share the maximum value than in training (``top_fraction``).
- ``psf_size_unusual``: the brightest peak is sharper or wider than training's (``peak_fwhm_px``).
- ``png_stretch_unusual``: a PNG whose level histogram (black, white, sky level and sky width) is
  unlike the documented stretch's renderings: probably stretched by another viewer.
- ``too_many_masked``: more masked (NaN) pixels than training had (``masked_fraction``).
- ``empty_cutout``: no plane has a pixel :data:`EMPTY_SNR` sigma above its sky (or every plane is
  constant): nothing to classify. Where training had fainter planes than that (a PNG stretch
  compresses peaks), the training range's lower bound of ``norm_max`` is the limit instead. The
  other statistic warnings but ``png_stretch_unusual`` are left out for such a cutout (its noise
  level and peak are meaningless; a too-hard stretch can make a galaxy look empty).
``pixel_scale_mismatch`` and ``bands_assumed`` come from ``app.conform``. A model whose card has no
``input_statistics`` (or none for the input's kind) gets only ``empty_cutout``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from app.card import KindStatistics, ModelCard, Quantiles
from app.decode.masking import masked_fractions
from app.decode.types import DecodedFile, DecodeWarning, InputFormat
from app.ood.stats import plane_statistics, statistic_names
from app.preprocess import SOFTENING

Side = Literal["both", "upper", "lower"]

MARGIN: Final = 0.15
EMPTY_SNR: Final = 5.0
PLATEAU: Final = 0.01  # a plane with this fraction of its pixels at the maximum is saturated, not empty
# The statistic warnings an empty cutout still gets: its levels say how it was stretched all the same.
KEPT_WHEN_EMPTY: Final = frozenset({"png_stretch_unusual"})


@dataclass(frozen=True, slots=True)
class Rule:
    """Which warning a statistic gives, on which side, with what absolute floor on the margin, and the
    words for the message."""

    code: str
    side: Side
    floor: float
    what: str


RULES: Final[Mapping[str, Rule]] = {
    "log_noise_to_signal": Rule("noise_level_unusual", "both", 0.0, "log10 noise-to-signal"),
    "noise_correlation": Rule("noise_correlated", "both", 0.0, "neighbour noise ratio"),
    "norm_max": Rule("dynamic_range_unusual", "upper", 0.0, "brightest normalised pixel"),
    "norm_min": Rule("dynamic_range_unusual", "lower", 0.0, "darkest normalised pixel"),
    "top_fraction": Rule("saturated", "upper", 5e-4, "fraction of pixels at the maximum"),
    "peak_fwhm_px": Rule("psf_size_unusual", "both", 0.0, "FWHM of the brightest peak (px)"),
    "png_black_fraction": Rule("png_stretch_unusual", "both", 2e-3, "fraction of black pixels"),
    "png_white_fraction": Rule("png_stretch_unusual", "both", 2e-4, "fraction of white pixels"),
    "png_sky_level": Rule("png_stretch_unusual", "both", 0.0, "sky level / top level"),
    "png_sky_width": Rule("png_stretch_unusual", "both", 0.0, "sky sigma / top level"),
}
MASKED_RULE: Final = Rule("too_many_masked", "upper", 0.02, "masked fraction")
CODES: Final = (
    "noise_level_unusual",
    "noise_correlated",
    "dynamic_range_unusual",
    "saturated",
    "psf_size_unusual",
    "png_stretch_unusual",
    "too_many_masked",
    "empty_cutout",
)
_ADVICE: Final[Mapping[str, str]] = {
    "noise_level_unusual": "the noise relative to the signal is unlike the training data's",
    "noise_correlated": "the noise is correlated unlike the training data's (smoothed, resampled or "
    "compressed?)",
    "dynamic_range_unusual": "a pixel lies far outside the training data's range after normalisation "
    "(cosmic ray, hot pixel, bad background?)",
    "saturated": "more pixels share the maximum value than in any training cutout (saturated?)",
    "psf_size_unusual": "the brightest peak is sharper or wider than in the training data (other PSF or "
    "pixel scale?)",
    "png_stretch_unusual": "the PNG's levels are unlike the documented stretch's (another viewer's "
    "stretch?); the score may be off",
    "too_many_masked": "more pixels are masked than in the training data",
}


@dataclass(frozen=True, slots=True)
class Bound:
    """The allowed range of one statistic in one band (None: no bound on that side)."""

    low: float | None
    high: float | None


def bound(q: Quantiles, rule: Rule, margin: float = MARGIN) -> Bound | None:
    """The range a statistic may take before it warns (module docstring); None without training values."""
    if q.n == 0:
        return None
    width = max(margin * (q.p99 - q.p1), rule.floor)
    low = q.p0_1 - width if rule.side in ("both", "lower") else None
    high = q.p99_9 + width if rule.side in ("both", "upper") else None
    return Bound(low, high)


def _range(limits: Bound) -> str:
    low = "-inf" if limits.low is None else f"{limits.low:.3g}"
    high = "inf" if limits.high is None else f"{limits.high:.3g}"
    return f"[{low}, {high}]"


@dataclass(frozen=True, slots=True)
class _Check:
    """One comparison: a statistic of one band against its allowed range."""

    statistic: str
    band_index: int
    band: str
    rule: Rule
    limits: Bound


@dataclass(frozen=True, slots=True)
class _Table:
    """What a kind's training statistics allow, for bands ``bands`` and one margin, laid out for one
    vectorised comparison of a batch: every (statistic, band) check in :data:`RULES` order, band by
    band, with its bounds as arrays (-inf/inf for an open side), and the per-band values the other
    checks need. Built once per card section (:func:`_table`): bounds do not change between requests."""

    checks: tuple[_Check, ...]
    low: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    judged_when_empty: npt.NDArray[np.bool_]
    faint: npt.NDArray[np.float64]
    measurable: tuple[bool, ...]
    masked: Bound | None


_TABLES: dict[tuple[int, tuple[str, ...], float, bool], tuple[KindStatistics | None, _Table]] = {}


def _table(statistics: KindStatistics | None, bands: tuple[str, ...], margin: float, png: bool) -> _Table:
    """The :class:`_Table` of a card section, cached by identity (the section is kept with it, so its
    id cannot be reused while cached); a few model cards' sections are all a process holds."""
    key = (id(statistics), bands, margin, png)
    hit = _TABLES.get(key)
    if hit is not None and hit[0] is statistics:
        return hit[1]
    table = _build_table(statistics, bands, margin, statistic_names(png))
    if len(_TABLES) >= 256:
        _TABLES.clear()
    _TABLES[key] = (statistics, table)
    return table


def _build_table(
    statistics: KindStatistics | None, bands: tuple[str, ...], margin: float, computed: tuple[str, ...]
) -> _Table:
    checks: list[_Check] = []
    if statistics is not None:
        for name, rule in RULES.items():
            per_band = statistics.planes.get(name)
            if per_band is None or name not in computed:
                continue
            for c, band in enumerate(bands):
                q = per_band.get(band)
                limits = None if q is None else bound(q, rule, margin)
                if limits is not None:
                    checks.append(_Check(name, c, band, rule, limits))
    trained = {} if statistics is None else statistics.planes.get("norm_max", {})
    return _Table(
        checks=tuple(checks),
        low=np.array([-np.inf if c.limits.low is None else c.limits.low for c in checks], dtype=np.float64),
        high=np.array([np.inf if c.limits.high is None else c.limits.high for c in checks], dtype=np.float64),
        judged_when_empty=np.array([c.rule.code in KEPT_WHEN_EMPTY for c in checks], dtype=bool),
        faint=_faint_levels(statistics, bands, margin),
        measurable=tuple(
            statistics is not None and band in trained and trained[band].n >= statistics.n // 2
            for band in bands
        ),
        masked=None if statistics is None else bound(statistics.masked_fraction, MASKED_RULE, margin),
    )


def ood_warnings(
    pixels: npt.NDArray[np.float32],
    fmt: InputFormat,
    bands: Sequence[str],
    statistics: KindStatistics | None,
    *,
    margin: float = MARGIN,
    masked: npt.NDArray[np.float64] | None = None,
) -> list[tuple[DecodeWarning, ...]]:
    """The out-of-distribution warnings of each cutout of ``pixels`` (N, C, H, W), conformed to a model
    of ``bands`` and given as ``fmt``; ``statistics`` is the card's section for that kind (None: only
    ``empty_cutout``). One warning per code per cutout, its message naming every band and statistic.
    ``masked``: each cutout's masked fraction where the caller has it (conforming measured it)."""
    n = len(pixels)
    if n == 0:
        return []
    png = fmt != "fits"
    stats = plane_statistics(pixels, png=png)
    table = _table(statistics, tuple(bands), margin, png)
    found: list[dict[str, list[str]]] = [{} for _ in range(n)]
    empty = _empty(stats, table.faint)
    if table.checks:
        values = np.stack([stats[check.statistic][:, check.band_index] for check in table.checks], axis=1)
        # NaN (an undefined statistic) compares False on both sides: never outside
        outside = (values < table.low) | (values > table.high)
        outside &= ~empty[:, None] | table.judged_when_empty
        for i, k in zip(*np.nonzero(outside), strict=True):
            check = table.checks[k]
            found[i].setdefault(check.rule.code, []).append(
                f"{check.band}: {check.rule.what} {values[i, k]:.3g} outside {_range(check.limits)}"
            )
    if statistics is not None:
        _no_noise(stats, bands, empty, found, table.measurable)
    if table.masked is not None and table.masked.high is not None:
        masked = masked_fractions(pixels) if masked is None else masked
        for i in np.flatnonzero(masked > table.masked.high):
            found[i].setdefault(MASKED_RULE.code, []).append(
                f"{masked[i]:.1%} of the pixels are masked; training had at most {table.masked.high:.1%}"
            )
    out: list[tuple[DecodeWarning, ...]] = []
    for k in range(n):
        warnings = [
            DecodeWarning(code, f"{_ADVICE[code]}: " + "; ".join(details))
            for code in CODES
            if (details := found[k].get(code))
        ]
        if empty[k]:
            warnings.insert(
                0,
                DecodeWarning(
                    "empty_cutout",
                    "no band has a pixel clearly above its sky (or every band is constant): nothing to "
                    "classify",
                ),
            )
        out.append(tuple(warnings))
    return out


def _faint_levels(
    statistics: KindStatistics | None, bands: Sequence[str], margin: float
) -> npt.NDArray[np.float64]:
    """Per band, the ``norm_max`` below which a plane is empty: EMPTY_SNR sigma above the sky, or the
    training range's lower bound where training had fainter planes (PNG stretches compress peaks)."""
    faint = np.full(len(bands), np.arcsinh(EMPTY_SNR / SOFTENING))
    per_band = None if statistics is None else statistics.planes.get("norm_max")
    if per_band is None:
        return faint
    for c, band in enumerate(bands):
        q = per_band.get(band)
        if q is not None and q.n > 0:
            faint[c] = min(faint[c], q.p0_1 - max(margin * (q.p99 - q.p1), 0.0))
    return faint


def _empty(
    stats: Mapping[str, npt.NDArray[np.float64]], faint: npt.NDArray[np.float64]
) -> npt.NDArray[np.bool_]:
    """Cutouts whose every plane is constant or has no pixel above ``faint`` (per band) after
    normalisation."""
    norm_max, top = stats["norm_max"], stats["top_fraction"]
    with np.errstate(invalid="ignore"):
        flat_plane = np.isnan(norm_max) & (top >= 0.5)
        # a plateau of 1% of the pixels at the maximum is a saturated source, not an empty plane
        plane_empty = ((norm_max < faint) & (top < PLATEAU)) | flat_plane
    return np.asarray(plane_empty.all(axis=1), dtype=bool)


def _no_noise(
    stats: Mapping[str, npt.NDArray[np.float64]],
    bands: Sequence[str],
    empty: npt.NDArray[np.bool_],
    found: list[dict[str, list[str]]],
    measurable: Sequence[bool],
) -> None:
    """A plane with a signal but sigma 0 (norm_max undefined while not constant): no noise at all,
    where most training cutouts had a measurable noise in that band (``measurable``). (A colour
    composite's sky is clipped to black, so its training planes have no measurable noise either:
    nothing to compare.)"""
    silent = np.isnan(stats["norm_max"]) & (stats["top_fraction"] < 0.5)
    for i, c in zip(*np.nonzero(silent), strict=True):
        if measurable[c] and not empty[i]:
            found[i].setdefault("noise_level_unusual", []).append(
                f"{bands[c]}: no measurable noise (the sky's spread is 0: a noiseless or clipped image)"
            )


def annotate(decoded: DecodedFile, card: ModelCard) -> DecodedFile:
    """``decoded`` (conformed to ``card``'s model) with the out-of-distribution warnings of each cutout
    that has no error appended to its warnings."""
    return annotate_all([decoded], card)[0]


def annotate_all(files: Sequence[DecodedFile], card: ModelCard) -> list[DecodedFile]:
    """:func:`annotate` for the files of one request: the cutouts of every file of one input format go
    through :func:`ood_warnings` together, so a request of many one-cutout files costs about what one
    stack of as many cutouts does (the statistics are vectorised over cutouts; per call they are not).
    ``files`` are conformed to the card's model: their cutouts' masked fractions are conform's."""
    section = card.input_statistics
    out = list(files)
    for fmt in dict.fromkeys(decoded.format for decoded in files):
        members = [
            (k, [i for i, meta in enumerate(d.cutouts) if meta.error is None]) for k, d in enumerate(files)
        ]
        members = [(k, keep) for k, keep in members if keep and files[k].format == fmt]
        if not members:
            continue
        parts = [
            files[k].pixels if len(keep) == len(files[k].pixels) else files[k].pixels[keep]
            for k, keep in members
        ]
        pixels = parts[0] if len(parts) == 1 else np.concatenate(parts)
        statistics = None if section is None else section.by_input.get(fmt)
        # conforming measured each cutout's masked fraction on these very pixels
        masked = np.array([files[k].cutouts[i].masked_fraction for k, keep in members for i in keep])
        extra = iter(ood_warnings(pixels, fmt, card.input.bands, statistics, masked=masked))
        for k, keep in members:
            cutouts = list(files[k].cutouts)
            for i in keep:
                warnings = next(extra)
                if warnings:
                    cutouts[i] = replace(cutouts[i], warnings=cutouts[i].warnings + warnings)
            out[k] = replace(files[k], cutouts=tuple(cutouts))
    return out
