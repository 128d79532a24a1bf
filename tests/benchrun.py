"""Running a benchmark script's --quick mode from a smoke test: one way, for every bench/ script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "eval" / "squad2-dev"


def run_bench(script: str, *args: str, timeout: float = 600) -> str:
    """`bench/<script> *args` in a child process from the project root; its stdout, once it exited 0.

    Skips when ../shared/eval/squad2-dev, which every benchmark reads, is not beside the project.
    """
    if not DEV.exists():
        pytest.skip("../shared/eval/squad2-dev is not beside the project")
    done = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout
