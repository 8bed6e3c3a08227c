"""Out-of-distribution checks: statistics of conformed cutouts (:mod:`app.ood.stats`) against those of a
model's training inputs recorded in its card (:mod:`app.ood.check`)."""

from app.ood.check import CODES, annotate, annotate_all, ood_warnings

__all__ = ["CODES", "annotate", "annotate_all", "ood_warnings"]
