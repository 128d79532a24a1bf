"""`assistant` command line: ingest, list, remove, inspect, ask, evaluate, serve.

Heavy modules (torch, llama-index, gradio) are imported inside the commands, so `--help` is instant.
Errors become one `Error: ...` line and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from assistant import __version__
from assistant.config import Settings
from assistant.errors import AssistantError


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides = {"index": args.index} if getattr(args, "index", None) else {}
    if getattr(args, "k", None):
        overrides["top_k"] = args.k
    try:
        settings = Settings(**overrides)
        return args.run(args, settings)
    except AssistantError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted; the index is unchanged unless a new version was completed.", file=sys.stderr)
        return 130


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
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = command("articles", _articles, "List the indexed articles.")
    p.add_argument("--json", action="store_true")

    p = command("remove", _remove, "Remove articles (and their chunks) from the index.")
    p.add_argument("ids", nargs="+", metavar="ARTICLE_ID")

    command("info", _info, "Show the index manifest: model, dimension, chunking, counts, format.")

    p = command("ask", _ask, "Ask a question; the answer cites its passages.")
    p.add_argument("question", nargs="?", help="the question (or use --batch)")
    p.add_argument("--batch", type=Path, metavar="QUESTIONS.jsonl", help="answer each {id, question} line; JSON lines out")
    p.add_argument("--json", action="store_true", help="print the Answer JSON")
    p.add_argument("-k", type=int, metavar="N", help="passages to retrieve (default: $ASSISTANT_TOP_K or 5)")

    p = command("eval", _eval, "Measure retrieval and answers on a QA set, against two baselines.")
    p.add_argument("qa", type=Path, metavar="QA.jsonl")
    p.add_argument("--no-baselines", action="store_true", help="skip the llama-index and BM25 baselines")
    p.add_argument("--json", action="store_true")
    p.add_argument("-k", type=int, metavar="N")

    p = command("serve", _serve, "Serve the chat UI, the /embed view and the HTTP API.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--root-path", default="", help="sub-path when behind a reverse proxy, e.g. /tools/assistant")
    p.add_argument("--admin-token-env", default=None, metavar="NAME",
                   help="environment variable holding the admin token; enables upload and removal")
    return parser


def _assistant(settings: Settings):
    from assistant.service import Assistant

    return Assistant(settings)


def _ingest(args, settings: Settings) -> int:
    report = _assistant(settings).ingest([str(p) for p in args.paths], rebuild=args.rebuild, progress=sys.stderr.isatty())
    for error in report.errors:
        print(f"error: {error}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        rate = report.chunks / report.seconds if report.seconds else 0.0
        print(
            f"added {report.added}, updated {report.updated}, unchanged {report.unchanged}, failed {report.failed}; "
            f"chunks {report.chunks} embedded ({report.total_chunks} in index) in {report.seconds:.1f} s "
            f"({rate:.1f} chunks/s) -> {settings.index}"
        )
    return 1 if report.failed else 0


def _articles(args, settings: Settings) -> int:
    rows = _assistant(settings).articles()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    for row in rows:
        print(f"{row['id']}\t{row['title']}\t{row['url'] or '-'}\t{row['chunks']} chunks")
    print(f"{len(rows)} articles", file=sys.stderr)
    return 0


def _remove(args, settings: Settings) -> int:
    report = _assistant(settings).remove(args.ids)
    print(f"removed {report.removed} articles; {report.total_chunks} chunks left in {settings.index} ({report.seconds:.1f} s)")
    return 0


def _info(args, settings: Settings) -> int:
    print(json.dumps(_assistant(settings).info(), indent=2))
    return 0


def _ask(args, settings: Settings) -> int:
    from assistant.render import answer_text

    if bool(args.question) == bool(args.batch):
        raise AssistantError("give either a QUESTION or --batch QUESTIONS.jsonl")
    assistant = _assistant(settings)
    if args.batch:
        for line_no, item in _jsonl(args.batch):
            question = item.get("question")
            if not isinstance(question, str) or not question.strip():
                print(f"error: {args.batch}:{line_no}: missing 'question'", file=sys.stderr)
                continue
            answer = assistant.ask(question, top_k=settings.top_k)
            print(json.dumps(answer.to_dict(id=item.get("id")), ensure_ascii=False), flush=True)
        return 0
    answer = assistant.ask(args.question, top_k=settings.top_k)
    print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2) if args.json else answer_text(answer))
    return 0


def _eval(args, settings: Settings) -> int:
    from assistant.evaluation import evaluate, format_table

    rows = [item for _, item in _jsonl(args.qa)]
    results = evaluate(_assistant(settings), rows, top_k=settings.top_k, baselines=not args.no_baselines)
    print(json.dumps(results, indent=2) if args.json else format_table(results))
    return 0


def _serve(args, settings: Settings) -> int:
    from assistant.api import serve

    serve(settings, host=args.host, port=args.port, root_path=args.root_path, admin_token_env=args.admin_token_env)
    return 0


def _jsonl(path: Path):
    """(line number, object) for each non-blank line; a bad line is an error naming it."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise AssistantError(f"{path}: cannot read: {exc.strerror}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AssistantError(f"{path}:{number}: malformed JSON: {exc.msg}") from None
        if not isinstance(item, dict):
            raise AssistantError(f"{path}:{number}: expected a JSON object")
        yield number, item
