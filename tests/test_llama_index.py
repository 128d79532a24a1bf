"""llama-index over this index: its query engines run on `Retriever.llama_retriever`, and cite our passages.

No language model runs here: llama-index's MockLLM answers with the prompt it was given, which shows
exactly which sources the engine put in front of the model. The model is passed in, never set in
llama-index's global `Settings`.
"""

from conftest import make_assistant
from fakes import HashEmbedder

from assistant.types import Article

ARTICLES = [
    Article("golts", "Experts", "Alexander Golts is a Moscow-based military expert. He writes about the army."),
    Article("budget", "Budgets", "The ministry spent 2,000 roubles on uniforms last spring."),
    Article("rain", "Weather", "Rain fell over the city for most of the week."),
]


def test_citation_query_engine_cites_this_index_s_passages_with_their_articles_and_offsets(tmp_path):
    from llama_index.core import Settings
    from llama_index.core.llms import MockLLM
    from llama_index.core.query_engine import CitationQueryEngine

    assistant = make_assistant(tmp_path / "index", HashEmbedder())
    assistant.ingest_articles(ARTICLES)
    texts = {article.id: article.text for article in ARTICLES}

    engine = CitationQueryEngine(assistant.retriever().llama_retriever("keyword", 2), llm=MockLLM())
    response = engine.query("Who is Alexander Golts?")

    sources = response.source_nodes
    assert sources[0].node.metadata["article_id"] == "golts"
    for n, source in enumerate(sources, start=1):
        meta = source.node.metadata
        quoted = texts[meta["article_id"]][meta["start"] : meta["end"]]  # offsets slice the article
        assert source.node.get_content() == f"Source {n}:\n{quoted}\n"
        assert source.node.get_content() in str(response)  # what the (echoing) model was shown
    assert Settings._llm is None and Settings._embed_model is None  # nothing was set globally


def test_a_dense_retriever_serves_the_same_engine(tmp_path):
    from llama_index.core.llms import MockLLM
    from llama_index.core.query_engine import CitationQueryEngine

    assistant = make_assistant(tmp_path / "index", HashEmbedder())
    assistant.ingest_articles(ARTICLES)

    engine = CitationQueryEngine(assistant.retriever().llama_retriever("dense", 3), llm=MockLLM())
    response = engine.query("Alexander Golts military expert")

    assert {s.node.metadata["article_id"] for s in response.source_nodes} == {"golts", "budget", "rain"}
