"""`assistant` command line: ingest, list, remove, inspect, ask, evaluate, serve, read feedback.

Heavy modules (torch, llama-index, gradio) are imported inside the commands, so `--help` is instant.
Errors become one `Error: ...` line and exit status 1. Everything printed goes through `_print`,
which writes out the escape sequences stored text may carry.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from assistant import __version__
from assistant.config import Settings
from assistant.errors import AssistantError
from assistant.serve.render import answer_text, for_terminal
from assistant.store.access import collection_name
from assistant.store.format import DEFAULT_COLLECTION


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args, _settings(args))
    except AssistantError as exc:
        return _error(exc)
    except BrokenPipeError:  # `assistant ask ... | head -1`: the reader has what it wanted; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush does not fail again
        return 0
    except OSError as exc:  # e.g. an --index under a file or on a read-only disk
        return _error(f"{exc.filename}: {exc.strerror or exc}" if exc.filename else exc)
    except KeyboardInterrupt:
        _print("Interrupted; the index is unchanged unless a new version was completed.", file=sys.stderr)
        return 130


def _print(text: str, *, file: TextIO | None = None, flush: bool = False) -> None:
    """Every line the CLI writes. Titles, ids, comments, answers and file names are anyone's text,
    so what a terminal would act on (an escape sequence, a bidi override) is written out instead."""
    print(for_terminal(text), file=file or sys.stdout, flush=flush)


def _error(message) -> int:
    """Every failure the CLI reports: one `Error: ...` line on stderr, exit status 1."""
    _print(f"Error: {message}", file=sys.stderr)
    return 1


def _settings(args) -> Settings:
    """Settings from the environment and the flags; a bad value is an error naming the setting."""
    overrides = {"index": args.index} if getattr(args, "index", None) else {}
    if getattr(args, "k", None) is not None:  # -k 0 must be refused, not ignored
        overrides["top_k"] = args.k
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = (f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())  # "top_k: Input should be ..."
        raise AssistantError("; ".join(problems)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assistant", description="Ask questions about your articles; every answer is cited.")
    parser.add_argument("--version", action="version", version=f"assistant {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, run, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--index", type=Path, help="index directory (default: $ASSISTANT_INDEX or index/)")
        p.set_defaults(run=run)
        return p

    p = command("ingest", _ingest, "Add or update articles from files, directories or URLs.")
    p.add_argument("paths", nargs="+", metavar="PATH", help=".txt .md .html .pdf .jsonl files, directories, or http(s) URLs")
    p.add_argument("--rebuild", action="store_true", help="discard the existing index and build it anew")
    p.add_argument("--ray", action="store_true",
                   help="parse, split and embed as a Ray Data pipeline (a local Ray unless --ray-address); "
                        "writes to the configured store ($ASSISTANT_STORE) as a plain ingest does")
    p.add_argument("--ray-address", metavar="ADDRESS",
                   help="the Ray cluster to run on (HOST:6379 or ray://HOST:10001); implies --ray")
    p.add_argument("--collection", metavar="NAME",
                   help="put every article read in this collection (unchanged ones are moved, not re-embedded); "
                        "default: new articles go in 'default', indexed ones stay where they are")
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = command("collections", _collections,
                "List the collections with their counts and who may read them; restrict, open or move into one.")
    p.add_argument("action", nargs="?", choices=["restrict", "public", "move"],
                   help="restrict NAME: only tokens, groups and the admin read it; public NAME: anyone does; "
                        "move NAME ARTICLE_ID...: put articles in NAME alone (not re-embedded)")
    p.add_argument("name", nargs="?", metavar="NAME")
    p.add_argument("ids", nargs="*", metavar="ARTICLE_ID")
    p.add_argument("--json", action="store_true")

    p = command("token", _token, "Read tokens for restricted collections (sent as `Authorization: Bearer`).")
    actions = p.add_subparsers(dest="action", required=True)
    a = actions.add_parser("create", help="a new token, printed once; only its hash is kept")
    a.add_argument("--collection", action="append", required=True, metavar="NAME",
                   help="a collection it may read (repeat for several)")
    a.add_argument("--expires", metavar="WHEN", help="30m, 12h, 30d, 2w or a date (2027-01-31); default: never")
    a.add_argument("--json", action="store_true")
    a = actions.add_parser("list", help="every token: id, collections, created, expires, revoked (never the secret)")
    a.add_argument("--json", action="store_true")
    a = actions.add_parser("revoke", help="stop a token from reading anything")
    a.add_argument("id", type=int, metavar="ID")
    for a in actions.choices.values():
        a.add_argument("--index", type=Path, default=argparse.SUPPRESS, help="index directory")

    p = command("articles", _articles, "List the indexed articles.")
    p.add_argument("--json", action="store_true")

    command("compact", _compact, "Merge the index's segments into one and drop deleted vectors (faster searches).")
    p = command("remove", _remove, "Remove articles (and their chunks) from the index.")
    p.add_argument("ids", nargs="+", metavar="ARTICLE_ID")

    command("info", _info, "Show the index manifest: model, dimension, chunking, counts, format.")

    p = command("ask", _ask, "Ask a question; the answer cites its passages.")
    p.add_argument("question", nargs="?", help="the question (or use --batch)")
    p.add_argument("--batch", type=Path, metavar="QUESTIONS.jsonl", help="answer each {id, question} line; JSON lines out")
    p.add_argument("--json", action="store_true", help="print the Answer JSON")
    p.add_argument("-k", type=int, metavar="N", help="passages to retrieve (default: $ASSISTANT_TOP_K or 5)")

    p = command("who", _who, "Who someone is across the collection: every article's description, cited.")
    p.add_argument("name", metavar="NAME", help="a person's or organisation's name, or a surname")
    p.add_argument("--json", action="store_true", help="print the Answer JSON, with its profile")

    p = command("eval", _eval, "Measure retrieval and answers on a QA set, against two baselines.")
    p.add_argument("qa", type=Path, metavar="QA.jsonl", help="one {question, answers, doc_ids, answerable} object per line")
    p.add_argument("--no-baselines", action="store_true", help="skip the llama-index and BM25 baselines")
    p.add_argument("--json", action="store_true")
    p.add_argument("-k", type=int, metavar="N")

    p = command("serve", _serve, "Serve the chat UI, the /embed view and the HTTP API.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--root-path", default="", help="sub-path when behind a reverse proxy, e.g. /tools/assistant")
    p.add_argument("--admin-token-env", default=None, metavar="NAME",
                   help="environment variable holding the admin token (default: ASSISTANT_ADMIN_TOKEN); "
                        "enables upload and removal")

    p = command("sources", _sources, "Sources kept in step with the index: feeds, sitemaps, pages, folders.")
    actions = p.add_subparsers(dest="action", required=True)
    a = actions.add_parser("add", help="add a feed, sitemap or page URL, several page URLs, or a folder")
    a.add_argument("locations", nargs="+", metavar="URL|PATH")
    a.add_argument("--collection", default="default", metavar="NAME", help="the collection it belongs to (stored)")
    a.add_argument("--every", default="1h", metavar="INTERVAL", help="how often to sync: 30m, 2h, 1d (default 1h)")
    a.add_argument("--remove-missing", action="store_true",
                   help="remove articles whose page leaves the sitemap or whose file leaves the folder")
    a.add_argument("--ignore-robots", action="store_true", help="fetch pages robots.txt disallows (your own site)")
    a.add_argument("--json", action="store_true")
    a = actions.add_parser("list", help="every source with its last run")
    a.add_argument("--json", action="store_true")
    a = actions.add_parser("remove", help="stop syncing a source (its articles stay)")
    a.add_argument("id", type=int, metavar="ID")
    for a in actions.choices.values():
        a.add_argument("--index", type=Path, default=argparse.SUPPRESS, help="index directory")

    p = command("sync", _sync, "Fetch what changed in every source (or one), now; --loop: on their schedule.")
    p.add_argument("id", nargs="?", type=int, metavar="ID", help="one source (default: all)")
    p.add_argument("--loop", action="store_true", help="keep running each source on its interval until interrupted")
    p.add_argument("--json", action="store_true", help="one JSON run record per line")

    p = command("feedback", _feedback, "List readers' votes on answers (the chat's Helpful / Not helpful), newest first.")
    p.add_argument("--json", action="store_true", help="one JSON list with every field")
    return parser


def _count(n: int, noun: str) -> str:
    """ "1 article", "2 articles"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _assistant(settings: Settings):
    from assistant.service import Assistant

    return Assistant(settings)


