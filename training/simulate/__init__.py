"""BLF-style lens simulator: ``python -m training.simulate --set {space,ground} --n N --seed S --out DIR``.

Modules: config (the two sets' observation parameters), population (distributions), grid (supersampled
grid, numpy profiles), lenses (lenstronomy lens and source), negatives (hard non-lenses), scene (assembly,
field population), observe (PSF, noise, masks), labels (the one label rule), cutout (one cutout from
(seed, index)), write (BLF layout), run (parallel driver), compare (quantile table against BLF).
See docs/simulation.md.
"""
