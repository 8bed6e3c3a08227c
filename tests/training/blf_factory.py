"""Small BLF-layout data sets made in code for the reader's tests (no checked-in blobs).

Each cutout's pixel (0, 0) holds its band's 1-based position in u, g, r, i order (or 1 for VIS) and pixel
(0, 1) holds ``ID - 100000``, so a test can tell which file landed where.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
from astropy.io import fits

GROUND_FOLDERS = {"r": ("Band1", "imageSDSS_R-"), "i": ("Band2", "imageSDSS_I-"),
                  "g": ("Band3", "imageSDSS_G-"), "u": ("Band4", "imageSDSS_U-")}  # fmt: skip
SPACE_FOLDERS = {"vis": ("Band1", "imageEUC_VIS-")}
UGRI = ("u", "g", "r", "i")


def write_cutout(path: Path, data: np.ndarray, pixel_scale: float | None) -> None:
    """One BLF-style file: primary HDU, BITPIX -32, TAN WCS with CRPIX 51."""
    header = fits.Header()
    if pixel_scale is not None:
        header["CTYPE1"], header["CTYPE2"] = "RA---TAN", "DEC--TAN"
        header["CRPIX1"], header["CRPIX2"] = 51.0, 51.0
        header["CRVAL1"], header["CRVAL2"] = 150.0, 2.0
        header["CDELT1"], header["CDELT2"] = -pixel_scale / 3600.0, pixel_scale / 3600.0
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.PrimaryHDU(data.astype(">f4"), header=header).writeto(path)


def make_blf(
    root: Path,
    kind: Literal["ground", "space"] = "ground",
    n: int = 6,
    *,
    catalogue: Literal["root", "public"] | None = "root",
    quoted: bool = False,
    crlf: bool = False,
    extras: bool = True,
    truth: bool = False,
    masked_ids: tuple[int, ...] = (),
    size: int = 101,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Write an ``n``-cutout set under ``root`` (IDs 100000.., catalogue rows in a shuffled order).

    Returns the catalogue columns as written. ``masked_ids`` get a 3x3 block of the BLF mask value 100
    in every band.
    """
    rng = np.random.default_rng(seed)
    folders = GROUND_FOLDERS if kind == "ground" else SPACE_FOLDERS
    bands = UGRI if kind == "ground" else ("vis",)
    scale = 0.2 if kind == "ground" else 0.1
    ids = 100000 + np.arange(n)
    for band, (folder, prefix) in folders.items():
        for cid in ids:
            image = rng.normal(0.0, 1e-12, (size, size)).astype(np.float32)
            image[0, 0] = bands.index(band) + 1
            image[0, 1] = cid - 100000
            if cid in masked_ids:
                image[40:43, 40:43] = 100.0
            write_cutout(root / "Public" / folder / f"{prefix}{cid}.fits", image, scale)
    order = rng.permutation(n)
    cols: dict[str, np.ndarray] = {
        "ID": ids[order],
        "is_lens": (ids[order] % 2).astype(np.int64),
        "Einstein_area": np.where(ids[order] % 2 == 1, np.pi * (1.0 / 206264.806) ** 2, 0.0),
        "numb_pix_lensed_image": rng.integers(0, 500, n),
        "flux_lensed_image_in_sigma": rng.uniform(0, 1000, n),
    }
    if extras:
        cols["kind"] = np.where(ids[order] % 2 == 1, "lens", np.where(ids[order] % 4 == 0, "ring", "spiral"))
        for band in bands:
            cols[f"noise_sigma_{band}"] = np.full(n, 1e-12)
    if catalogue is not None:
        names = list(cols)
        head = ",".join(f'"{c}"' if quoted else c for c in names)
        lines = [head] + [",".join(str(cols[c][k]) for c in names) for k in range(n)]
        text = ("\r\n" if crlf else "\n").join(lines)  # no final newline, like the ground release
        where = root if catalogue == "root" else root / "Public"
        (where / "classifications.csv").write_text(text, newline="")
    if truth:
        (root / "truth").mkdir()
        noiseless = np.zeros((n, len(bands), size, size), dtype=np.float16)
        noiseless[:, :, 0, 2] = cols["ID"][:, None] - 100000  # row i = catalogue row i
        np.save(root / "truth" / "noiseless.npy", noiseless)
        (root / "simulation.json").write_text(json.dumps({"seed": 0, "set": kind}))
    return cols


def separable_set(root: Path, n: int, kind: str = "space", seed: int = 0) -> Path:
    """A BLF-layout set where lenses carry a faint ring around the centre (learnable in a few steps)."""
    rng = np.random.default_rng(seed)
    folders = SPACE_FOLDERS if kind == "space" else GROUND_FOLDERS
    scale = 0.1 if kind == "space" else 0.2
    yy, xx = np.mgrid[:101, :101]
    ring = np.exp(-((np.hypot(yy - 50, xx - 50) - 12.0) ** 2) / 4.0).astype(np.float32)
    labels = (np.arange(n) % 3 != 0).astype(int)  # 2/3 lenses, like the space set's 70%
    for k in range(n):
        for folder, prefix in folders.values():
            image = rng.normal(0.0, 1e-12, (101, 101)).astype(np.float32) + 3e-12 * labels[k] * ring
            write_cutout(root / "Public" / folder / f"{prefix}{100000 + k}.fits", image, scale)
    kinds = np.where(labels == 1, "lens", np.where(np.arange(n) % 2 == 0, "ring", "galaxy"))
    lines = ["ID,is_lens,Einstein_area,numb_pix_lensed_image,flux_lensed_image_in_sigma,kind"]
    lines += [f"{100000 + k},{labels[k]},0.0,0,0.0,{kinds[k]}" for k in range(n)]
    (root / "classifications.csv").write_text("\n".join(lines) + "\n")
    return root