def _ingest(args, settings: Settings) -> int:
    assistant = _assistant(settings)
    report = assistant.ingest([str(p) for p in args.paths], rebuild=args.rebuild, progress=sys.stderr.isatty(),
                                         ray=args.ray, ray_address=args.ray_address, collection=args.collection)
    if report.migrated:
        _print(f"note: moved {_count(report.migrated, 'article')} from the previous index format into the new one",
               file=sys.stderr)
    for note in report.replaced:
        _print(f"note: {note}", file=sys.stderr)
    for error in report.errors:
        _print(f"error: {error}", file=sys.stderr)
    named = collection_name(args.collection) if args.collection else DEFAULT_COLLECTION
    if named != DEFAULT_COLLECTION and named not in assistant.access.restricted():  # said, in case it was meant to be
        _print(f"note: collection {named} is public: anyone who can reach the assistant reads it; "
               f"`assistant collections restrict {named}` makes it restricted", file=sys.stderr)
    if args.json:
        _print(json.dumps(report.to_dict()))
    else:
        rate = report.chunks / report.seconds if report.seconds else 0.0
        _print(
            f"added {report.added}, updated {report.updated}, unchanged {report.unchanged}, failed {report.failed}; "
            f"chunks {report.chunks} embedded ({report.total_chunks} in index) in {report.seconds:.1f} s "
            f"({rate:.1f} chunks/s) -> {settings.index}"
        )
    return 1 if report.failed else 0


