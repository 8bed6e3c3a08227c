"""The training loop: balanced batches, BCE-with-logits, AdamW with a per-step schedule, validation
AUC each epoch, early stopping, checkpoints (``last.pt`` each epoch, ``best.pt`` at the best AUC) and an
exact resume.

The run directory holds (DESIGN contracts): ``config.yaml`` (the resolved config), ``best.pt``
(``{"state_dict", "config", "epoch", "val_auc"}``), ``last.pt`` (plus optimizer, scheduler and loop
state, for ``--resume``), ``history.json``, ``curves.png`` and ``val_predictions.npz``.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import platform
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import yaml
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from training import metrics
from training.model import BEST, LensFinder, build_model
from training.nets import count_flops, count_parameters
from training.trainer import artifacts
from training.trainer.batches import BatchSet, Split, balanced_batches, load_split, training_augmenter
from training.trainer.batches import validation_pixels as _validation_pixels
from training.trainer.config import resolve

LAST = "last.pt"
CONFIG = "config.yaml"
TrainConfig = Mapping[str, Any]  # a (partial) nested config dict; see training.trainer.config


def pick_device(name: str) -> torch.device:
    """``auto``: the first CUDA device when torch sees one, else the CPU; otherwise as named."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _seed_everything(seed: int, epoch: int) -> None:
    # One torch seed per epoch (dropout; numpy draws use explicit Generators), so a resumed epoch
    # draws what the uninterrupted run would have.
    torch.manual_seed(seed * 1_000_003 + epoch)


