"""``import easyfirst`` stays light: no training engine, scipy or matplotlib until used."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("easyfirst.training.engine", "scipy", "matplotlib")


def test_import_easyfirst_loads_no_engine_scipy_or_matplotlib():
    code = ("import sys, easyfirst; "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "", f"import easyfirst loaded {out}"
