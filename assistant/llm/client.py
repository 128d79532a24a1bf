"""The optional language model: one seam (`LLM.complete`) and the llama-index adapters behind it.

    LLM                    complete(messages) -> str; stream(messages) derived (the whole reply at once)
    └── LlamaIndexLLM      any llama-index LLM, with its failures turned into LLMError
                             OpenAILike  ASSISTANT_LLM=openai   any OpenAI-compatible server
                             Ollama      ASSISTANT_LLM=ollama   Ollama's own /api/chat

`llm_from_settings` is the one place that picks a backend. Every failure of a backend (refused
connection, timeout, HTTP status, unreadable or empty reply) becomes an `LLMError` whose message says
which server failed and what to change (for the log), and whose `summary` says what happened without
the server's address or reply (for the reader); callers fall back to the offline answer. llama-index's global
`Settings` is never touched: the LLM object is built here and passed to whoever uses it.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from assistant.config import Settings
from assistant.errors import LLMError

OPENAI_BASE_URL = "https://api.openai.com/v1"
OLLAMA_BASE_URL = "http://127.0.0.1:11434"
# Tokens the model may read and write per request. Five 200-token passages, the rules, three turns
# of history and a reply come to about 2,000; 8192 leaves room for top_k up to about 25. Set
# explicitly because Ollama otherwise asks the server for the model's maximum (often 131072) and
# allocates memory for all of it.
CONTEXT_WINDOW = 8192


@dataclass(frozen=True)
class Message:
    """One chat message, as every backend understands it."""

    role: Literal["system", "user", "assistant"]
    content: str


class LLM(ABC):
    """A chat model. Only `complete` is required; `stream` defaults to the whole reply in one piece."""

    name: str = "llm"

    @abstractmethod
    def complete(self, messages: Sequence[Message]) -> str:
        """The model's reply to `messages`; raises LLMError when the backend fails."""

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        """The reply in pieces as they are produced; raises LLMError when the backend fails."""
        yield self.complete(messages)


class LlamaIndexLLM(LLM):
    """Adapts a llama-index LLM (OpenAILike, Ollama, ...) to the seam; its errors become LLMError."""

    def __init__(self, llm: Any, name: str, base_url: str, timeout: float):
        self._llm = llm
        self.name = name
        self.base_url = base_url
        self.timeout = timeout

    def complete(self, messages: Sequence[Message]) -> str:
        try:
            response = self._llm.chat(_to_llama(messages))
            text = response.message.content
        except Exception as exc:  # any failure of a third-party client is a backend failure
            raise self._error(exc) from exc
        if not isinstance(text, str) or not text.strip():
            raise LLMError(f"{self._where()} sent an empty reply; check that {self.name!r} is a chat model",
                           "sent an empty reply")
        return text

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        # The client's timeout bounds each read; a server that trickles tokens for ever is stopped
        # at twice the timeout in total, so a request cannot hang a page or a CLI run.
        deadline = time.monotonic() + 2 * self.timeout
        produced = False
        try:
            for chunk in self._llm.stream_chat(_to_llama(messages)):
                if chunk.delta:
                    produced = produced or bool(chunk.delta.strip())
                    yield chunk.delta
                if time.monotonic() > deadline:
                    raise LLMError(f"{self._where()} was still answering after {2 * self.timeout:g} s; "
                                   "raise ASSISTANT_LLM_TIMEOUT or use a faster model",
                                   f"was still answering after {2 * self.timeout:g} s (timeout)")
        except LLMError:
            raise
        except Exception as exc:  # see complete()
            raise self._error(exc) from exc
        if not produced:
            raise LLMError(f"{self._where()} sent an empty reply; check that {self.name!r} is a chat model",
                           "sent an empty reply")

    def _where(self) -> str:
        return f"the language model {self.name!r} at {self.base_url}"

    def _error(self, exc: Exception) -> LLMError:
        """What failed, in words a person can act on."""
        import httpx
        import openai
        from ollama import ResponseError

        where = self._where()
        if isinstance(exc, (openai.APITimeoutError, httpx.TimeoutException)):
            return LLMError(f"{where} did not answer within {self.timeout:g} s; "
                            "raise ASSISTANT_LLM_TIMEOUT or use a smaller model",
                            f"did not answer within {self.timeout:g} s (timeout)")
        if isinstance(exc, (openai.APIConnectionError, httpx.TransportError, ConnectionError)):
            return LLMError(f"cannot reach {where}; start the server or correct ASSISTANT_LLM_BASE_URL",
                            "could not be reached")
        status = getattr(exc, "status_code", None)
        if isinstance(exc, (openai.APIStatusError, ResponseError)) and status and status > 0:
            detail = " ".join(_server_message(exc).split())[:200]
            hint = {401: "check ASSISTANT_LLM_API_KEY", 403: "check ASSISTANT_LLM_API_KEY",
                    404: "check ASSISTANT_LLM_MODEL and ASSISTANT_LLM_BASE_URL"}.get(status, "see the server's log")
            return LLMError(f"{where} answered HTTP {status} ({detail}); {hint}", f"answered HTTP {status}")
        detail = " ".join(str(exc).split())[:200]
        return LLMError(f"{where} sent a reply that could not be read ({type(exc).__name__}: {detail}); "
                        "check that ASSISTANT_LLM_BASE_URL points at the right kind of server",
                        "sent a reply that could not be read")


def llm_from_settings(settings: Settings) -> LLM | None:
    """The configured backend, or None for the offline answerer (`ASSISTANT_LLM=none`, the default)."""
    if settings.llm == "none":
        return None
    if not settings.llm_model:
        example = "llama3.2" if settings.llm == "ollama" else "the name your server lists under /v1/models"
        raise LLMError(f"ASSISTANT_LLM={settings.llm} needs a model: set ASSISTANT_LLM_MODEL (e.g. {example})")
    timeout = settings.llm_timeout
    from llama_index.llms.ollama import Ollama
    from llama_index.llms.openai_like import OpenAILike

    if settings.llm == "openai":

        base_url = (settings.llm_base_url or OPENAI_BASE_URL).rstrip("/")
        llm: OpenAILike | Ollama = OpenAILike(
            model=settings.llm_model,
            api_base=base_url,
            # Local servers ignore the key, but the OpenAI client refuses to start without one.
            api_key=settings.llm_api_key or "unused",
            is_chat_model=True,
            context_window=CONTEXT_WINDOW,
            temperature=0.0,
            timeout=timeout,
            max_retries=0,  # a retry would multiply the wait; the offline answer is the fallback
        )
    else:
        base_url = (settings.llm_base_url or OLLAMA_BASE_URL).rstrip("/")
        llm = Ollama(
            model=settings.llm_model,
            base_url=base_url,
            request_timeout=timeout,
            context_window=CONTEXT_WINDOW,
            temperature=0.0,
            # For an Ollama behind an authenticating proxy.
            headers={"Authorization": f"Bearer {settings.llm_api_key}"} if settings.llm_api_key else None,
        )
    return LlamaIndexLLM(llm, settings.llm_model, base_url, timeout)


def _server_message(exc: Exception) -> str:
    """The server's own error text: OpenAI's {"error": {"message": ...}} or Ollama's {"error": ...}."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        return str(error.get("message", error) if isinstance(error, dict) else error)
    return str(getattr(exc, "error", None) or exc)


def _to_llama(messages: Sequence[Message]) -> list:
    from llama_index.core.llms import ChatMessage

    return [ChatMessage(role=m.role, content=m.content) for m in messages]
