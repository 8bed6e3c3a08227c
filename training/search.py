"""Hyper-parameter search with Optuna on a subset: learning rate, weight decay, width, depth and
augmentation strength.

``python -m training.search --config training/configs/space.yaml --trials 12 [--subset 4000]
[--epochs 6] [--out docs/search/space] [--work runs/search-space] [key=value ...]``

Each trial trains ``training.train`` on the same stratified subset and split (the config's seed) for
a few epochs and is scored by its best validation AUC (higher is better). Optuna's TPE sampler (seeded)
proposes the values; a median pruner stops a trial whose validation AUC after an epoch is below the
median of the earlier trials at that epoch, which saves most of the CPU time of hopeless settings.

The study lives in ``OUT/study.db`` (SQLite): rerunning the command continues it up to ``--trials``
finished trials (a trial that was running when the process died is marked failed and redone). The
summary is written next to it: ``summary.md`` (every trial, best first), ``search.png`` (AUC per
trial with the best so far, and AUC against each parameter), ``summary.json`` (the best values, the
ranges searched, counts; pass it to ``python -m training.export --search`` so the card records it).
Copy the best values into the shipped config by hand and say so in its comments: a search on a
subset with short schedules ranks settings, it does not replace the full training run.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from training.trainer.config import apply_overrides, load_config

# The space searched: name -> (kind, low, high) for floats (log: log-uniform), or the choices.
SPACE: dict[str, tuple[Any, ...]] = {
    "lr": ("log", 2e-4, 4e-3),
    "weight_decay": ("log", 1e-5, 1e-3),
    "width": ("choice", 16, 24, 32),
    "depth": ("choice", 1, 2, 3),
    "strength": ("float", 0.0, 1.0),
}
STUDY_DB = "study.db"


def suggest(trial: Any) -> dict[str, Any]:
    """The trial's values for every parameter of :data:`SPACE`."""
    values: dict[str, Any] = {}
    for name, (kind, *args) in SPACE.items():
        if kind == "choice":
            values[name] = trial.suggest_categorical(name, list(args))
        else:
            values[name] = trial.suggest_float(name, args[0], args[1], log=kind == "log")
    return values


def overrides_of(values: dict[str, Any]) -> list[str]:
    """``key=value`` overrides for the training config (``strength`` is ``augment.strength``)."""
    return [f"{'augment.strength' if k == 'strength' else k}={v}" for k, v in values.items()]


def make_objective(config: dict[str, Any], work: Path, epochs: int) -> Any:
    import optuna

    from training.trainer.loop import train

    def objective(trial: optuna.Trial) -> float:
        values = suggest(trial)
        cfg = apply_overrides(config, overrides_of(values))
        cfg |= {
            "out": str(work),
            "run_name": f"trial-{trial.number:03d}",
            "epochs": epochs,
            "patience": epochs,
        }
        best = [0.0]

        def report(record: dict[str, Any]) -> None:
            best[0] = max(best[0], float(record["val_auc"]))
            trial.report(record["val_auc"], record["epoch"])
            if trial.should_prune():
                raise optuna.TrialPruned(f"validation AUC {record['val_auc']:.4f} at epoch {record['epoch']}")

        train(cfg, on_epoch=report)
        return best[0]

    return objective


def open_study(out: Path, seed: int) -> Any:
    """The study in ``out/study.db`` (created or continued); trials left running by a dead process
    are marked failed so they are redone."""
    import optuna

    out.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        study_name="lensfinder",
        storage=f"sqlite:///{out / STUDY_DB}",
        direction="maximize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=5),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1),
    )
    for stale in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(stale.number, state=optuna.trial.TrialState.FAIL)
    return study


