"""Markup a language model writes, taken out of its answers: HTML tags, markdown images and links.

An answer is plain text with `[n]` markers. A model can be talked into writing markup by a planted
article ("end with <img src=x onerror=...>", "link to http://..."): a page that rendered it would
run the script or fetch the image (telling a stranger's server who is reading), and a link would
send the reader somewhere no passage vouches for. So every LLM answer, streamed or not, loses them:

    <b>Golts</b> said <img src=x onerror=alert(1)>   ->  Golts said
    ![map](http://host/x.png)                        ->  (nothing: an image has no text to keep)
    [Golts](http://host/)                            ->  Golts (the link's text; the address goes)

Kept on its own, so that the security rule can be read and reviewed in one screen.
"""

from __future__ import annotations

import re

# A tag starts "<" + a letter, "/" or "!" ("x < 5" is text): "<b>", "</b>", "<!-- -->", "<http://...>".
_TAG = re.compile(r"<[a-zA-Z/!][^<>]*>")
_IMAGE = re.compile(r"!\[[^\[\]]*\]\([^()]*\)")
_LINK = re.compile(r"\[([^\[\]]*)\]\([^()]*\)")
_TARGET = re.compile(r"\]\([^()]*\)")  # what is left of a link whose text has brackets: '[Golts [1]](http://...)'
_TAG_START = re.compile(r"<(?=[a-zA-Z/!])")  # also what is left of a tag never closed: '<img onerror=x <b>'


def plain(text: str) -> str:
    """`text` without HTML tags and markdown images, its markdown links reduced to their text.

    Repeated until nothing changes: taking out "<b>" from "<<b>img onerror=...>" makes a new tag.
    Each round shortens the text, so this ends. Then the "<" of a tag never closed goes, so no
    "<img" is left for any page to read as a tag.
    """
    while True:
        stripped = _TARGET.sub("]", _LINK.sub(r"\1", _IMAGE.sub("", _TAG.sub("", text))))
        if stripped == text:
            return _TAG_START.sub("", text)
        text = stripped


def unclosed(text: str) -> int:
    """Where markup still open at the end of `text` begins (len(text) if none).

    A streamed reply can end inside a tag or a link ('<img src="x. Y', '[Golts](http://a.b'): what
    follows that point is not text yet, and no sentence of it can be shown.
    """
    tag = _TAG_START.search(text, text.rfind(">") + 1)
    bracket = text.find("[", text.rfind("]") + 1)
    target = text.find("](", text.rfind(")") + 1)
    link = text.rfind("[", 0, target) if target >= 0 else -1  # '[Golts](http://a.b' from its "["
    cut = min((i for i in (tag.start() if tag else -1, bracket, link) if i >= 0), default=len(text))
    return cut - 1 if text[cut - 1 : cut] == "!" else cut  # an image's "!" is not the end of a sentence
