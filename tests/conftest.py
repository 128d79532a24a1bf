"""Shared fixtures: the real model loaded once per session, a fast fake, and small indexes."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))  # for `from fakes import ...`

from fakes import HashEmbedder  # noqa: E402

from assistant.answer.reader import Reader  # noqa: E402
from assistant.config import Settings  # noqa: E402
from assistant.service import Assistant  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "articles"


@pytest.fixture(scope="session")
def real_embedder():
    """The default embedder (all-MiniLM-L6-v2, int8 ONNX, as `assistant` runs it); loaded once."""
    from assistant.embed.factory import load_embedder

    return load_embedder()


@pytest.fixture(scope="session")
def torch_embedder():
    """The same model in fp32 through sentence-transformers (torch), what any other model runs on."""
    from assistant.embed.factory import load_embedder

    return load_embedder(backend="torch")


@pytest.fixture
def fake_embedder() -> HashEmbedder:
    return HashEmbedder()


# The shipped reader, loaded on first use and shared by every test's Assistant.
READER = Reader()


def make_assistant(index: Path, embedder, **settings) -> Assistant:
    """An Assistant over `index` with an injected embedder (what tests and benchmarks use)."""
    return Assistant(Settings(index=index, **settings), embedder=embedder, reader=READER)


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory, real_embedder) -> Path:
    """The bundled sample articles indexed with the real model, built once per session (read-only)."""
    index = tmp_path_factory.mktemp("sample") / "index"
    report = make_assistant(index, real_embedder).ingest([str(SAMPLES)])
    assert report.failed == 0 and report.added >= 1
    return index


@pytest.fixture(scope="session")
def sample_assistant(sample_index, real_embedder) -> Assistant:
    return make_assistant(sample_index, real_embedder)


@contextmanager
def live_server(app, **options) -> Iterator[str]:
    """Serve an ASGI `app` with uvicorn on a free port of 127.0.0.1 in a thread; yield its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           timeout_graceful_shutdown=1, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
