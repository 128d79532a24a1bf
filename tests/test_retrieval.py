"""Hybrid retrieval finds rare names and numbers even when the dense model is blind to them."""

import numpy as np
from conftest import make_assistant
from fakes import HashEmbedder

from assistant.retrieve.retriever import fuse
from assistant.types import Article


class BlindEmbedder(HashEmbedder):
    """Every text maps to nearly the same vector: dense search alone cannot tell articles apart."""

    def embed(self, texts):
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        out[:, 0] = 1.0
        return out


ARTICLES = [
    Article("a", "Budgets", "The ministry spent 2,000 roubles on uniforms last spring."),
    Article("b", "Experts", "Alexander Golts is a Moscow-based military expert."),
    Article("c", "Weather", "Rain fell over the city for most of the week."),
]


def test_bm25_finds_a_rare_name_and_a_number_the_dense_side_cannot(tmp_path):
    assistant = make_assistant(tmp_path / "index", BlindEmbedder())
    assistant.ingest_articles(ARTICLES)

    assert assistant.search("Golts", 3)[0].chunk.article_id == "b"
    assert assistant.search("2,000", 3)[0].chunk.article_id == "a"


def test_passages_carry_title_url_offsets_and_rank_order(tmp_path):
    assistant = make_assistant(tmp_path / "index", HashEmbedder())
    assistant.ingest_articles([Article("x", "Title X", "First sentence here. Second about rivers.", url="https://e.org/x")])

    [p] = assistant.search("rivers", 5)
    assert (p.rank, p.title, p.url, p.chunk.start) == (1, "Title X", "https://e.org/x", 0)
    assert p.to_dict()["text"] == "First sentence here. Second about rivers."


def test_fusion_rewards_agreement_between_the_rankings():
    fused = fuse([[1, 2, 3], [2, 4, 1]])

    assert {key for key, _ in fused[:2]} == {1, 2}  # in both lists: ahead of either list's own
    assert [key for key, _ in fused][2:] == [4, 3] or [key for key, _ in fused][2:] == [3, 4]
    assert all(x[1] >= y[1] for x, y in zip(fused, fused[1:]))


def test_identical_texts_come_back_once_and_the_next_passage_takes_the_place(tmp_path):
    assistant = make_assistant(tmp_path / "index", HashEmbedder())
    same = "Golts said the volunteers were paid."
    assistant.ingest_articles([Article("a", "A", same), Article("b", "B", "Golts  SAID the volunteers were paid."),
                               Article("c", "C", "Golts was quoted by the newspaper.")])

    passages = assistant.search("Golts said volunteers", 2)

    found = [p.chunk.article_id for p in passages]
    assert len(set(found) & {"a", "b"}) == 1 and "c" in found and [p.rank for p in passages] == [1, 2]


def test_search_fetches_only_the_rows_it_returns(tmp_path, monkeypatch):
    from assistant.store.catalog import Catalog

    assistant = make_assistant(tmp_path / "index", HashEmbedder())
    assistant.ingest_articles([Article(f"n{i}", f"N{i}", f"Golts spoke about topic number {i}.") for i in range(40)])
    fetched = []
    chunks = Catalog.chunks
    monkeypatch.setattr(Catalog, "chunks", lambda self, keys: fetched.append(len(keys)) or chunks(self, keys))

    assert len(assistant.search("Golts topic", 3)) == 3
    assert fetched == [3]  # of up to 60 candidates found
    assert assistant.retriever().search("Golts topic", 0) == [] and fetched == [3]


def test_each_search_is_offered_as_a_llama_index_retriever(tmp_path):
    from llama_index.core.retrievers import BaseRetriever

    assistant = make_assistant(tmp_path / "index", BlindEmbedder())
    assistant.ingest_articles(ARTICLES)
    retriever = assistant.retriever()

    keyword = retriever.llama_retriever("keyword", 2)
    [node] = keyword.retrieve("Golts")
    assert isinstance(keyword, BaseRetriever) and node.node.metadata["article_id"] == "b"
    assert node.node.get_content() == ARTICLES[1].text and node.node.metadata["start"] == 0
    assert len(retriever.llama_retriever("dense", 3).retrieve("anything")) == 3
