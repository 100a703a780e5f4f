"""Command line: `python -m bench [commit ingest rebuild w1 w2 w3] [--quick] [--profile]`."""

from __future__ import annotations

import sys

from .runner import main

if __name__ == "__main__":
    sys.exit(main())
