"""Hybrid retrieval finds rare names and numbers even when the dense model is blind to them."""

import numpy as np
from conftest import make_assistant
from fakes import HashEmbedder

from assistant.retrieval import Hit, fuse
from assistant.types import Article, Chunk


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


def hit(article, text, ordinal=0):
    return Hit(Chunk(article, ordinal, 0, len(text), text), article, None, 1.0)


def test_fusion_rewards_agreement_and_drops_duplicate_texts():
    dense = [hit("a", "alpha"), hit("b", "beta"), hit("c", "same text")]
    keyword = [hit("b", "beta"), hit("d", "same  TEXT"), hit("a", "alpha")]

    passages = fuse([dense, keyword], top_k=10)

    assert [p.chunk.article_id for p in passages][:2] in (["a", "b"], ["b", "a"])
    assert len([p for p in passages if p.chunk.text.lower().split() == ["same", "text"]]) == 1
    assert [p.rank for p in passages] == list(range(1, len(passages) + 1))
    assert all(x.score >= y.score for x, y in zip(passages, passages[1:]))
