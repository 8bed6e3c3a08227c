"""Compare a simulated set's lens distributions with the BLF 1.0 catalogues, as a table of quantiles.

``python -m training.simulate.compare DATA_DIR [--blf-csv classifications-<set>.csv]``

Rows: theta_E (arcsec), numb_pix_lensed_image and flux_lensed_image_in_sigma of the lenses, at the 5, 16,
50, 84 and 95% quantiles. Simulated lenses are visible by construction (our label rule), so they are set
against BLF's lenses that pass the same pixel cut (numb_pix_lensed_image > 20, "BLF vis"); BLF's all
source-added cutouts ("BLF all") are shown too. The BLF quantiles are constants computed from the public
training catalogues (../shared/blf/classifications-<set>.csv, 20,000 rows each); ``--blf-csv`` recomputes
them from a catalogue file instead.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import numpy.typing as npt

QUANTILES = (5, 16, 50, 84, 95)
COLUMNS = ("theta_E_arcsec", "numb_pix_lensed_image", "flux_lensed_image_in_sigma")
RAD_TO_ARCSEC = 206264.80624709636

# {set: {column: (visible-lens quantiles, all-lens quantiles)}} from the BLF 1.0 training catalogues.
BLF_QUANTILES: dict[str, dict[str, tuple[tuple[float, ...], tuple[float, ...]]]] = {
    "space": {
        "theta_E_arcsec": ((0.1687, 0.2234, 0.8181, 3.258, 4.513), (0.1691, 0.2257, 0.8436, 3.335, 4.524)),
        "numb_pix_lensed_image": ((43.0, 80.0, 246.0, 914.7, 1700.0), (28.0, 68.0, 232.0, 891.0, 1683.0)),
        "flux_lensed_image_in_sigma": (
            (107.2, 222.4, 880.6, 3772.0, 10890.0),
            (59.2, 186.2, 822.4, 3628.0, 10470.0),
        ),
    },
    "ground": {
        "theta_E_arcsec": ((0.3596, 0.4965, 1.175, 3.717, 5.346), (0.3615, 0.5046, 1.28, 3.771, 5.307)),
        "numb_pix_lensed_image": ((30.0, 53.0, 144.0, 384.8, 760.2), (0.0, 22.0, 116.0, 340.0, 703.0)),
        "flux_lensed_image_in_sigma": (
            (45.47, 89.17, 339.7, 1307.0, 4627.0),
            (0.0, 31.45, 248.3, 1110.0, 3814.0),
        ),
    },
}


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _column(rows: list[dict[str, str]], name: str) -> npt.NDArray[np.float64]:
    if name == "theta_E_arcsec" and rows and name not in rows[0]:
        return np.sqrt(np.array([float(r["Einstein_area"]) for r in rows]) / np.pi) * RAD_TO_ARCSEC
    return np.array([float(r[name]) for r in rows], dtype=np.float64)


def blf_quantiles_from_csv(path: Path) -> dict[str, tuple[tuple[float, ...], tuple[float, ...]]]:
    """The (visible, all) lens quantiles of each column from a BLF catalogue file."""
    rows = [r for r in _read(path) if r["is_lens"].strip() == "1"]
    visible = [r for r in rows if float(r["numb_pix_lensed_image"]) > 20]
    return {
        c: (
            tuple(np.percentile(_column(visible, c), QUANTILES).tolist()),
            tuple(np.percentile(_column(rows, c), QUANTILES).tolist()),
        )
        for c in COLUMNS
    }


def sim_quantiles(data_dir: Path) -> tuple[str, int, dict[str, tuple[float, ...]]]:
    """Set name, number of lenses and lens quantiles of each column of a simulated set."""
    meta = json.loads((data_dir / "simulation.json").read_text())
    lenses = [r for r in _read(data_dir / "classifications.csv") if r["is_lens"] == "1"]
    if not lenses:
        raise ValueError(f"{data_dir} has no lenses to compare")
    return (
        meta["set"],
        len(lenses),
        {c: tuple(np.percentile(_column(lenses, c), QUANTILES).tolist()) for c in COLUMNS},
    )


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"


def quantile_table(data_dir: str | Path, blf_csv: str | Path | None = None) -> str:
    """The comparison as a Markdown table (one line per column and source)."""
    set_name, n_lenses, sim = sim_quantiles(Path(data_dir))
    blf = blf_quantiles_from_csv(Path(blf_csv)) if blf_csv else BLF_QUANTILES[set_name]
    head = "| set | quantity | data | " + " | ".join(f"{q}%" for q in QUANTILES) + " |"
    lines = [head, "|" + " --- |" * (3 + len(QUANTILES))]
    for c in COLUMNS:
        for label, values in (
            (f"sim ({n_lenses} lenses)", sim[c]),
            ("BLF vis", blf[c][0]),
            ("BLF all", blf[c][1]),
        ):
            lines.append(f"| {set_name} | {c} | {label} | " + " | ".join(_fmt(v) for v in values) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.simulate.compare", description=__doc__.splitlines()[0]
    )
    parser.add_argument("data_dir")
    parser.add_argument("--blf-csv", default=None, help="recompute BLF quantiles from this catalogue")
    args = parser.parse_args(argv)
    print(quantile_table(args.data_dir, args.blf_csv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