def _articles(args, settings: Settings) -> int:
    rows = _assistant(settings).articles()
    if args.json:
        _print(json.dumps(rows, ensure_ascii=False))
        return 0
    for row in rows:
        _print(f"{row['id']}\t{row['title']}\t{row['url'] or '-'}\t{row['chunks']} chunks")
    _print(f"{len(rows)} articles", file=sys.stderr)
    return 0


def _collections(args, settings: Settings) -> int:
    assistant = _assistant(settings)
    if args.action and not args.name:
        raise AssistantError(f"name the collection: `assistant collections {args.action} NAME`")
    if args.action == "move":
        if not args.ids:
            raise AssistantError("name the articles to move: `assistant collections move NAME ARTICLE_ID...`")
        report = assistant.move(args.ids, args.name)
        _print(f"moved {_count(report.updated, 'article')} into {args.name} (nothing re-embedded)")
        return 0
    if args.action:
        assistant.restrict(args.name, args.action == "restrict")
        _print(f"{args.name} is now {'restricted' if args.action == 'restrict' else 'public'}")
        return 0
    rows = assistant.collections()
    if args.json:
        _print(json.dumps(rows, ensure_ascii=False))
        return 0
    for row in rows:
        who = ("restricted: the admin" + (f", {row['tokens']} tokens" if row["tokens"] else "")
               + (f", groups {', '.join(row['groups'])}" if row["groups"] else "")) if row["restricted"] else "public"
        _print(f"{row['name']}\t{row['articles']} articles\t{row['chunks']} chunks\t{who}")
    return 0


