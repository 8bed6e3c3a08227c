"""Train a lens finder: ``python -m training.train --config training/configs/space.yaml [key=value ...]``.

Overrides address config keys by dotted path or unique bare name (``lr=3e-4 arch=deeplens epochs=3
data.train=data/space subset=2000``); see ``training.trainer.config`` for every key and its default.
``--resume RUN_DIR`` continues a run from its ``last.pt`` (overrides may then change only ``epochs``,
``patience``, ``progress``, ``device``, ``workers`` and ``threads``). The run directory is printed at
the end; it holds config.yaml, best.pt, last.pt, history.json, curves.png and val_predictions.npz.

``data.train`` is any BLF-layout folder: a set made by ``python -m training.simulate`` or the
challenge release's ``Public`` folder unchanged (labels from its classifications.csv).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from training.trainer.config import ConfigError, apply_overrides, load_config
from training.trainer.loop import TrainConfig, train

__all__ = ["TrainConfig", "main", "train"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, help="YAML config (training/configs/<name>.yaml)")
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    args = parser.parse_args(argv)
    try:
        if args.resume is not None:
            keys = {o.partition("=")[0] for o in args.overrides}
            allowed = {"epochs", "patience", "progress", "device", "workers", "threads"}
            if keys - allowed:
                raise ConfigError(
                    f"--resume takes overrides of {sorted(allowed)} only, got {sorted(keys - allowed)}"
                )
            changes = apply_overrides({k: None for k in allowed}, args.overrides)
            run_dir = train({k: v for k, v in changes.items() if v is not None}, resume=args.resume)
        else:
            if args.config is None:
                parser.error("--config is required (or --resume RUN_DIR)")
            run_dir = train(load_config(args.config, args.overrides))
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    print(run_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
