"""Sync: a feed, a sitemap, pages and a folder kept in step with the index, against a local site that changes."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import make_assistant
from crash import kill_9_while_writing
from fakes import HashEmbedder

from assistant.ingest.sources import page_id
from assistant.service import Assistant
from assistant.types import Article


class CountingEmbedder(HashEmbedder):
    """The hash embedder, counting the texts it embeds."""

    def __init__(self):
        super().__init__()
        self.texts = 0

    def embed(self, texts):
        self.texts += len(texts)
        return super().embed(texts)


@dataclass
class Site:
    """What the local server serves, changed by tests between syncs; and what it was asked."""

    pages: dict[str, tuple[int, str, bytes]] = field(default_factory=dict)  # path -> status, type, body
    redirects: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # path, If-None-Match
    base: str = ""

    def put(self, path: str, body: str | bytes, content_type: str = "text/html; charset=utf-8", status: int = 200):
        self.pages[path] = (status, content_type, body.encode() if isinstance(body, str) else body)

    def asked(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)


@contextmanager
def serving(site: Site) -> Iterator[Site]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            site.requests.append((self.path, self.headers.get("If-None-Match")))
            if self.path in site.redirects:
                self.send_response(302)
                self.send_header("Location", site.redirects[self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status, content_type, body = site.pages.get(self.path, (404, "text/plain", b"not found"))
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if status == 200 and self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


def page(title: str, *sentences: str, canonical: str | None = None) -> str:
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    body = " ".join(sentences)
    return (f"<html><head><title>{title}</title>{link}<meta name='author' content='Ann Reporter'>"
            f"<meta property='article:published_time' content='2026-12-01'></head><body><article><h1>{title}</h1>"
            f"<p>{body}</p><p>This report was filed by the newsroom for the readers of the evening edition.</p>"
            "</article></body></html>")


def rss(*items: tuple[str, str, str]) -> str:
    """An RSS 2.0 feed of (guid, link, pubDate) items."""
    entries = "".join(f"<item><title>{g}</title><guid>{g}</guid><link>{link}</link><pubDate>{d}</pubDate></item>"
                      for g, link, d in items)
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>{entries}</channel></rss>'


def sitemap(*urls: tuple[str, str | None]) -> str:
    body = "".join(f"<url><loc>{u}</loc>{f'<lastmod>{m}</lastmod>' if m else ''}</url>" for u, m in urls)
    return f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</urlset>'


@pytest.fixture
def site() -> Iterator[Site]:
    with serving(Site()) as s:
        yield s


@pytest.fixture
def embedder() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture
def assistant(tmp_path, embedder) -> Assistant:
    return make_assistant(tmp_path / "index", embedder, fetch_allow_hosts=["127.0.0.1"], sync_host_delay=0)


def top(assistant: Assistant, query: str) -> str:
    return assistant.search(query, 1)[0].chunk.article_id


# ── feeds ───────────────────────────────────────────────────────────────────────────────────


def test_a_new_feed_entry_is_answerable_after_one_sync(assistant, site):
    site.put("/a.html", page("Harbour", "The harbour reopened on Monday after the storm damaged the quay."))
    site.put("/feed.xml", rss(("a", f"{site.base}/a.html", "Mon, 01 Dec 2026 10:00:00 GMT")), "application/rss+xml")
    source = assistant.add_source([f"{site.base}/feed.xml"])

    [run] = assistant.sync()
    assert (run.added, run.failed, run.error) == (1, 0, None)
    assert assistant.sources()[0]["kind"] == "feed"

    site.put("/b.html", page("Bridge", "The old bridge over the river Wend will close for repairs in March."))
    site.put("/feed.xml", rss(("b", f"{site.base}/b.html", "Tue, 02 Dec 2026 10:00:00 GMT"),
                              ("a", f"{site.base}/a.html", "Mon, 01 Dec 2026 10:00:00 GMT")), "application/rss+xml")
    [run] = assistant.sync(source.id)
    assert (run.added, run.unchanged) == (1, 1)
    assert site.asked("/a.html") == 1  # entry a's id and date were as before: not fetched again
    answer = assistant.ask("When will the bridge over the river Wend close?")
    assert not answer.abstained and answer.citations[0].article_id.endswith("b-html")
    assert "March" in answer.citations[0].quote
    article = assistant.article(answer.citations[0].article_id)
    assert (article.title, article.author, article.url) == ("Bridge", "Ann Reporter", f"{site.base}/b.html")


def test_an_unchanged_feed_costs_one_conditional_request_and_no_embedding(assistant, site, embedder):
    site.put("/a.html", page("Harbour", "The harbour reopened on Monday after the storm damaged the quay."))
    site.put("/feed.xml", rss(("a", f"{site.base}/a.html", "Mon, 01 Dec 2026 10:00:00 GMT")), "application/rss+xml")
    assistant.add_source([f"{site.base}/feed.xml"])
    assistant.sync()
    site.requests.clear()
    embedded = embedder.texts

    [run] = assistant.sync()

    assert site.requests == [("/feed.xml", site.requests[0][1])] and site.requests[0][1]  # one, with If-None-Match
    assert (run.requests, run.added, run.updated, run.error) == (1, 0, 0, None)
    assert embedder.texts == embedded


def test_an_edited_page_replaces_the_old_text(assistant, site):
    site.put("/a.html", page("Harbour", "The harbour master is Tom Ferris, appointed in June."))
    site.put("/feed.xml", rss(("a", f"{site.base}/a.html", "Mon, 01 Dec 2026 10:00:00 GMT")), "application/rss+xml")
    assistant.add_source([f"{site.base}/feed.xml"])
    assistant.sync()
    assert "Tom Ferris" in assistant.ask("Who is the harbour master?").answer

    site.put("/a.html", page("Harbour", "The harbour master is Ada Quinn, appointed in November."))
    site.put("/feed.xml", rss(("a", f"{site.base}/a.html", "Wed, 03 Dec 2026 10:00:00 GMT")), "application/rss+xml")
    [run] = assistant.sync()

    assert (run.updated, run.added) == (1, 0)
    answer = assistant.ask("Who is the harbour master?")
    assert "Ada Quinn" in answer.answer
    assert all("Tom Ferris" not in c.quote for c in answer.citations)
    assert all("Tom Ferris" not in p.chunk.text for p in assistant.search("harbour master Tom Ferris", 5))


def test_a_304_is_honoured_for_a_page_fetched_again(assistant, site, embedder):
    site.put("/a.html", page("Harbour", "The harbour reopened on Monday after the storm damaged the quay."))
    site.put("/feed.xml", rss(("a", f"{site.base}/a.html", "Mon, 01 Dec 2026 10:00:00 GMT")), "application/rss+xml")
    assistant.add_source([f"{site.base}/feed.xml"])
    assistant.sync()
    embedded = embedder.texts
    # The entry's date changes, the page does not: asked for conditionally, answered 304.
    site.put("/feed.xml", rss(("a", f"{site.base}/a.html", "Tue, 02 Dec 2026 10:00:00 GMT")), "application/rss+xml")
    site.requests.clear()

    [run] = assistant.sync()

    assert [p for p, _ in site.requests] == ["/feed.xml", "/robots.txt", "/a.html"]  # robots.txt: once a run
    assert all(etag for p, etag in site.requests if p != "/robots.txt")
    assert (run.unchanged, run.updated, run.failed) == (1, 0, 0)
    assert embedder.texts == embedded


# ── sitemaps ────────────────────────────────────────────────────────────────────────────────


def test_a_sitemap_fetches_by_lastmod_and_removes_pages_only_when_told(assistant, site):
    site.put("/a.html", page("Alpha", "The alpha plant employs three hundred welders."))
    site.put("/b.html", page("Beta", "The beta mill closed in the winter of 1998."))
    site.put("/sitemap.xml", sitemap((f"{site.base}/a.html", "2026-12-01"), (f"{site.base}/b.html", "2026-12-01")),
             "application/xml")
    keep = assistant.add_source([f"{site.base}/sitemap.xml"])
    assert assistant.sync()[0].added == 2

    site.put("/sitemap.xml", sitemap((f"{site.base}/a.html", "2026-12-01")), "application/xml")
    site.requests.clear()
    [run] = assistant.sync()
    assert [p for p, _ in site.requests] == ["/sitemap.xml"]  # a's lastmod is as before
    assert run.removed == 0
    assert {a["id"] for a in assistant.articles()} == {page_id(f"{site.base}/a.html"), page_id(f"{site.base}/b.html")}

    assistant.remove_source(keep.id)
    assistant.add_source([f"{site.base}/sitemap.xml"], remove_missing=True)
    site.put("/sitemap.xml", sitemap((f"{site.base}/a.html", "2026-12-01"), (f"{site.base}/b.html", "2026-12-01")),
             "application/xml")
    assert assistant.sync()[0].unchanged == 2  # fetched again (a new source knows no lastmod), same text
    site.put("/sitemap.xml", sitemap((f"{site.base}/a.html", "2026-12-01")), "application/xml")
    [run] = assistant.sync()
    assert run.removed == 1
    assert [a["id"] for a in assistant.articles()] == [page_id(f"{site.base}/a.html")]


def test_two_urls_of_one_canonical_page_are_one_article(assistant, site):
    text = page("Alpha", "The alpha plant employs three hundred welders.", canonical=f"{site.base}/alpha")
    site.put("/a.html", text)
    site.put("/a.html?ref=home", text)
    site.put("/sitemap.xml", sitemap((f"{site.base}/a.html", None), (f"{site.base}/a.html?ref=home", None)),
             "application/xml")
    assistant.add_source([f"{site.base}/sitemap.xml"])

    [run] = assistant.sync()

    assert (run.added, run.failed) == (1, 0)
    alpha = f"{site.base}/alpha"
    assert [(a["id"], a["url"]) for a in assistant.articles()] == [(page_id(alpha), alpha)]


def test_robots_txt_is_honoured_unless_the_source_says_otherwise(assistant, site):
    site.put("/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain")
    site.put("/private/a.html", page("Private", "The private memo lists the budget for next year."))
    site.put("/sitemap.xml", sitemap((f"{site.base}/private/a.html", None)), "application/xml")
    polite = assistant.add_source([f"{site.base}/sitemap.xml"])

    [run] = assistant.sync()
    assert run.added == 0 and "robots.txt disallows" in run.errors[0]["error"]
    assert site.asked("/private/a.html") == 0

    assistant.remove_source(polite.id)
    assistant.add_source([f"{site.base}/sitemap.xml"], robots=False)
    assert assistant.sync()[0].added == 1


# ── folders ─────────────────────────────────────────────────────────────────────────────────


def test_a_watched_folder_reads_only_changed_files(assistant, tmp_path, embedder):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "tea.txt").write_text("Tea\n\nGreen tea is grown on the slopes of Mount Kenya.\n")
    (folder / "rivers.md").write_text("# Rivers\n\nThe Wend floods every spring.\n")
    assistant.add_source([str(folder)], remove_missing=True)
    assert assistant.sync()[0].added == 2

    embedded = embedder.texts
    (folder / "tea.txt").touch()  # a new mtime, the same bytes
    [run] = assistant.sync()
    assert (run.added, run.updated, run.unchanged) == (0, 0, 2) and embedder.texts == embedded

    (folder / "tea.txt").write_text("Tea\n\nBlack tea is grown in Assam.\n")
    (folder / "rivers.md").unlink()
    [run] = assistant.sync()
    assert (run.updated, run.removed) == (1, 1)
    assert [a["id"] for a in assistant.articles()] == ["tea"]
    assert "Assam" in assistant.article("tea").text


def test_a_source_s_articles_land_in_its_collection_from_the_first_commit(assistant, tmp_path):
    folder = tmp_path / "legal"
    folder.mkdir()
    (folder / "merger.txt").write_text("Merger\n\nThe Zephyrine merger closes in June.\n")
    assistant.restrict("legal")
    assistant.add_source([str(folder)], collection="legal")
    assert assistant.sync()[0].added == 1
    assert [a["collections"] for a in assistant.articles()] == [["legal"]]
    assert assistant.search("Zephyrine merger", 3, assistant.scope(frozenset())) == []
    assert [p.chunk.article_id for p in assistant.search("Zephyrine merger", 3)] == ["merger"]


def test_the_cli_adds_lists_syncs_and_removes_sources(tmp_path, site, capsys, monkeypatch):
    from assistant.serve import cli

    site.put("/a.html", page("Harbour", "The harbour reopened on Monday after the storm damaged the quay."))
    site.put("/feed.xml", rss(("a", f"{site.base}/a.html", "Mon, 01 Dec 2026 10:00:00 GMT")), "application/rss+xml")
    monkeypatch.setenv("ASSISTANT_FETCH_ALLOW_HOSTS", '["127.0.0.1"]')
    monkeypatch.setattr(cli, "_assistant", lambda settings: Assistant(settings, embedder=HashEmbedder()))
    index = str(tmp_path / "index")

    assert cli.main(["sources", "add", f"{site.base}/feed.xml", "--every", "30m", "--index", index]) == 0
    assert "added source 1" in capsys.readouterr().out
    assert cli.main(["sync", "--index", index]) == 0
    assert "source 1: " in capsys.readouterr().out
    assert cli.main(["sources", "list", "--index", index]) == 0
    out = capsys.readouterr().out
    assert "feed" in out and "every 30m" in out and "added 1" in out
    assert cli.main(["sources", "remove", "1", "--index", index]) == 0
    assert cli.main(["sources", "add", "--every", "5s", f"{site.base}/feed.xml", "--index", index]) == 1
    assert "shorter than 60 s" in capsys.readouterr().err


# ── bad inputs: each refused by name, nothing else lost ─────────────────────────────────────

BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY lol "lol">'
                  + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                            for i in range(1, 10))
                  + ']><rss version="2.0"><channel><title>&lol9;</title></channel></rss>')


def _with_good_source(assistant, site) -> None:
    site.put("/good.html", page("Good", "The good page says the ferry leaves at noon."))
    site.put("/good.xml", sitemap((f"{site.base}/good.html", "2026-12-01")), "application/xml")
    assistant.add_source([f"{site.base}/good.xml"])


@pytest.mark.parametrize("case", ["billion-laughs", "50-MB-sitemap", "self-referencing-index", "redirect-to-loopback"])
def test_a_bad_source_is_refused_by_name_and_nothing_else_is_lost(assistant, site, case):
    _with_good_source(assistant, site)
    port = site.base.rsplit(":", 1)[1]
    if case == "billion-laughs":
        site.put("/bad.xml", BILLION_LAUGHS, "application/rss+xml")
        named = "UnsafeXML: "
    elif case == "50-MB-sitemap":
        site.put("/bad.xml", b'<?xml version="1.0"?><urlset>' + b" " * (50 * 1024 * 1024) + b"</urlset>",
                 "application/xml")
        named = "TooLarge: "
    elif case == "self-referencing-index":
        site.put("/bad.xml", '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                             f"<sitemap><loc>{site.base}/bad.xml</loc></sitemap>"
                             f"<sitemap><loc>{site.base}/s1.xml</loc></sitemap></sitemapindex>", "application/xml")
        site.put("/s1.xml", sitemap((f"{site.base}/s1.html", None)), "application/xml")
        site.put("/s1.html", page("Listed", "The listed page says the bridge is open again."))
        named = "SitemapLoop: "
    else:
        site.redirects["/bad.xml"] = f"http://localhost:{port}/secret.xml"  # 127.0.0.1 is allowed; localhost is not
        site.put("/secret.xml", rss(("s", f"{site.base}/good.html", "")), "application/rss+xml")
        named = "Unreachable: "
    assistant.add_source([f"{site.base}/bad.xml"])

    good, bad = assistant.sync()

    assert bad.error is not None and bad.error.startswith(named), bad.error
    assert (good.error, good.added) == (None, 1)
    assert top(assistant, "ferry leaves at noon") == page_id(f"{site.base}/good.html")
    assert site.asked("/secret.xml") == 0
    if case == "self-referencing-index":  # the rest of the index is still read
        assert page_id(f"{site.base}/s1.html") in {a["id"] for a in assistant.articles()}
        assert site.asked("/bad.xml") == 1
    assert assistant.sources()[1]["failures"] == 1


def test_a_feed_that_fails_or_times_out_backs_off_and_the_others_go_on(tmp_path, site, embedder):
    import time

    assistant = make_assistant(tmp_path / "index", embedder, fetch_allow_hosts=["127.0.0.1"], sync_host_delay=0,
                               fetch_deadline=1.0, fetch_timeout=1.0)
    _with_good_source(assistant, site)
    site.put("/broken.xml", "server error", "text/plain", status=500)
    assistant.add_source([f"{site.base}/broken.xml"])
    slow = threading.Event()
    site.put("/slow.xml", rss(), "application/rss+xml")
    original = site.pages.__class__.get

    class SlowPages(dict):
        def get(self, path, default=None):
            if path == "/slow.xml":
                slow.wait(3)  # longer than the 1 s deadline
            return original(self, path, default)

    site.pages = SlowPages(site.pages)
    assistant.add_source([f"{site.base}/slow.xml"])

    before = time.time()
    good, broken, timed_out = assistant.sync()
    slow.set()

    assert (good.added, good.error) == (1, None)
    assert "HTTP 500" in broken.error
    assert "could not fetch" in timed_out.error  # the 1 s deadline or read timeout, whichever came first
    rows = {row["location"].rsplit("/", 1)[1]: row for row in assistant.sources()}
    assert rows["good.xml"]["failures"] == 0 and rows["good.xml"]["next_run"] > before + 3000  # the hour
    for name in ("broken.xml", "slow.xml"):
        assert rows[name]["failures"] == 1
        assert before + 50 < rows[name]["next_run"] < time.time() + 70  # 1 min, ±10%
    assistant.sync()  # fails again: 2 min
    rows = {row["location"].rsplit("/", 1)[1]: row for row in assistant.sources()}
    assert rows["broken.xml"]["failures"] == 2 and rows["broken.xml"]["next_run"] > before + 100


# ── the schedule, the server and the admin API ──────────────────────────────────────────────


def test_next_run_jitters_and_backs_off():
    import random

    from assistant.ingest.sync import next_run, parse_every
    from assistant.store.sources import Source

    source = Source(1, "feed", "https://example.com/feed.xml", "default", parse_every("30m"), False, True, "", 0, 0)
    rng = random.Random(7)
    assert all(1620 <= next_run(source, False, 0, rng)[1] <= 1980 for _ in range(50))  # 30 min ± 10%
    waits = []
    for _ in range(12):
        failures, at = next_run(source, True, 0, rng)
        source = Source(**{**source.to_dict(), "failures": failures})
        waits.append(at)
    assert [round(w / 60) for w in waits[:4]] == pytest.approx([1, 2, 4, 8], abs=1)
    assert max(waits) <= 6 * 3600 * 1.1  # capped at 6 h (the interval is shorter)
    assert next_run(source, False, 0, rng)[0] == 0  # a success resets the back-off


def test_serve_syncs_in_the_background_and_the_admin_api_manages_sources(tmp_path, site, embedder):
    import time

    import httpx
    from conftest import live_server

    from assistant.serve.api import create_app

    site.put("/a.html", page("Harbour", "The harbour reopened on Monday after the storm damaged the quay."))
    site.put("/feed.xml", rss(("a", f"{site.base}/a.html", "Mon, 01 Dec 2026 10:00:00 GMT")), "application/rss+xml")
    assistant = make_assistant(tmp_path / "index", embedder, fetch_allow_hosts=["127.0.0.1"], sync_host_delay=0)
    admin = {"Authorization": "Bearer s3cret"}
    with live_server(create_app(assistant, admin_token="s3cret", ui=False, sync=True)) as url, \
            httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/api/sources").status_code == 401
        added = client.post("/api/sources", json={"urls": [f"{site.base}/feed.xml"], "every": "30m"}, headers=admin)
        assert added.status_code == 201, added.text
        source = added.json()
        assert (source["kind"], source["every"], source["last_run"]) == ("url", 1800.0, None)
        # Due at once: the scheduler's next look (within 30 s) runs it.
        deadline = time.monotonic() + 60
        while not ((rows := client.get("/api/sources", headers=admin).json())[0]["last_run"] or {}).get("finished"):
            assert time.monotonic() < deadline, "the scheduler did not run the source"
            time.sleep(0.5)
        run = rows[0]["last_run"]
        assert (run["added"], run["error"], rows[0]["kind"]) == (1, None, "feed")
        assert client.post("/api/ask", json={"question": "When did the harbour reopen?"}).json()["citations"]

        again = client.post(f"/api/sources/{source['id']}/sync", headers=admin)
        assert again.status_code == 200 and again.json()["requests"] == 1 and again.json()["unchanged"] == 1
        folder = client.post("/api/sources", json={"urls": [str(tmp_path)]}, headers=admin)
        assert folder.status_code == 400  # folders: the command line only
        assert client.delete(f"/api/sources/{source['id']}", headers=admin).status_code == 200
        assert client.get("/api/sources", headers=admin).json() == []
        assert client.post("/api/sources/99/sync", headers=admin).status_code == 404


# ── scale and crashes ───────────────────────────────────────────────────────────────────────


def test_a_sync_of_1000_unchanged_pages_takes_under_10_s(assistant, site, embedder):
    import time

    urls = [f"{site.base}/p{i}.html" for i in range(1000)]
    for i in range(1000):
        site.put(f"/p{i}.html", f"<html><head><title>Page {i}</title></head><body><article><p>Page number {i} "
                                f"of the archive records the minutes of meeting {i} of the council.</p></article>"
                                "</body></html>")
    # No <lastmod>: every page is asked for again, conditionally, each time the sitemap changes.
    site.put("/sitemap.xml", sitemap(*((u, None) for u in urls)), "application/xml")
    assistant.add_source([f"{site.base}/sitemap.xml"])
    assert assistant.sync()[0].added == 1000
    site.put("/sitemap.xml", sitemap(*((u, None) for u in reversed(urls))), "application/xml")
    embedded = embedder.texts

    began = time.perf_counter()
    [run] = assistant.sync()
    seconds = time.perf_counter() - began

    assert (run.unchanged, run.added, run.updated, run.failed, run.requests) == (1000, 0, 0, 0, 1002)  # + robots.txt
    assert embedder.texts == embedded
    print(f"sync of 1,000 unchanged pages: {seconds:.2f} s")
    assert seconds < 10, f"{seconds:.1f} s"
    began = time.perf_counter()
    [run] = assistant.sync()  # the sitemap unchanged: one conditional request
    assert (run.requests, run.unchanged) == (1, 1000) and time.perf_counter() - began < 2


def test_kill_9_during_a_sync_leaves_the_index_and_the_state_as_before(tmp_path, site):
    from assistant.store.sources import SourceStore

    index = tmp_path / "index"
    assistant = make_assistant(index, HashEmbedder(), fetch_allow_hosts=["127.0.0.1"], sync_host_delay=0)
    site.put("/a.html", page("Harbour", "The harbour master is Tom Ferris, appointed in June."))
    site.put("/feed.xml", rss(("a", f"{site.base}/a.html", "Mon, 01 Dec 2026 10:00:00 GMT")), "application/rss+xml")
    assistant.add_source([f"{site.base}/feed.xml"])
    assistant.sync()
    documents = SourceStore(index).documents(1)
    site.put("/a.html", page("Harbour", "The harbour master is Ada Quinn, appointed in November."))
    site.put("/b.html", page("Bridge", "The old bridge over the river Wend will close for repairs in March."))
    site.put("/feed.xml", rss(("b", f"{site.base}/b.html", "Tue, 02 Dec 2026 10:00:00 GMT"),
                              ("a", f"{site.base}/a.html", "Wed, 03 Dec 2026 10:00:00 GMT")), "application/rss+xml")

    kill_9_while_writing(index, "assistant.sync()", fetch_allow_hosts=["127.0.0.1"], sync_host_delay=0)

    after = make_assistant(index, HashEmbedder(), fetch_allow_hosts=["127.0.0.1"], sync_host_delay=0)
    assert [a["id"] for a in after.articles()] == [page_id(f"{site.base}/a.html")]
    assert "Tom Ferris" in after.article(page_id(f"{site.base}/a.html")).text
    assert SourceStore(index).documents(1) == documents
    assert after.sources()[0]["last_run"]["finished"] is None  # the killed run shows as never finished
    [run] = after.sync()  # the next run does it all again
    assert (run.added, run.updated, run.error) == (1, 1, None)
    assert "Ada Quinn" in after.article(page_id(f"{site.base}/a.html")).text


def test_a_sync_is_one_write_however_many_batches_its_pages_fill(tmp_path, site, monkeypatch):
    """So a kill -9 anywhere in a big sync leaves the index as before it, as in the test above."""
    import assistant.ingest.indexer as indexer

    writes = []
    real = indexer.write_segment
    monkeypatch.setattr(indexer, "write_segment", lambda *args: (writes.append(1), real(*args))[1])
    monkeypatch.setattr(indexer, "BATCH_CHUNKS", 1)  # a batch a chunk: a plain ingest of two pages writes twice
    assistant = make_assistant(tmp_path / "index", HashEmbedder(), fetch_allow_hosts=["127.0.0.1"], sync_host_delay=0)
    site.put("/a.html", page("Harbour", "The harbour master is Tom Ferris, appointed in June."))
    site.put("/b.html", page("Bridge", "The old bridge over the river Wend will close for repairs in March."))
    site.put("/feed.xml", rss(("a", f"{site.base}/a.html", "Mon, 01 Dec 2026 10:00:00 GMT"),
                              ("b", f"{site.base}/b.html", "Mon, 01 Dec 2026 11:00:00 GMT")), "application/rss+xml")
    assistant.add_source([f"{site.base}/feed.xml"])

    [run] = assistant.sync()

    assert run.added == 2 and len(writes) == 1
    assistant.ingest_articles([Article("c", "C", "One more article.", source="c.txt"),
                               Article("d", "D", "And another one.", source="d.txt")])
    assert len(writes) == 3  # files keep their bounded batches
