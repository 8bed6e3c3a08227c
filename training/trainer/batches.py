"""Training data for the loop: the split, balanced batches, on-the-fly augmentation, the input mode.

- The data set is read with ``training.data.read_blf`` (any BLF-layout folder); ``data.subset`` keeps a
  stratified (label x kind) sample; ``training.data.split_indices`` splits it 80/20 by the run's seed.
- Balanced batches: every training batch holds ``batch_size // 2`` lenses and as many non-lenses (the
  rarer class is cycled), so the network sees both classes equally whatever the set's lens fraction.
  Its logits are therefore log-odds under a 50/50 prior; calibration on the validation split (at the
  set's own prior) fixes the probability scale afterwards.
- Every draw (batch order, augmentation) comes from ``numpy.random.default_rng([seed, epoch, batch])``,
  so an epoch is the same whether run straight through or after ``--resume``, and whatever the number
  of DataLoader workers.
- Input modes: ``fits`` gives raw pixels (all bands, plane order of the set); ``png-gray`` and
  ``png-rgb`` send each (augmented) cutout through ``app.render`` + ``app.decode`` as the service will
  see a PNG (``training.augment.through_png``); ``png-rgb`` gives planes R, G, B = i, r, g. With
  ``augment.png_stretch: random`` each training cutout is rendered under its own random stretch
  (``training.stretches.random_stretch``); validation keeps the default stretch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import Dataset

from training.augment import Augmenter, through_png
from training.data import BLFDataset, read_blf, split_indices

Index = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Split:
    """The data of one run: the set, train/validation indices into it, and what the model takes."""

    dataset: BLFDataset
    train: Index
    val: Index
    in_channels: int
    bands: tuple[str, ...]  # what the model's planes are: the set's bands, or ("i", "r", "g") for RGB


def load_split(config: Mapping[str, Any], progress: bool = True) -> Split:
    """Read ``data.train``, take ``data.subset`` and split by ``seed`` (see the module docstring)."""
    data = config["data"]
    ds = read_blf(data["train"], cache_dir=data["cache_dir"], progress=progress)
    if ds.labels is None:
        raise ValueError(f"{data['train']}: no classifications.csv: a training set needs labels")
    pool = np.arange(len(ds), dtype=np.int64)
    subset = data["subset"]
    if subset is not None and subset < len(ds):
        _, pool = split_indices(ds.labels, ds.kinds, fraction=subset / len(ds), seed=config["seed"])
    kinds = None if ds.kinds is None else ds.kinds[pool]
    tr, va = split_indices(ds.labels[pool], kinds, fraction=data["val_fraction"], seed=config["seed"])
    train, val = pool[tr], pool[va]
    labels = ds.labels[train]
    if labels.min() == labels.max():
        raise ValueError("the training split holds one class only: balanced batches need both")
    if config["input"] == "png-rgb":
        bands: tuple[str, ...] = tuple(data["rgb_bands"])
        missing = {"g", "r", "i"} - set(ds.bands)
        if missing or bands != ("i", "r", "g"):
            raise ValueError(f"png-rgb needs bands g, r, i shown as R, G, B = i, r, g; set has {ds.bands}")
    elif config["input"] == "png-gray":
        if len(ds.bands) != 1:
            raise ValueError(f"png-gray takes one-band sets, {data['train']} has bands {ds.bands}")
        bands = ds.bands
    else:
        bands = ds.bands
    return Split(ds, train, val, len(bands), bands)


def make_augmenter(config: Mapping[str, Any], bands: tuple[str, ...], train: bool) -> Augmenter:
    """The Augmenter of a run: the configured strength and PNG stretch for training; for validation
    strength 0 and the default stretch (the PNG round trip only).

    ``bands`` names the planes of the pixels it will be given: the *data set's* bands
    (``split.dataset.bands``), not the model's (for ``png-rgb`` the renderer picks i, r, g out of
    u, g, r, i by these names)."""
    aug = config["augment"]
    png = {"fits": None, "png-gray": "gray", "png-rgb": "rgb"}[config["input"]]
    png_probability = 1.0
    if png is None and aug["png_gray_fraction"] > 0 and len(bands) == 1:
        png, png_probability = "gray", aug["png_gray_fraction"] if train else 0.0
    return Augmenter(
        strength=aug["strength"] if train else 0.0,
        use_d4=aug["use_d4"],
        max_shift_px=aug["max_shift_px"],
        max_flux_factor=aug["max_flux_factor"],
        png=png,  # type: ignore[arg-type]
        png_probability=png_probability,
        png_stretch=aug["png_stretch"] if train else "default",
        bands=bands,
    )


def training_augmenter(config: Mapping[str, Any], split: Split) -> Augmenter:
    """The training Augmenter of a run on ``split``: given the data set's planes (see make_augmenter)."""
    return make_augmenter(config, split.dataset.bands, train=True)


