"""Markup a model writes never reaches an answer: tags and images go, links keep only their text."""

import pytest

from assistant.llm.markup import plain, unclosed


@pytest.mark.parametrize(("written", "shown"), [
    ("Golts is <b>an expert</b> [1].", "Golts is an expert [1]."),
    ('He said <img src=x onerror="alert(1)">so [2].', "He said so [2]."),
    ("A map ![x](http://evil/x.png)of Syria [1].", "A map of Syria [1]."),
    ("Says [Golts](http://evil) [1].", "Says Golts [1]."),
    ("Hidden <<b>img src=x onerror=alert(1)>[1].", "Hidden [1]."),  # a tag made by taking one out
    ("Never closed <img src=x onerror=alert(1) [1].", "Never closed img src=x onerror=alert(1) [1]."),
    ("Cited [Golts [1]](http://evil).", "Cited [Golts [1]]."),
    ("Kept: x < 5 and [3], 2 > 1.", "Kept: x < 5 and [3], 2 > 1."),
])
def test_tags_and_images_go_and_links_keep_their_text(written, shown):
    assert plain(written) == shown


@pytest.mark.parametrize(("streamed", "open_from"), [
    ('He left. <img alt="x. Y', "<img"),
    ("He left. [Golts](http://a.b", "[Golts]"),
    ("He left. ![map](http://a.b", "![map]"),
    ("He left [1", "[1"),
])
def test_markup_still_open_at_the_end_of_a_stream_is_found(streamed, open_from):
    assert streamed[unclosed(streamed) :].startswith(open_from)
    assert unclosed("He left [1]. <b>So</b> did [Golts](http://a.b) x < 5") == len(
        "He left [1]. <b>So</b> did [Golts](http://a.b) x < 5")
