"""``python -m snndsl``: the same command line as ``snndsl``."""

import sys

from snndsl.cli import main

sys.exit(main())
