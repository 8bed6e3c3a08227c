"""Explanations: where a model looked, model-agnostically (only the ONNX model's scores are needed).

- :mod:`app.explain.plan`: what a method hands the scorer (perturbed copies) and how scores become a
  saliency map in log-odds;
- :mod:`app.explain.occlusion` (sliding masked patch) and :mod:`app.explain.lime` (random superpixel
  masks and a weighted ridge fit, on :mod:`app.explain.superpixels`);
- :mod:`app.explain.request`: ``POST /explain`` without HTTP (the copies go through the batcher);
- :mod:`app.explain.overlay`: the PNG of cutouts beside their maps;
- :mod:`app.explain.local`: the same in-process, for ``lensfinder explain`` and the gallery.
"""
