"""The summary a run prints: counts, lenses above threshold, errors and warnings by code."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Summary:
    """Counts over a results table's records (CSV cells: empty = absent)."""

    sources: int = 0
    cutouts: int = 0
    scored: int = 0
    lenses: Counter[str] = field(default_factory=Counter)  # per "model version (threshold t)"
    scored_by_model: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)
    new_cutouts: int = 0
    seconds: float = 0.0

    @classmethod
    def of(cls, records: Sequence[dict[str, str]]) -> Summary:
        summary = cls(sources=len({r["file"] for r in records}), cutouts=len(records))
        for r in records:
            for code in filter(None, r["warnings"].split(";")):
                summary.warnings[code] += 1
            if r["error"]:
                summary.errors[r["error"]] += 1
                continue
            summary.scored += 1
            model = f"{r['model']} {r['model_version']} (threshold {float(r['threshold']):.3g})"
            summary.scored_by_model[model] += 1
            if r["is_lens"] == "True":
                summary.lenses[model] += 1
        return summary

    def lines(self) -> list[str]:
        out = [f"{self.cutouts:,} cutouts from {self.sources:,} files: {self.scored:,} scored, "
               f"{sum(self.errors.values()):,} errors"]  # fmt: skip
        if self.seconds > 0:
            rate = self.new_cutouts / self.seconds
            out.append(
                f"this run: {self.new_cutouts:,} cutouts in {self.seconds:.1f} s ({rate:,.1f} cutouts/s)"
            )
        for model, n in sorted(self.scored_by_model.items()):
            out.append(f"  {model}: {n:,} scored, {self.lenses[model]:,} lenses above threshold")
        if self.errors:
            out.append("errors: " + ", ".join(f"{code} {n:,}" for code, n in self.errors.most_common()))
        if self.warnings:
            out.append("warnings: " + ", ".join(f"{code} {n:,}" for code, n in self.warnings.most_common()))
        return out
