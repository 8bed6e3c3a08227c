"""The training configuration: a YAML file, ``key=value`` overrides, and the resolved dict of a run.

A config is a nested dict with the sections below (every key has a default, so a YAML file names only
what it changes). Overrides address a key by its dotted path (``data.train=data/space``) or, when the
name is unique, by its bare name (``lr=1e-3``, ``subset=512``, ``strength=0.3``). Values are parsed as
YAML scalars (``1e-3`` is a float, ``null`` is None) and must match the default's type (an int is
accepted for a float); an unknown key is an error naming the known ones.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from training.nets import ARCHS

INPUTS = ("fits", "png-gray", "png-rgb")
SCHEDULES = ("cosine", "onecycle")
PNG_STRETCHES = ("default", "random")

DEFAULTS: dict[str, Any] = {
    "name": "space",  # the shipped model this config trains (space, ground, rgb) or any label
    "seed": 0,  # fixes the split, the subset, the batches, the augmentation draws and the init
    "device": "auto",  # auto (CUDA when torch sees one, else CPU), cpu, cuda, cuda:1, ...
    "threads": 2,  # torch CPU threads
    "workers": 0,  # DataLoader worker processes (0: batches made in the training process)
    "input": "fits",  # fits: raw pixels; png-gray / png-rgb: through app.render + app.decode
    "out": "runs",  # run directories go to OUT/RUN_NAME
    "run_name": None,  # default NAME-ARCH-YYYYmmdd-HHMMSS
    "progress": True,  # tqdm bars
    "data": {
        "train": "data/space",  # a BLF-layout folder (simulated, or the release's Public unchanged)
        "cache_dir": None,  # read_blf's cache (default ROOT/.cache)
        "subset": None,  # use this many cutouts (stratified by label and kind), for searches and tests
        "val_fraction": 0.2,
        "rgb_bands": ["i", "r", "g"],  # png-rgb: the bands shown as R, G, B (Lupton composite)
    },
    "arch": "cnn",
    "width": 24,
    "depth": 2,
    "dropout": 0.2,
    "lr": 1.0e-3,
    "weight_decay": 1.0e-4,
    "schedule": "cosine",  # per-step cosine decay after warmup_epochs of linear warm-up, or one-cycle
    "warmup_epochs": 0.5,
    "batch_size": 64,
    "epochs": 20,
    "patience": 4,  # stop after this many epochs without a better validation AUC
    "steps_per_epoch": None,  # default: one pass over the training split's size
    "eval_batch_size": 256,
    "augment": {
        "strength": 0.5,  # training.augment.Augmenter's strength in [0, 1]
        "max_flux_factor": 10.0,
        "max_shift_px": 0.5,
        "use_d4": True,
        # FITS one-band models: the share of training cutouts rendered through the grayscale PNG path,
        # so the model also scores PNG renderings (space; DESIGN section 3)
        "png_gray_fraction": 0.0,
        # PNG inputs: the training stretch, "default" (app.render's) or "random" (one
        # training.stretches.random_stretch draw per cutout at the augment strength); validation always
        # renders with the default stretch
        "png_stretch": "default",
    },
}


class ConfigError(ValueError):
    """A config file or override that does not fit the schema."""


def _leaves(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_leaves(value, path + "."))
        else:
            out[path] = value
    return out


def _parse_value(text: str) -> Any:
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):  # PyYAML reads 1e-3 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _coerce(path: str, value: Any, default: Any) -> Any:
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true/false, got {value!r}")
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, list) and isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, type(default)) or isinstance(value, bool) != isinstance(default, bool):
        raise ConfigError(f"{path}: expected {type(default).__name__}, got {value!r}")
    return value


def _resolve_key(key: str, known: Iterable[str]) -> str:
    known = list(known)
    if key in known:
        return key
    matches = [k for k in known if k.rsplit(".", 1)[-1] == key]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ConfigError(f"{key!r} is ambiguous: use one of {', '.join(matches)}")
    raise ConfigError(f"unknown config key {key!r}; known keys: {', '.join(sorted(known))}")


def _set(tree: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = tree
    for p in parents:
        node = node[p]
    node[leaf] = value


def merge(base: Mapping[str, Any], updates: Mapping[str, Any], where: str = "config") -> dict[str, Any]:
    """``base`` with the nested ``updates`` applied (type-checked against ``DEFAULTS``); returns a copy."""
    out = copy.deepcopy(dict(base))
    known = _leaves(DEFAULTS)
    for path, value in _leaves(updates).items():
        target = _resolve_key(path, known) if "." not in path else path
        if target not in known:
            raise ConfigError(f"{where}: unknown config key {path!r}; known keys: {', '.join(sorted(known))}")
        _set(out, target, _coerce(target, value, known[target]))
    return out


def apply_overrides(config: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """``config`` with ``key=value`` overrides applied (see the module docstring)."""
    out = copy.deepcopy(dict(config))
    known = _leaves(DEFAULTS)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not key=value")
        path = _resolve_key(key.strip(), known)
        _set(out, path, _coerce(path, _parse_value(text.strip()), known[path]))
    return out


def validate(config: Mapping[str, Any]) -> None:
    """Raise ConfigError for values outside their range (names, probabilities, sizes)."""
    checks = [
        (config["arch"] in ARCHS, f"arch must be one of {ARCHS}, got {config['arch']!r}"),
        (config["input"] in INPUTS, f"input must be one of {INPUTS}, got {config['input']!r}"),
        (config["schedule"] in SCHEDULES, f"schedule must be one of {SCHEDULES}"),
        (0.0 <= config["augment"]["strength"] <= 1.0, "augment.strength must be in [0, 1]"),
        (
            config["augment"]["png_stretch"] in PNG_STRETCHES,
            f"augment.png_stretch must be one of {PNG_STRETCHES}, got {config['augment']['png_stretch']!r}",
        ),
        (0.0 < config["data"]["val_fraction"] < 1.0, "data.val_fraction must be in (0, 1)"),
        (config["batch_size"] >= 2, "batch_size must be at least 2 (one lens, one non-lens)"),
        (config["epochs"] >= 1 and config["patience"] >= 1, "epochs and patience must be >= 1"),
        (config["lr"] > 0 and config["weight_decay"] >= 0, "lr must be > 0 and weight_decay >= 0"),
        (config["data"]["subset"] is None or config["data"]["subset"] >= 4, "data.subset must be >= 4"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> dict[str, Any]:
    """DEFAULTS, then the YAML file at ``path`` (if any), then the overrides; validated."""
    config = copy.deepcopy(DEFAULTS)
    if path is not None:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: a config file is a YAML mapping")
        config = merge(config, loaded, where=str(path))
    config = apply_overrides(config, overrides)
    validate(config)
    return config


def resolve(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """A complete, validated config from a partial one (missing keys take DEFAULTS)."""
    out = merge(DEFAULTS, config or {})
    validate(out)
    return out
