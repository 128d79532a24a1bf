"""An Embedder as llama-index sees it: the one border where llama-index embeddings meet ours."""

from __future__ import annotations

from typing import Any

from assistant.embed.base import Embedder


def as_llama_embedding(embedder: Embedder) -> Any:
    """Wrap an Embedder as a llama-index BaseEmbedding, so llama-index never picks its global default."""
    from llama_index.core.embeddings import BaseEmbedding

    class _Adapter(BaseEmbedding):
        def _get_query_embedding(self, query: str) -> list[float]:
            return embedder.embed([query])[0].tolist()

        def _get_text_embedding(self, text: str) -> list[float]:
            return embedder.embed([text])[0].tolist()

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return embedder.embed(texts).tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

    # One batch size, the embedder's own (embed_batch_size): llama-index hands over as many texts a
    # call as it allows (2048, its maximum) and the embedder batches them, shortest first.
    return _Adapter(model_name=embedder.name, embed_batch_size=2048)
