"""``lensfinder explain FILE``: where the model looked, for each cutout of one file.

    lensfinder explain FILE [--out overlay.png] [--json saliency.json] [--method occlusion|lime]
        [--model NAME] [--url URL | --models-dir DIR] [--device cpu|cuda|auto]

In this process by default (the models of ``--models-dir``, or ``$LENSFINDER_MODELS_DIR``, or the
checkout's ``models/``; :mod:`app.explain.local`), or through a running service with ``--url``
(``POST /explain``). Prints one line per cutout (index, lens probability, the saliency map's peak
pixel, warnings); ``--out`` writes the PNG of each cutout beside its saliency overlay (red: evidence
for a lens, blue: against), ``--json`` the maps (rows in FITS order, log-odds).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

ROWS = "{index:>5}  {probability:>11}  {peak:>12}  {warnings}"


def add_parser(commands: Any) -> None:
    """Register ``explain`` on the ``lensfinder`` sub-command parsers."""
    explain = commands.add_parser("explain", help="saliency maps of one file's cutouts (occlusion or LIME)")
    explain.add_argument("file", type=Path, help="a FITS or PNG file: one cutout or a stack")
    explain.add_argument("--out", "-o", type=Path, help="write the overlay PNG here")
    explain.add_argument("--json", type=Path, help="write the saliency maps as JSON here")
    explain.add_argument("--method", choices=("occlusion", "lime"), default="occlusion")
    explain.add_argument("--model", help="model name (default: chosen from the file)")
    where = explain.add_mutually_exclusive_group()
    where.add_argument("--url", help="explain through this running service instead of in this process")
    where.add_argument(
        "--models-dir", type=Path, help="models folder (default: $LENSFINDER_MODELS_DIR or models/)"
    )
    explain.add_argument("--device", choices=("auto", "cuda", "cpu"), default="cpu", help="in-process device")


def _line(index: int | None, probability: float | None, saliency: Any, warnings: Any) -> str:
    peak = "-"
    if saliency is not None:
        s = np.asarray(saliency, dtype=np.float64)
        row, col = np.unravel_index(int(np.argmax(s)), s.shape)
        peak = f"({int(row)}, {int(col)})"
    shown = "-" if probability is None else f"{probability:.4f}"
    return ROWS.format(index=index, probability=shown, peak=peak, warnings=",".join(warnings) or "-")


def _local(args: argparse.Namespace) -> int:
    from app.explain.local import LocalExplainer
    from app.explain.overlay import overlay_png

    folder = args.models_dir or (
        Path(os.environ["LENSFINDER_MODELS_DIR"]) if os.environ.get("LENSFINDER_MODELS_DIR") else None
    )
    explainer = LocalExplainer(folder, device=args.device)
    name, decoded, items = explainer.explain_file(args.file, model=args.model, method=args.method)
    card = explainer.card(name)
    cut = card.output.threshold
    print(f"{args.file}: model {name} {card.identity.version}, {args.method}, threshold {cut:.4g}")
    print(ROWS.format(index="index", probability="probability", peak="peak (row, col)", warnings="warnings"))
    for item in items:
        codes = item.warnings if item.error is None else (f"error {item.error}",)
        print(_line(item.index, item.probability, item.saliency, codes))
    shown = [
        (item.pixels, item.saliency)
        for item in items
        if item.pixels is not None and item.saliency is not None
    ]
    if args.out and shown:
        args.out.write_bytes(overlay_png(shown, decoded.format, card.input.bands))
        print(f"wrote {args.out}")
    if args.json:
        results = [
            {
                "index": i.index,
                "lens_probability": i.probability,
                "warnings": list(i.warnings),
                "error": i.error,
                "saliency": None
                if i.saliency is None
                else np.round(i.saliency.astype(np.float64), 5).tolist(),
            }
            for i in items
        ]
        document = {"file": str(args.file), "model": name, "method": args.method, "results": results}
        args.json.write_text(json.dumps(document) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


def _remote(args: argparse.Namespace) -> int:
    import httpx

    query: dict[str, str] = {"method": args.method}
    if args.model:
        query["model"] = args.model
    data = args.file.read_bytes()
    upload = {"files": (args.file.name, data, "application/octet-stream")}
    with httpx.Client(base_url=args.url, timeout=300.0) as client:
        answer = client.post("/explain", params=query, files=upload)
        if answer.status_code != 200:
            raise ValueError(f"{args.url}/explain answered {answer.status_code}: {answer.text[:500]}")
        body = answer.json()
        print(f"{args.file}: model {body['model']['name']} {body['model']['version']}, {args.method}")
        print(
            ROWS.format(index="index", probability="probability", peak="peak (row, col)", warnings="warnings")
        )
        for item in body["results"]:
            if "error" in item:
                print(_line(item["index"], None, None, [f"error {item['error']['code']}"]))
            else:
                codes = [w["code"] for w in item["warnings"]]
                print(_line(item["index"], item["lens_probability"], item["saliency"], codes))
        if args.json:
            args.json.write_text(answer.text, encoding="utf-8")
            print(f"wrote {args.json}")
        if args.out:
            picture = client.post("/explain", params=query | {"format": "png"}, files=upload)
            if picture.status_code != 200:
                raise ValueError(f"{args.url}/explain?format=png answered {picture.status_code}")
            args.out.write_bytes(picture.content)
            print(f"wrote {args.out}")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    """Explain ``args.file`` locally or through ``args.url``; the exit status."""
    from app.decode import DecodeError

    try:
        return _remote(args) if args.url else _local(args)
    except DecodeError as error:
        raise ValueError(f"{args.file}: {error.code}: {error.message}") from None
    except OSError as error:  # httpx's transport errors are not OSError: caught below
        raise ValueError(f"{args.file}: {error}") from None
    except Exception as error:
        import httpx

        if isinstance(error, httpx.TransportError):
            raise ValueError(f"cannot reach {args.url}: {error}") from None
        raise
