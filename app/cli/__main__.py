"""``python -m app.cli``: the ``lensfinder`` command without its console script."""

import sys

from app.cli.main import main

sys.exit(main())
