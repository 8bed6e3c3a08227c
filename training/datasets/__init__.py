"""The BLF-layout reader, its cache, the catalogue and the splits; import them from ``training.data``.

(The package is not called ``training/data/``: the repository ignores folders named ``data``.)
"""

from training.datasets.catalogue import Catalogue, CatalogueError, parse_catalogue, read_catalogue
from training.datasets.dataset import BLFDataset, Truth
from training.datasets.layout import BAND_ORDER, LayoutError, scan_layout
from training.datasets.reader import DataWarning, read_blf
from training.datasets.splits import split_indices

__all__ = [
    "BAND_ORDER",
    "BLFDataset",
    "Catalogue",
    "CatalogueError",
    "DataWarning",
    "LayoutError",
    "Truth",
    "parse_catalogue",
    "read_blf",
    "read_catalogue",
    "scan_layout",
    "split_indices",
]
