"""A montage of a BLF-layout data set: rows of lenses and of each kind of non-lens, to a PNG.

``python -m training.montage DATA_DIR --out montage.png [--cols 6] [--scale 2]``

Reads ``classifications.csv`` (its ``kind`` column, so the simulator's output) and the FITS files through
``app.decode`` (masked pixels become NaN and render black). Ground sets are shown as g, r, i Lupton
colour composites (a harder asinh stretch than the rgb model's default, so that faint arcs and the noise
show), space sets as asinh grayscale, both through app/render.py; each tile is titled with kind, ID and
label (lenses also with their lensed flux in units of the noise sigma). Display order: north up, row 0
of the FITS array at the bottom.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from app.decode import decode_path
from app.render import LuptonStretch, gray_levels, lupton_rgb
from training.simulate.config import BandConfig, get_set
from training.simulate.cutout import NONLENS_KINDS

KIND_ORDER = ("lens", *NONLENS_KINDS)
TITLE_H = 14
DISPLAY_STRETCH = LuptonStretch(stretch_sigma=12.0)
"""A harder stretch than the rgb model's default, for people: faint arcs and the noise become visible."""


def _read_band(data_dir: Path, band: BandConfig, cutout_id: str) -> npt.NDArray[np.float32]:
    decoded = decode_path(data_dir / "Public" / band.blf_folder / f"{band.blf_prefix}-{cutout_id}.fits")
    pixels: npt.NDArray[np.float32] = decoded.pixels[0, 0]
    return pixels


def render_tile(data_dir: Path, cutout_id: str) -> npt.NDArray[np.uint8]:
    """(H, W, 3) uint8 display tile of one cutout: colour composite (ground) or grayscale (space)."""
    (vis,) = get_set("space").bands
    if (data_dir / "Public" / vis.blf_folder / f"{vis.blf_prefix}-{cutout_id}.fits").exists():
        gray = gray_levels(_read_band(data_dir, vis, cutout_id))
        return np.repeat(np.asarray(gray, dtype=np.uint8)[:, :, None], 3, axis=2)
    bands = {band.name: band for band in get_set("ground").bands}
    g, r, i = (_read_band(data_dir, bands[name], cutout_id) for name in ("g", "r", "i"))
    return lupton_rgb(g, r, i, DISPLAY_STRETCH)


def _lens_flux(row: dict[str, str]) -> float:
    try:
        return float(row.get("flux_lensed_image_in_sigma") or 0.0)
    except ValueError:
        return 0.0


def pick_rows(
    catalogue: list[dict[str, str]], cols: int, lens_rows: int = 3
) -> list[tuple[str, list[dict[str, str]]]]:
    """Rows of the montage: ``lens_rows`` rows of lenses then one row per non-lens kind present.

    Lens rows are drawn from equal quantile bins of ``flux_lensed_image_in_sigma``, brightest bin first,
    so the montage shows the range from obvious arcs to the faint lenses that make up most of a
    BLF-like set (within a bin, catalogue order, which is random with respect to brightness).
    """
    by_kind: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in catalogue:
        by_kind[row.get("kind") or ("lens" if row["is_lens"] == "1" else "non-lens")].append(row)
    kinds = [k for k in KIND_ORDER if k in by_kind] + sorted(k for k in by_kind if k not in KIND_ORDER)
    rows: list[tuple[str, list[dict[str, str]]]] = []
    for kind in kinds:
        items = by_kind[kind]
        if kind != "lens":
            rows.append((kind, items[:cols]))
            continue
        ranked = sorted(items, key=_lens_flux, reverse=True)
        bins = np.array_split(np.arange(len(ranked)), lens_rows)
        for members in bins:
            chunk = sorted((ranked[k] for k in members), key=lambda row: int(row["ID"]))[:cols]
            if chunk:
                rows.append((kind, chunk))
    return rows


def make_montage(data_dir: str | Path, out: str | Path, cols: int = 6, scale: int = 2) -> Path:
    """Draw the montage of ``data_dir`` to the PNG ``out``; returns its path."""
    data = Path(data_dir)
    with (data / "classifications.csv").open(newline="") as f:
        catalogue = list(csv.DictReader(f))
    rows = pick_rows(catalogue, cols)
    tile = 101 * scale
    canvas = Image.new("RGB", (cols * (tile + 2), len(rows) * (tile + TITLE_H + 2)), (40, 40, 40))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    for r, (kind, items) in enumerate(rows):
        for c, row in enumerate(items):
            img = Image.fromarray(render_tile(data, row["ID"])).resize((tile, tile), Image.Resampling.NEAREST)
            x0, y0 = c * (tile + 2), r * (tile + TITLE_H + 2)
            canvas.paste(img, (x0, y0 + TITLE_H))
            colour = (120, 255, 120) if row["is_lens"] == "1" else (255, 255, 255)
            title = f"{kind} {row['ID']} L={row['is_lens']}"
            if row["is_lens"] == "1":
                title += f" {_lens_flux(row):.0f}sig"
            draw.text((x0 + 2, y0 + 1), title, fill=colour, font=font)
    out_path = Path(out)
    canvas.save(out_path, format="PNG", optimize=True)
    return out_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.montage", description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--out", required=True)
    parser.add_argument("--cols", type=int, default=6)
    parser.add_argument("--scale", type=int, default=2, help="pixels per cutout pixel")
    args = parser.parse_args(argv)
    print(make_montage(args.data_dir, args.out, cols=args.cols, scale=args.scale))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