def balanced_batches(
    labels: npt.NDArray[np.integer], batch_size: int, steps: int, seed: int, epoch: int
) -> list[Index]:
    """``steps`` batches of positions into ``labels``: half lenses, half non-lenses each (the odd one
    out a lens), each class drawn without replacement and re-permuted when it runs out."""
    rng = np.random.default_rng([seed, epoch, 0x5EED])
    classes = [np.flatnonzero(labels == 1), np.flatnonzero(labels != 1)]
    counts = (batch_size - batch_size // 2, batch_size // 2)
    streams: list[list[int]] = [[], []]
    batches = []
    for _ in range(steps):
        parts = []
        for c in (0, 1):
            while len(streams[c]) < counts[c]:
                streams[c].extend(rng.permutation(classes[c]).tolist())
            parts.append(streams[c][: counts[c]])
            del streams[c][: counts[c]]
        batch = np.array(parts[0] + parts[1], dtype=np.int64)
        batches.append(batch[rng.permutation(len(batch))])
    return batches


class BatchSet(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Map-style dataset whose items are whole batches: item k is (pixels (B, C, 101, 101), labels (B,)).

    Pixels are augmented here in numpy (vectorised over the batch) before becoming tensors; used with
    ``DataLoader(batch_size=None)`` so each worker makes whole batches.
    """

    def __init__(
        self, split: Split, batches: list[Index], augmenter: Augmenter, seed: int, epoch: int
    ) -> None:
        self.split, self.batches, self.augmenter = split, batches, augmenter
        self.seed, self.epoch = seed, epoch

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        ds = self.split.dataset
        # sorted reads are faster from the memmap; the batch order itself does not matter
        idx = np.sort(self.split.train[self.batches[k]])
        rng = np.random.default_rng([self.seed, self.epoch, k])
        truth = ds.truth.noiseless if ds.truth is not None else None
        sigma = ds.noise_sigma
        pixels = self.augmenter(
            ds.images[idx],
            rng,
            noiseless=None if truth is None or sigma is None else truth[idx],
            noise_sigma=None if truth is None or sigma is None else sigma[idx],
        )
        assert ds.labels is not None
        return torch.from_numpy(pixels), torch.from_numpy(ds.labels[idx].astype(np.float32))


def validation_pixels(
    split: Split, config: Mapping[str, Any], chunk: int = 512
) -> Iterator[npt.NDArray[np.float32]]:
    """The validation cutouts as the model takes them (raw pixels, or through the PNG round trip), in
    chunks of ``chunk``; no augmentation."""
    ds = split.dataset
    for start in range(0, len(split.val), chunk):
        pixels = np.asarray(ds.images[split.val[start : start + chunk]], dtype=np.float32)
        if config["input"] == "png-gray":
            pixels = through_png(pixels, "gray")
        elif config["input"] == "png-rgb":
            pixels = through_png(pixels, "rgb", ds.bands)
        yield pixels
