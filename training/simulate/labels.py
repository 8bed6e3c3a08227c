"""The label rule (DESIGN section 2, the later BLF challenge's): a cutout is a lens only when it is visible.

A cutout is labelled a lens iff the source has more than one image, its magnification exceeds 1.6, and
more than 20 pixels of the noise-free, PSF-convolved lensed source lie above 1 sigma of the noise. For the
ground set the pixel count is taken in the r band (KiDS's detection band, best seeing), for space in VIS.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

MIN_IMAGES = 2
MIN_MAGNIFICATION = 1.6
MIN_PIXELS = 21


def is_visible_lens(n_images: int, magnification: float, numb_pix_lensed_image: int) -> bool:
    """The one label rule: n_images > 1, magnification > 1.6 and more than 20 pixels above 1 sigma."""
    return (
        n_images >= MIN_IMAGES and magnification > MIN_MAGNIFICATION and numb_pix_lensed_image >= MIN_PIXELS
    )


def pixels_above_sigma(lensed_source: npt.NDArray[np.floating], noise_sigma: float) -> tuple[int, float]:
    """BLF's ``numb_pix_lensed_image`` and ``flux_lensed_image_in_sigma`` of one band's noise-free lensed
    source image (same units as ``noise_sigma``): the number of pixels above 1 sigma, and the sum of those
    pixels' values in units of sigma.
    """
    in_sigma = np.asarray(lensed_source, dtype=np.float64) / noise_sigma
    above = in_sigma > 1.0
    return int(above.sum()), float(in_sigma[above].sum())
