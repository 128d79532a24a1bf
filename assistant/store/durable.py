"""Durable writes: a directory is complete on disk (fsynced) before it is renamed into place."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_tree(path: Path) -> None:
    for sub in path.rglob("*"):
        if sub.is_file():
            with open(sub, "rb") as f:
                os.fsync(f.fileno())
    for sub in [path, *(p for p in path.rglob("*") if p.is_dir())]:
        fsync_dir(sub)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
