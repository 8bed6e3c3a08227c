"""``lensfinder``: the command line (argparse; each command is a thin layer over importable functions).

    lensfinder classify PATH... --url URL [--model NAME] --out results.csv|.fits|.vot|.parquet
    lensfinder score PATH... --out results.csv [--models-dir DIR] [--device cpu] [--dask ADDRESS]
    lensfinder serve [--host 0.0.0.0] [--port 8000]
    lensfinder models [--url URL | --models-dir DIR] [--json]
    lensfinder gallery results.csv --top 100 --out gallery.html
    lensfinder explain FILE [--out overlay.png] [--method occlusion|lime] [--url URL]

Exit status: 0 when the run finished (per-cutout errors are rows of the table, not failures), 1 when
it could not (the service unreachable, an output it cannot append to, no input), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from app.cli import table
from app.cli.explain import add_parser as add_explain_parser
from app.cli.explain import cmd_explain
from app.cli.run import Run, RunSpec, run_classify, run_score, run_score_dask
from app.cli.summary import Summary
from app.client.pack import Limits
from app.client.pipeline import Options
from app.client.transport import RetryPolicy, ServiceUnreachable
from app.memory import freeze_long_lived

DEFAULT_URL = os.environ.get("LENSFINDER_URL", "http://localhost:8000")


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="files, folders (walked; BLF layout read) or globs"
    )
    parser.add_argument(
        "--out", "-o", type=Path, required=True, help="results table: .csv, .fits, .vot or .parquet"
    )
    parser.add_argument("--model", help="model name (default: chosen from each request's input)")
    parser.add_argument("--threshold", type=float, help="is_lens cut in [0, 1] (default: the card's)")
    parser.add_argument("--request-cutouts", type=int, default=256, help="cutouts per request (default 256)")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes reading files; 0: a thread of this command (default: a thread on a machine of "
        "2 cores or fewer, else one process per core but one, at most 4)",
    )
    parser.add_argument("--overwrite", action="store_true", help="start a new table instead of resuming")
    parser.add_argument(
        "--retry-errors", action="store_true", help="re-score sources that failed for a passing reason"
    )
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=None)
    progress.add_argument("--no-progress", dest="progress", action="store_false")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lensfinder", description="Strong gravitational lens finder")
    commands = parser.add_subparsers(dest="command", required=True)

    classify = commands.add_parser("classify", help="score cutouts through a running service")
    _add_run_options(classify)
    classify.add_argument(
        "--url", default=DEFAULT_URL, help=f"the service (default {DEFAULT_URL}, or $LENSFINDER_URL)"
    )
    classify.add_argument("--wait", type=float, default=60.0, help="seconds to wait for /readyz (default 60)")

    score = commands.add_parser("score", help="score cutouts in this process (no server), or on Dask")
    _add_run_options(score)
    score.add_argument(
        "--models-dir", type=Path, help="models folder (default: $LENSFINDER_MODELS_DIR or models/)"
    )
    score.add_argument("--device", choices=("auto", "cuda", "cpu"), help="onnxruntime device (default auto)")
    score.add_argument("--threads", type=int, help="onnxruntime intra-op threads per model")
    score.add_argument(
        "--dask", metavar="ADDRESS", help="score on Dask: tcp://scheduler:8786, or local:N workers"
    )
    score.add_argument("--partition", type=int, default=1024, help="sources per Dask task (default 1024)")

    serve = commands.add_parser("serve", help="start the HTTP service (uvicorn app.main:app)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--models-dir", type=Path)
    serve.add_argument("--device", choices=("auto", "cuda", "cpu"))
    serve.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))

    models = commands.add_parser("models", help="list the model cards (of a service, or of a models folder)")
    where = models.add_mutually_exclusive_group()
    where.add_argument("--url", help="a running service")
    where.add_argument("--models-dir", type=Path, help="a models folder (default: the checkout's models/)")
    models.add_argument("--json", action="store_true", help="print the cards as JSON")

    gallery = commands.add_parser("gallery", help="an HTML page of the top-scoring cutouts")
    gallery.add_argument("results", type=Path, help="a results table (.csv, .fits, .vot, .parquet)")
    gallery.add_argument("--top", type=int, default=100, help="how many candidates (default 100)")
    gallery.add_argument("--out", "-o", type=Path, default=Path("gallery.html"))
    gallery.add_argument("--title", default=None)
    gallery.add_argument("--lenses-only", action="store_true", help="only cutouts with is_lens")
    gallery.add_argument(
        "--explain", action="store_true", help="add each cutout's occlusion saliency map (models in process)"
    )
    gallery.add_argument("--models-dir", type=Path, help="models for --explain (default: models/)")
    add_explain_parser(commands)
    return parser


def _options(args: argparse.Namespace) -> Options:
    limits = Limits(max_cutouts=args.request_cutouts)
    return Options(args.model, args.threshold, limits, concurrency=args.concurrency, retry=RetryPolicy())


def _spec(args: argparse.Namespace) -> RunSpec:
    return RunSpec(args.paths, args.out, args.overwrite, args.retry_errors, args.progress)


def _report(run: Run, summary: Summary) -> None:
    if run.skipped:
        print(f"resumed: {run.skipped:,} of {run.total:,} files were already in {run.spec.out}")
    print(f"wrote {run.spec.out}")
    for line in summary.lines():
        print(line)


def cmd_classify(args: argparse.Namespace) -> int:
    run, summary = run_classify(_spec(args), args.url, _options(args), workers=args.workers, wait_s=args.wait)
    _report(run, summary)
    return 0


def _settings(args: argparse.Namespace) -> dict[str, object]:
    settings: dict[str, object] = {}
    if args.models_dir is not None:
        settings["models_dir"] = str(args.models_dir.resolve())
    for name in ("device", "threads"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    return settings


def cmd_score(args: argparse.Namespace) -> int:
    spec = _spec(args)
    if args.dask:
        run, summary = run_score_dask(
            spec, _options(args), _settings(args), args.dask, partition=args.partition
        )
    else:
        run, summary = run_score(spec, _options(args), _settings(args), workers=args.workers)
    _report(run, summary)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    if args.models_dir is not None:
        os.environ["LENSFINDER_MODELS_DIR"] = str(args.models_dir.resolve())
    if args.device is not None:
        os.environ["LENSFINDER_DEVICE"] = args.device
    os.environ.setdefault("LENSFINDER_LOG_LEVEL", args.log_level)
    uvicorn.run("app.main:app", host=args.host, port=args.port, log_level=args.log_level)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from app.cli.models import card_lines, list_models  # here: the cards' models take 0.1 s to import

    cards = list_models(url=args.url, models_dir=args.models_dir)
    if args.json:
        print(json.dumps([json.loads(card.to_json()) for card in cards], indent=2))
        return 0
    for line in card_lines(cards):
        print(line)
    return 0


def cmd_gallery(args: argparse.Namespace) -> int:
    from app.gallery import write_gallery

    heat = None
    if args.explain:
        from app.explain.local import GalleryHeat, LocalExplainer

        heat = GalleryHeat(LocalExplainer(args.models_dir))
    shown = write_gallery(
        args.results, args.out, top=args.top, title=args.title, lenses_only=args.lenses_only, heat=heat
    )
    print(f"wrote {args.out}: {shown} candidates")
    return 0


COMMANDS = {"classify": cmd_classify, "score": cmd_score, "serve": cmd_serve, "models": cmd_models,
            "gallery": cmd_gallery, "explain": cmd_explain}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """The ``lensfinder`` entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    # the modules live as long as the command: out of the collector's full passes, which would otherwise
    # walk them again and again while a run allocates its rows (0.1 s per 10,000 cutouts)
    freeze_long_lived()
    try:
        return COMMANDS[args.command](args)
    except (ServiceUnreachable, TimeoutError, table.TableError, FileNotFoundError, ValueError) as error:
        print(f"lensfinder {args.command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"lensfinder {args.command}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
