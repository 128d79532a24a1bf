"""Kill -9 a writer mid-write: the crash the store's commit protocol must survive."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def child(index: Path, body: str, **settings: object) -> list[str]:
    """A Python command line running `body` with `assistant` open on `index` (HashEmbedder, `settings`)."""
    code = textwrap.dedent(f"""
        import sys, time
        sys.path[:0] = [{str(TESTS.parent)!r}, {str(TESTS)!r}]
        from fakes import HashEmbedder
        from assistant.config import Settings
        from assistant.service import Assistant
        from assistant.types import Article
        assistant = Assistant(Settings(index={str(index)!r}, **{settings!r}), embedder=HashEmbedder())
    """) + textwrap.dedent(body)
    return [sys.executable, "-c", code]


def kill_9_while_writing(index: Path, call: str, **settings: object) -> None:
    """Run `call` in a child whose first segment write stalls once written (rows not committed), then kill -9 it."""
    proc = subprocess.Popen(child(index, f"""
        import assistant.ingest.indexer as indexer
        real = indexer.write_segment
        def stall(*args):
            real(*args)
            print("writing", flush=True)
            time.sleep(60)
        indexer.write_segment = stall
        {call}
    """, **settings), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
