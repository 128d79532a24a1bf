"""Every size and count limit on what people send, in one place; and a token bucket per client.

    text       MAX_QUESTION_CHARS (a question, a search, a turn of history), MAX_ANSWER_CHARS (an
               answer sent back with a turn or a vote), MAX_COMMENT_CHARS, MAX_URL_CHARS,
               MAX_HISTORY_TURNS, MAX_CITATIONS, MAX_COLLECTION_CHARS, MAX_IDENTITY_GROUPS and
               MAX_IDENTITY_CHARS (a trusted proxy's identity headers), MAX_SCOPES (filtered views kept)
    ingest     MAX_TITLE_CHARS, MAX_ARTICLE_CHARS, MAX_UPLOAD_FILES (the upload's bytes are a
               setting: ASSISTANT_MAX_UPLOAD_MB)
    profiles   MAX_PROFILE_FACTS, MAX_PROFILE_ARTICLES, MAX_ENTITY_MATCHES, MAX_LINE_CITATIONS,
               MAX_LISTED_ARTICLES, MAX_ANSWER_LINES
    sync       MAX_FEED_BYTES, MAX_SYNC_ENTRIES, MAX_SYNC_FETCHES, MAX_SITEMAP_DEPTH, MAX_SITEMAPS,
               MAX_RUN_ERRORS, MAX_RUNS_KEPT, BACKOFF_START, BACKOFF_CAP
    requests   JSON_BODY_LIMIT, MULTIPART_SLACK, ADMIN_GUESSES
    clients    RateLimiter, MAX_CLIENTS

Schemas, middleware, the service and the parsers read them from here; the chat's comment box
(static/chat.js) repeats MAX_COMMENT_CHARS, and a test checks that they agree.

A question costs about 0.1 s of CPU (the query embedding above all; more with an LLM), and 2 cores
answer about 20 a second: one script asking in a loop slows every other reader. Each client (its
address; X-Forwarded-For only from ASSISTANT_TRUSTED_PROXIES, so a client cannot pick its own) gets
`burst` questions at once and `per_minute` after that. Shared by the API and the chat pages.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

MB = 1024 * 1024

# ── text people send ──
MAX_QUESTION_CHARS = 2000  # a question, a search query, the question of a turn of history or of a vote
MAX_ANSWER_CHARS = 20_000  # an answer sent back: a turn of history, or the answer a vote is on
MAX_COMMENT_CHARS = 2000  # a reader's comment on an answer
MAX_URL_CHARS = 2000  # a page to add
MAX_SOURCE_URLS = 1000  # page URLs in one source added through the API
MAX_HISTORY_TURNS = 50  # earlier turns sent with a question
MAX_CITATIONS = 50  # citations sent with a vote (an answer cites at most top_k <= 50 passages)
MAX_COLLECTION_CHARS = 64  # a collection's name: lower-case letters, digits, '-' and '_'
MAX_IDENTITY_GROUPS = 100  # groups read from a trusted proxy's groups header; the rest are ignored
MAX_IDENTITY_CHARS = 4096  # a trusted proxy's identity header longer than this is ignored whole
# Filtered views of the index kept per generation (one per distinct set of readable collections):
# each holds a bitmap and a mask per segment, ~0.14 MB at 1,000,000 chunks.
MAX_SCOPES = 32

# ── articles ──
# Longer titles are cut. A title is embedded with every chunk of its article and sent beside every
# passage of an answer: a 60 KB heading made ingest 8 times slower, and one 50-passage search 31 MB.
MAX_TITLE_CHARS = 300
# The most text one article may hold: War and Peace is 3.2 M characters. pypdf extracts about 1 M a
# second, so a PDF that expands past this is refused within seconds.
MAX_ARTICLE_CHARS = 5_000_000
MAX_UPLOAD_FILES = 20  # files in one upload, through the API or the page

# ── profiles (answer/profile.py, the entity page, GET /api/entities/{id}) ──
# A name quoted in thousands of articles: the newest descriptions and quotations read for its
# profile, and the newest articles listed with each mention and its context. Reading all 8,538
# articles of the most named entity of a 100,000-chunk store took 2.9 s; the count is still exact.
MAX_PROFILE_FACTS = 1000
MAX_PROFILE_ARTICLES = 500
MAX_ENTITY_MATCHES = 20  # entities a name or a search may match (a which-one answer lists at most these)
# Articles cited for one description ("the military analyst" in 300 articles cites the newest 5;
# the entity page lists every article).
MAX_LINE_CITATIONS = 5
MAX_LISTED_ARTICLES = 10  # article titles named in a who-is answer's text (and its chat card)
# Descriptions or quotations said in a who-is answer, newest (or on its topic) first; the entity
# page shows them all. The most quoted entity of a 100,000-chunk store has hundreds.
MAX_ANSWER_LINES = 20

# ── sync (feeds, sitemaps, watched folders: ingest/sync.py) ──
# A feed or sitemap read whole before it is parsed. The sitemap protocol allows 50 MB and 50,000
# URLs per file; 50,000 <url> entries with <lastmod> are about 7 MB, so 10 MB holds every real one
# and a 50 MB "sitemap" is refused before it is parsed.
MAX_FEED_BYTES = 10 * MB
MAX_SYNC_ENTRIES = 50_000  # feed entries or sitemap URLs read per source and run; the rest are left out
# Pages fetched per source and run (new or changed ones); the rest wait for the next run, so one
# run of a source that suddenly lists 50,000 new pages ends in minutes, not hours.
MAX_SYNC_FETCHES = 1_000
MAX_SITEMAP_DEPTH = 2  # an index of sitemaps, and the sitemaps it lists; the protocol allows no deeper
MAX_SITEMAPS = 100  # sitemap files read per source and run
MAX_RUN_ERRORS = 100  # page errors kept per run record (the first per page)
MAX_RUNS_KEPT = 50  # run records kept per source
# A failing source is retried after 1 min, 2, 4, ... up to its interval or 6 h, whichever is longer.
BACKOFF_START = 60.0
BACKOFF_CAP = 6 * 3600.0

# ── requests ──
JSON_BODY_LIMIT = MB  # a question is at most MAX_QUESTION_CHARS; 1 MB leaves room for long histories
MULTIPART_SLACK = 16 * 1024  # part headers and boundaries: about 200 bytes a file, up to MAX_UPLOAD_FILES
# Wrong admin tokens a client may send a minute (and at once) before every admin request from it is 429.
ADMIN_GUESSES = 10

# Buckets kept at most; the longest idle go first. 10,000 buckets are about 2 MB.
MAX_CLIENTS = 10_000


class RateLimiter:
    """`wait(client)` is 0 and spends a token if the client may ask now, else the seconds to wait."""

    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = per_minute / 60  # tokens a second
        self.burst = burst
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, at)
        self._lock = threading.Lock()

    def wait(self, client: str) -> float:
        if self.rate <= 0:  # ASSISTANT_RATE_LIMIT=0: off
            return 0.0
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.pop(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            allowed = tokens >= 1
            self._buckets[client] = (tokens - allowed, now)
            while len(self._buckets) > MAX_CLIENTS:
                self._buckets.popitem(last=False)
            return 0.0 if allowed else (1 - tokens) / self.rate

    def waiting(self, client: str) -> float:
        """Seconds until `client` has a token again, without spending one (0: it has one now)."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            tokens, at = self._buckets.get(client, (float(self.burst), self.clock()))
            tokens = min(float(self.burst), tokens + (self.clock() - at) * self.rate)
            return 0.0 if tokens >= 1 else (1 - tokens) / self.rate