def _token(args, settings: Settings) -> int:
    assistant = _assistant(settings)
    if args.action == "create":
        token, secret = assistant.create_token(args.collection, args.expires)
        if args.json:
            _print(json.dumps({**token.to_dict(), "token": secret}))
        else:
            _print(secret)
            _print(f"token {token.id} reads {', '.join(token.collections)}, expires {token.expires or 'never'}; "
                   "it is shown only now: send it as 'Authorization: Bearer <token>'", file=sys.stderr)
        return 0
    if args.action == "revoke":
        token = assistant.revoke_token(args.id)
        _print(f"token {token.id} revoked ({', '.join(token.collections)})")
        return 0
    tokens = assistant.tokens()
    if args.json:
        _print(json.dumps([t.to_dict() for t in tokens]))
        return 0
    for t in tokens:
        state = f"revoked {t.revoked}" if t.revoked else f"expires {t.expires or 'never'}"
        _print(f"{t.id}\t{','.join(t.collections)}\tcreated {t.created}\t{state}")
    return 0


def _compact(args, settings: Settings) -> int:
    before, after, seconds = _assistant(settings).compact()
    _print(f"compacted {before} segments into {after} in {seconds:.1f} s -> {settings.index}")
    return 0


def _remove(args, settings: Settings) -> int:
    report = _assistant(settings).remove(args.ids)
    _print(f"removed {_count(report.removed, 'article')}; {report.total_chunks} chunks left in {settings.index} ({report.seconds:.1f} s)")
    return 0


def _info(args, settings: Settings) -> int:
    _print(json.dumps(_assistant(settings).info(), indent=2))
    return 0


def _ask(args, settings: Settings) -> int:
    if bool(args.question) == bool(args.batch):
        raise AssistantError("give either a QUESTION or --batch QUESTIONS.jsonl")
    assistant = _assistant(settings)
    if args.batch:
        return _ask_batch(assistant, args.batch, settings.top_k)
    answer = assistant.ask(args.question, top_k=settings.top_k)
    _print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2) if args.json else answer_text(answer))
    return 0


def _who(args, settings: Settings) -> int:
    answer = _assistant(settings).who(args.name)
    _print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2) if args.json else answer_text(answer))
    return 0


def _ask_batch(assistant, path: Path, top_k: int) -> int:
    """One Answer JSON line per good line; a bad line is an `error: FILE:LINE:` line and exit status 1."""
    assistant.retriever()  # a missing index is one error, not one per line
    failed = False
    for number, line in _jsonl(path):
        try:
            item = _record(line)
            question = item.get("question")
            if not isinstance(question, str) or not question.strip():
                raise AssistantError("missing 'question'")
            answer = assistant.ask(question, top_k=top_k)
        except AssistantError as exc:
            _print(f"error: {path}:{number}: {exc}", file=sys.stderr)
            failed = True
            continue
        _print(json.dumps(answer.to_dict(id=item.get("id")), ensure_ascii=False), flush=True)
    return 1 if failed else 0


def _eval(args, settings: Settings) -> int:
    from assistant.answer.evaluation import QA_FIELDS, evaluate, format_table

    rows = []
    for number, line in _jsonl(args.qa):  # checked before the model loads, so a bad row fails at once
        try:
            rows.append(_record(line, QA_FIELDS))
        except AssistantError as exc:
            raise AssistantError(f"{args.qa}:{number}: {exc}") from None
    results = evaluate(_assistant(settings), rows, top_k=settings.top_k, baselines=not args.no_baselines)
    _print(json.dumps(results, indent=2) if args.json else format_table(results))
    return 0


def _serve(args, settings: Settings) -> int:
    from assistant.serve.api import serve

    serve(settings, host=args.host, port=args.port, root_path=args.root_path, admin_token_env=args.admin_token_env)
    return 0


