"""Run the ``skinvert`` command line as ``python -m skinvert``."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