def summarise(study: Any, meta: dict[str, Any], out: Path) -> dict[str, Any]:
    """Write summary.md, summary.json and search.png; return the summary."""
    import optuna

    states = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == states.COMPLETE]
    pruned = [t for t in trials if t.state == states.PRUNED]
    if not done:
        raise RuntimeError("no finished trial to summarise")
    best = study.best_trial
    try:
        importance = {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except (RuntimeError, ValueError):  # too few finished trials for the importance evaluator
        importance = {}
    summary = {
        "method": "optuna TPE sampler (seeded) with a median pruner, objective: best validation AUC",
        **meta,
        "space": {k: list(v) for k, v in SPACE.items()},
        "trials_finished": len(done),
        "trials_pruned": len(pruned),
        "best_trial": best.number,
        "best_val_auc": float(best.value),
        "best_params": dict(best.params),
        "importance": importance,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    ranked = sorted(done, key=lambda t: -t.value) + pruned
    names = list(SPACE)
    lines = [
        f"# Hyper-parameter search: {meta['config']}",
        "",
        "Written by `python -m training.search` (do not edit by hand); command:",
        "",
        f"    {meta['command']}",
        "",
        f"{summary['method']}. Each trial: {meta['subset']} cutouts of {meta['train']} (80/20 split, seed "
        f"{meta['seed']}), at most {meta['epochs']} epochs. {len(done)} trials finished, {len(pruned)} "
        f"pruned. Best: trial {best.number}, validation AUC {best.value:.4f}, "
        + ", ".join(f"{k} = {_fmt(v)}" for k, v in best.params.items())
        + ".",
        "",
        "Parameter importance (optuna.importance.get_param_importances, its default evaluator): "
        + (", ".join(f"{k} {v:.2f}" for k, v in importance.items()) or "not enough trials"),
        "",
        "| trial | state | val AUC | epochs | " + " | ".join(names) + " |",
        "|---" * (4 + len(names)) + "|",
    ]
    for t in ranked:
        value = max(t.intermediate_values.values(), default=float("nan")) if t.value is None else t.value
        cells = [str(t.number), t.state.name.lower(), f"{value:.4f}", str(len(t.intermediate_values))]
        lines.append("| " + " | ".join(cells + [_fmt(t.params.get(n)) for n in names]) + " |")
    lines += ["", "![validation AUC per trial and against each parameter](search.png)", ""]
    (out / "summary.md").write_text("\n".join(lines))
    plot_search(done, names, out / "search.png")
    return summary


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "" if value is None else str(value)


def plot_search(done: list[Any], names: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    numbers = [t.number for t in done]
    values = np.array([t.value for t in done])
    fig, axes = plt.subplots(1, 1 + len(names), figsize=(3.0 * (1 + len(names)), 2.9), sharey=True)
    axes[0].plot(numbers, values, "o", ms=4, label="trial")
    axes[0].plot(numbers, np.maximum.accumulate(values), "-", color="C3", label="best so far")
    axes[0].set_xlabel("trial")
    axes[0].set_ylabel("validation AUC")
    axes[0].legend(fontsize=7)
    for ax, name in zip(axes[1:], names, strict=True):
        ax.plot([t.params[name] for t in done], values, "o", ms=4)
        ax.set_xlabel(name)
        if SPACE[name][0] == "log":
            ax.set_xscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.search", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--config", type=Path, required=True, help="the base config (training/configs/*.yaml)"
    )
    parser.add_argument("--trials", type=int, default=12, help="finished (or pruned) trials to reach")
    parser.add_argument("--subset", type=int, default=4000, help="cutouts per trial (training + validation)")
    parser.add_argument("--epochs", type=int, default=6, help="epochs per trial at most")
    parser.add_argument("--out", type=Path, default=None, help="study and summary (default runs/search-NAME)")
    parser.add_argument("--work", type=Path, default=None, help="trial run directories (default OUT/runs)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides for every trial")
    args = parser.parse_args(argv)

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config = load_config(args.config, [*args.overrides, f"subset={args.subset}"])
    out = args.out or Path("runs") / f"search-{config['name']}"
    study = open_study(out, config["seed"])
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    left = args.trials - len(study.get_trials(deepcopy=False, states=finished))
    if left > 0:
        study.optimize(make_objective(config, args.work or out / "runs", args.epochs), n_trials=left)
    meta = {
        "command": "python -m training.search " + " ".join(argv if argv is not None else sys.argv[1:]),
        "config": str(args.config),
        "train": config["data"]["train"],
        "subset": args.subset,
        "seed": config["seed"],
        "epochs": args.epochs,
    }
    summary = summarise(study, meta, out)
    print(
        f"best trial {summary['best_trial']}: val AUC {summary['best_val_auc']:.4f} {summary['best_params']}"
    )
    print(f"wrote {out / 'summary.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