def _scheduler(optimizer: torch.optim.Optimizer, config: Mapping[str, Any], steps: int) -> Any:
    total = config["epochs"] * steps
    if config["schedule"] == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config["lr"], total_steps=total)
    warmup = max(1, round(config["warmup_epochs"] * steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _val_cache(split: Split, config: Mapping[str, Any]) -> list[npt.NDArray[Any]] | None:
    """PNG inputs: the validation renderings, made once (8-bit levels kept as uint8); FITS: None (read
    from the memmap each time)."""
    if config["input"] == "fits":
        return None
    return [chunk.astype(np.uint8) for chunk in _validation_pixels(split, config)]


@torch.no_grad()
def predict(model: nn.Module, chunks: Any, device: torch.device, batch_size: int) -> npt.NDArray[np.float32]:
    """Logits (N,) of the model in eval mode over an iterable of (n, C, H, W) pixel chunks."""
    model.eval()
    out = []
    for chunk in chunks:
        for start in range(0, len(chunk), batch_size):
            x = torch.from_numpy(np.asarray(chunk[start : start + batch_size], dtype=np.float32))
            out.append(model(x.to(device)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def _bce(logits: npt.NDArray[np.float32], labels: npt.NDArray[np.integer]) -> float:
    # log(1 + exp(-|z|)) + max(z, 0) - z y: the stable form of BCE with logits
    z, y = logits.astype(np.float64), labels.astype(np.float64)
    return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))


def _run_dir(config: Mapping[str, Any]) -> Path:
    name = config["run_name"]
    if name is None:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        name = f"{config['name']}-{config['arch']}-{stamp}"
    return Path(config["out"]) / name


def describe_hardware(device: torch.device) -> str:
    """One line naming what trained the model: the GPU, or the CPU and the threads torch used."""
    if device.type == "cuda":
        return f"CUDA {torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    threads = torch.get_num_threads()
    return f"CPU {cpu}, {os.cpu_count()} cores, {threads} torch threads, torch {torch.__version__}"


def _resolved(config: dict[str, Any], split: Split, model: LensFinder, steps: int) -> dict[str, Any]:
    """What training learned about the run from its data and network, stored in the config."""
    net = model.net
    shape = (split.in_channels, *split.dataset.images.shape[2:])
    ds = split.dataset
    return {
        "in_channels": split.in_channels,
        "bands": list(split.bands),
        "data_bands": list(ds.bands),
        "pixel_scale_arcsec": float(ds.pixel_scale_arcsec),
        "n_train": len(split.train),
        "n_val": len(split.val),
        "n_train_lenses": int(np.sum(ds.labels[split.train] == 1)) if ds.labels is not None else None,
        "n_val_lenses": int(np.sum(ds.labels[split.val] == 1)) if ds.labels is not None else None,
        "steps_per_epoch": steps,
        "parameters": count_parameters(net),
        "flops_per_cutout": count_flops(net, shape),
        "simulation": ds.simulation,
        "data_root": str(ds.root),
    }


def train(
    config: TrainConfig,
    resume: str | Path | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    """Train the model ``config`` describes (partial configs take DEFAULTS); returns the run directory.

    ``on_epoch`` is called with each epoch's history record after its checkpoint is saved (a
    hyper-parameter search reports validation AUC through it and may raise to stop the run there).

    With ``resume`` (a run directory), the run continues from its ``last.pt`` after the last completed
    epoch, with the run's saved config (``config`` may change ``epochs``, ``patience``, ``progress``,
    ``device``, ``workers``); the result is the same as an uninterrupted run on the same device.
    """
    state: dict[str, Any] | None = None
    if resume is not None:
        run_dir = Path(resume)
        state = torch.load(run_dir / LAST, map_location="cpu", weights_only=False)
        saved = copy.deepcopy(state["config"])
        resolved_part = saved.pop("resolved")
        for key in ("epochs", "patience", "progress", "device", "workers", "threads"):
            if key in config:
                saved[key] = config[key]
        cfg = resolve(saved)
        cfg["resolved"] = resolved_part
    else:
        cfg = resolve({k: v for k, v in config.items() if k != "resolved"})
        run_dir = _run_dir(cfg)
        if (run_dir / LAST).exists():
            raise FileExistsError(
                f"{run_dir} already holds a run; pass resume={str(run_dir)!r} or a new run_name"
            )
    torch.set_num_threads(cfg["threads"])
    device = pick_device(cfg["device"])
    progress = bool(cfg["progress"])

    split = load_split(cfg, progress=progress)
    assert split.dataset.labels is not None
    steps = cfg["steps_per_epoch"] or max(1, len(split.train) // cfg["batch_size"])
    torch.manual_seed(cfg["seed"])
    if state is None:
        cfg["resolved"] = {"in_channels": split.in_channels}
    model = build_model(cfg).to(device)
    if state is None:
        cfg["resolved"] = _resolved(cfg, split, model, steps) | {"hardware": describe_hardware(device)}
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    scheduler = _scheduler(optimizer, cfg, steps)
    history: list[dict[str, Any]] = []
    best_auc, best_epoch, bad_epochs, start_epoch = -1.0, 0, 0, 0
    if state is not None:
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history, best_auc = state["history"], state["best_auc"]
        best_epoch, bad_epochs, start_epoch = state["best_epoch"], state["bad_epochs"], state["epoch"]
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG).write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")

    labels_train = split.dataset.labels[split.train]
    labels_val = split.dataset.labels[split.val]
    val_cache = _val_cache(split, cfg)
    augmenter = training_augmenter(cfg, split)
    loss_fn = nn.BCEWithLogitsLoss()
    if bad_epochs >= cfg["patience"]:
        start_epoch = cfg["epochs"]  # the saved run had already stopped early
    for epoch in range(start_epoch, cfg["epochs"]):
        t0 = time.perf_counter()
        _seed_everything(cfg["seed"], epoch)
        batches = balanced_batches(labels_train, cfg["batch_size"], steps, cfg["seed"], epoch)
        loader = DataLoader(
            BatchSet(split, batches, augmenter, cfg["seed"], epoch),
            batch_size=None,
            shuffle=False,
            num_workers=cfg["workers"],
            pin_memory=device.type == "cuda",
        )
        model.train()
        total, seen = 0.0, 0
        bar = tqdm(loader, total=steps, desc=f"epoch {epoch + 1}/{cfg['epochs']}", disable=not progress)
        for x, y in bar:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = loss_fn(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += float(loss.detach()) * len(y)
            seen += len(y)
            bar.set_postfix(loss=f"{total / seen:.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
        t_train = time.perf_counter() - t0
        chunks = val_cache if val_cache is not None else _validation_pixels(split, cfg)
        logits = predict(model, chunks, device, cfg["eval_batch_size"])
        auc = metrics.auc(labels_val, logits)
        record = {
            "epoch": epoch + 1,
            "train_loss": total / max(seen, 1),
            "val_loss": _bce(logits, labels_val),
            "val_auc": auc,
            "lr": float(scheduler.get_last_lr()[0]),
            "seconds": time.perf_counter() - t0,
            "train_cutouts_per_s": seen / t_train,
        }
        history.append(record)
        improved = auc > best_auc
        if improved:
            best_auc, best_epoch, bad_epochs = auc, epoch + 1, 0
            torch.save(
                {"state_dict": model.state_dict(), "config": cfg, "epoch": epoch + 1, "val_auc": auc},
                run_dir / BEST,
            )
            kinds = None if split.dataset.kinds is None else split.dataset.kinds[split.val]
            artifacts.write_val_predictions(run_dir, logits, labels_val, kinds, split.dataset.ids[split.val])
        else:
            bad_epochs += 1
        torch.save(
            {
                "state_dict": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "config": cfg,
                "epoch": epoch + 1,
                "history": history,
                "best_auc": best_auc,
                "best_epoch": best_epoch,
                "bad_epochs": bad_epochs,
            },
            run_dir / LAST,
        )
        artifacts.write_history(run_dir, history)
        artifacts.write_curves(run_dir, history, f"{cfg['name']}: {cfg['arch']} (best epoch {best_epoch})")
        if on_epoch is not None:
            on_epoch(record)
        if progress:
            tqdm.write(
                f"epoch {epoch + 1}: train loss {record['train_loss']:.4f}  "
                f"val loss {record['val_loss']:.4f}  val AUC {auc:.4f}"
                f"{'  (best)' if improved else ''}  {record['seconds']:.0f} s"
            )
        if bad_epochs >= cfg["patience"]:
            if progress:
                tqdm.write(
                    f"early stop: no better validation AUC for {bad_epochs} epochs (best {best_epoch})"
                )
            break
    return run_dir