def _sources(args, settings: Settings) -> int:
    assistant = _assistant(settings)
    if args.action == "add":
        source = assistant.add_source(args.locations, collection=args.collection, every=args.every,
                                      remove_missing=args.remove_missing, robots=not args.ignore_robots)
        _print(json.dumps(source.to_dict()) if args.json else f"added source {source.id}: {_where(source.location)} "
               f"every {_duration(source.every)}; run it now with `assistant sync {source.id}`")
    elif args.action == "remove":
        source = assistant.remove_source(args.id)
        _print(f"removed source {source.id} ({_where(source.location)}); its articles stay in {settings.index}")
    else:
        rows = assistant.sources()
        if args.json:
            _print(json.dumps(rows, ensure_ascii=False))
            return 0
        for row in rows:
            last = row["last_run"]
            _print(f"{row['id']}\t{row['kind']}\t{_where(row['location'])}\tevery {_duration(row['every'])}\t"
                   f"{_run_line(last) if last else 'never run'}")
        _print(f"{len(rows)} source{'' if len(rows) == 1 else 's'} in {settings.index}", file=sys.stderr)
    return 0


def _sync(args, settings: Settings) -> int:
    assistant = _assistant(settings)
    if args.loop:
        import threading

        from assistant.ingest.sync import loop

        if args.id is not None:
            raise AssistantError("--loop runs every source on its schedule; leave out the ID")
        _print(f"syncing the sources of {settings.index} on their schedule; Ctrl-C to stop", file=sys.stderr)
        loop(assistant.sync_due, threading.Event())
        return 0
    runs = assistant.sync(args.id)
    for run in runs:
        _print(json.dumps(run.to_dict(), ensure_ascii=False) if args.json else f"source {run.source}: {_run_line(run.to_dict())}")
        for e in run.errors:
            _print(f"error: {e['url']}: {e['error']}", file=sys.stderr)
    if not runs:
        _print("no sources; add one with `assistant sources add URL|PATH`", file=sys.stderr)
    return 1 if any(r.error or r.failed for r in runs) else 0


def _run_line(run: dict) -> str:
    """'2026-12-08T10:00:00Z: added 1, updated 0, removed 0, unchanged 12, failed 0; 2 requests'."""
    line = (f"{run['started']}: added {run['added']}, updated {run['updated']}, removed {run['removed']}, "
            f"unchanged {run['unchanged']}, failed {run['failed']}; {run['requests']} requests")
    if run["finished"] is None:
        line += " (running, or stopped before it finished)"
    return line + (f"; error: {run['error']}" if run["error"] else "")


def _where(location: str) -> str:
    urls = location.split("\n")
    return urls[0] if len(urls) == 1 else f"{urls[0]} and {len(urls) - 1} more pages"


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _feedback(args, settings: Settings) -> int:
    entries = _assistant(settings).feedback_entries()
    if args.json:
        _print(json.dumps([e.to_dict() for e in entries], ensure_ascii=False))
        return 0
    for e in entries:
        comment = f" — {e.comment}" if e.comment else ""
        _print(f"{e.time}\t{e.vote}\t{e.question}{comment}")
        _print(f"    {' '.join(e.answer.split())[:160]}")
    _print(f"{_count(len(entries), 'vote')} in {settings.index}", file=sys.stderr)
    return 0


def _jsonl(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) for each non-blank line, so callers can name the line of a bad record."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise AssistantError(f"{path}: cannot read: {exc.strerror}") from None
    for number, line in enumerate(lines, 1):
        if line.strip():
            yield number, line


def _record(line: str, required: Sequence[str] = ()) -> dict:
    """The JSON object on one line, holding every `required` key; else an error saying what is wrong."""
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise AssistantError(f"malformed JSON: {exc.msg}") from None
    if not isinstance(item, dict):
        raise AssistantError("expected a JSON object")
    for key in required:
        if key not in item:
            raise AssistantError(f"missing {key!r}")
    return item
