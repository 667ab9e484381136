"""The fuzz harnesses (fuzz/ at the repository's root) are imported by name: fuzz_<target>."""

from __future__ import annotations

import sys
from pathlib import Path

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"
if str(FUZZ) not in sys.path:
    sys.path.insert(0, str(FUZZ))
