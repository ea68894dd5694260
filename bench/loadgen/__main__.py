"""``.venv/bin/python bench/loadgen ...`` or, from ``bench/``, ``python -m loadgen ...``."""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a directory: make the package importable by its name
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadgen.cli import main

sys.exit(main())
