"""``python -m snndsl``: the same command line as ``snndsl``."""

import sys

from .cli import main

sys.exit(main())
