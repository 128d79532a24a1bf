"""The command line as people use it: a real process, real model, small articles."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def run(*args, index: Path, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "ASSISTANT_INDEX": str(index), "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "assistant", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, input=stdin, timeout=300)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("articles")
    (folder / "golts.md").write_text("---\ntitle: Russian volunteers\nurl: https://example.org/golts\n---\n"
                                     "“Why fight for Assad?” says Alexander Golts, a Moscow-based military expert.\n"
                                     "One recruiter gets 30-50 applications per day.\n")
    (folder / "tea.txt").write_text("Tea notes\nGreen tea is brewed at 80 degrees. Black tea takes boiling water.\n")
    (folder / "broken.jsonl").write_text('{"id": "ok", "title": "Fine", "text": "Rivers flow into the sea."}\n{not json\n')
    (folder / "empty.txt").write_text("")
    return folder


@pytest.fixture(scope="module")
def index(corpus, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    path = tmp_path_factory.mktemp("cli") / "index"
    return path, run("ingest", str(corpus), index=path)


def test_ingest_reports_counts_and_names_each_bad_file(index, corpus):
    _, result = index
    assert result.returncode == 1  # something failed
    assert "added 3, updated 0, unchanged 0, failed 2; chunks" in result.stdout
    assert f"error: {corpus / 'broken.jsonl'}:2: malformed JSON" in result.stderr
    assert f"error: {corpus / 'empty.txt'}: empty file" in result.stderr
    assert "Traceback" not in result.stderr


def test_articles_lists_ids_titles_urls_and_chunks(index):
    path, _ = index
    rows = json.loads(run("articles", "--json", index=path).stdout)
    assert {r["id"]: (r["title"], r["url"]) for r in rows} == {
        "golts": ("Russian volunteers", "https://example.org/golts"),
        "tea": ("Tea notes", None),
        "ok": ("Fine", None),
    }
    assert all(r["chunks"] >= 1 for r in rows)


def test_ask_json_has_the_exact_answer_shape(index):
    path, _ = index
    answer = json.loads(run("ask", "who is Alexander Golts?", "--json", "-k", "3", index=path).stdout)

    # A who-is question about a name the entity index knows gets its profile (answer/profile.py).
    assert answer["answer"] == ("Alexander Golts is a Moscow-based military expert [1].\n"
                                "Mentioned in 1 article: Russian volunteers.")
    assert set(answer) >= {"id", "question", "answer", "abstained", "citations", "passages", "timing_ms", "profile"}
    [c] = answer["citations"]
    assert set(c) == {"n", "article_id", "title", "url", "chunk_id", "quote", "start", "end"}
    assert (c["n"], c["article_id"], c["url"]) == (1, "golts", "https://example.org/golts")
    assert len(answer["passages"]) <= 3
    assert set(answer["timing_ms"]) == {"retrieve", "answer", "total"}


def test_who_prints_the_profile_a_line_each_and_its_articles(index):
    path, _ = index
    out = run("who", "Alexander Golts", index=path).stdout
    assert out.startswith("Alexander Golts is a Moscow-based military expert [1].\n"
                          "Mentioned in 1 article: Russian volunteers.\n\nSources:\n  [1] Russian volunteers (golts,")
    assert "Articles that mention Alexander Golts:\n  golts  -  Russian volunteers" in out
    assert json.loads(run("who", "Golts", "--json", index=path).stdout)["profile"]["entity"]["id"] == "alexander-golts"
    missing = run("who", "Nobody Atall", index=path)
    assert missing.returncode == 1
    assert missing.stderr.startswith("Error: no article describes a person or organisation named 'Nobody Atall'")


def test_ask_prints_answer_and_numbered_sources(index):
    path, _ = index
    out = run("ask", "How many applications per day does the recruiter get?", index=path).stdout
    assert "30-50 applications per day" in out and "[1]" in out
    assert "Sources:\n  [1] Russian volunteers (golts, characters" in out


def test_ask_says_what_it_searched_for_when_it_respelled_a_word(index):
    path, _ = index
    out = run("ask", "How many aplications per day does the recruiter get?", index=path).stdout
    assert "30-50 applications per day" in out
    assert out.rstrip().endswith("Note: Searched for “How many applications per day does the recruiter get?”.")


def test_batch_echoes_ids_one_json_line_each(index, tmp_path):
    path, _ = index
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "q1", "question": "who is Alexander Golts?"}\n{"id": 7, "question": "What temperature for green tea?"}\n')
    lines = run("ask", "--batch", str(questions), index=path).stdout.splitlines()
    answers = [json.loads(line) for line in lines]
    assert [a["id"] for a in answers] == ["q1", 7]
    assert "80 degrees" in answers[1]["answer"]


def test_batch_names_each_bad_line_and_answers_the_rest(index, tmp_path):
    path, _ = index
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "q1", "question": "who is Alexander Golts?"}\n'
                         + json.dumps({"id": "long", "question": "w" * 2500}) + "\n"
                         '{"id": "none"}\n{not json\n'
                         '{"id": "q5", "question": "What temperature for green tea?"}\n')
    result = run("ask", "--batch", str(questions), index=path)
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["q1", "q5"]
    assert result.stderr.splitlines() == [
        f"error: {questions}:2: the question is 2500 characters long; keep it under 2000",
        f"error: {questions}:3: missing 'question'",
        f"error: {questions}:4: malformed JSON: Expecting property name enclosed in double quotes",
    ]
    assert result.returncode == 1


def test_remove_really_removes_and_info_shows_the_manifest(index, tmp_path):
    path, _ = index
    assert run("remove", "tea", index=path).returncode == 0
    assert "tea" not in {r["id"] for r in json.loads(run("articles", "--json", index=path).stdout)}
    info = json.loads(run("info", index=path).stdout)
    assert info["model"] == "all-MiniLM-L6-v2@onnx-int8" and info["dimension"] == 384 and info["articles"] == 2
    missing = run("remove", "nope", index=path)
    assert missing.returncode == 1 and missing.stderr.startswith("Error: no article with id 'nope'")


def test_errors_are_one_line_without_traceback(tmp_path):
    result = run("ask", "anything?", index=tmp_path / "nothing-here")
    assert result.returncode == 1
    assert result.stderr.strip() == (f"Error: no index at {tmp_path / 'nothing-here'}: build one with "
                                     f"`assistant ingest PATH... --index {tmp_path / 'nothing-here'}`")
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "one?"}\n{"question": "two?"}\n')
    batch = run("ask", "--batch", str(questions), index=tmp_path / "nothing-here")
    assert batch.returncode == 1 and batch.stderr.startswith("Error: no index at") and batch.stderr.count("\n") == 1


def test_bad_settings_name_the_setting(tmp_path):
    for args, env, message in [
        (["-k", "100"], {}, "top_k: Input should be less than or equal to 50"),
        (["-k", "0"], {}, "top_k: Input should be greater than or equal to 1"),
        ([], {"ASSISTANT_TOP_K": "abc"}, "top_k: Input should be a valid integer, unable to parse string as an integer"),
    ]:
        result = run("ask", "anything?", *args, index=tmp_path, env=env)
        assert (result.returncode, result.stderr) == (1, f"Error: {message}\n")


def test_a_file_system_error_names_the_path(tmp_path):
    article = tmp_path / "tea.txt"
    article.write_text("Green tea is brewed at 80 degrees.\n")
    result = run("ingest", str(article), "--index", str(article / "index"), index=tmp_path)
    assert (result.returncode, result.stderr) == (1, f"Error: {article / 'index'}: Not a directory\n")


def test_eval_names_the_line_and_the_field_a_row_lacks(tmp_path):
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"question": "When?", "answers": ["1974"], "doc_ids": ["oil"], "answerable": true}\n'
                  '{"question": "Where?", "answers": [], "doc_ids": ["oil"]}\n')
    result = run("eval", str(qa), index=tmp_path)
    assert (result.returncode, result.stderr) == (1, f"Error: {qa}:2: missing 'answerable'\n")


def test_help_is_instant_because_heavy_modules_load_lazily():
    code = "import sys, assistant.serve.cli as c; c._parser(); print(sorted(m for m in ('torch','gradio','llama_index','sentence_transformers') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT).stdout.strip() == "[]"


def test_feedback_lists_readers_votes_newest_first(tmp_path):
    from assistant.store.feedback import FeedbackStore

    store = FeedbackStore(tmp_path / "index")
    for vote, question, answer, citations, comment in (
            ("up", "who is Golts?", "Golts is an expert [1].", [{"n": 1, "article_id": "golts"}], ""),
            ("down", "how far?", "The indexed articles don't answer this question.", [], "it says 18 miles")):
        store.add(store.sign(question, answer, citations), vote, question, answer, citations, comment)

    listed = run("feedback", index=tmp_path / "index")
    as_json = json.loads(run("feedback", "--json", index=tmp_path / "index").stdout)

    assert listed.stdout.splitlines()[0].endswith("\tdown\thow far? — it says 18 miles")
    assert listed.stderr.strip() == f"2 votes in {tmp_path / 'index'}"
    assert [(e["vote"], e["citations"]) for e in as_json] == [("down", []), ("up", [{"n": 1, "article_id": "golts"}])]
    store.add(store.sign("q?", "a.", []), "up", "q?", "a.", [])
    store.add(store.sign("q?", "a.", []), "up", "q?", "a.", [])  # another answer, asked again
    assert run("feedback", index=tmp_path / "index").stderr.startswith("4 votes")


def test_one_vote_is_one_vote_not_1_votes(tmp_path):
    from assistant.store.feedback import FeedbackStore

    store = FeedbackStore(tmp_path / "index")
    store.add(store.sign("q?", "a.", []), "up", "q?", "a.", [])
    assert run("feedback", index=tmp_path / "index").stderr.strip() == f"1 vote in {tmp_path / 'index'}"


# A window title, an OSC 8 link, a line erase, a right-to-left override and a one-byte CSI (C1).
ESCAPES = "\x1b]0;owned\x07Quarterly \x1b]8;;http://evil.example/\x1b\\report\x1b]8;;\x1b\\\x1b[2K\u202eexe.pdf\x9b31m"
RAW = ("\x1b", "\x07", "\x9b", "\u202e")


def test_stored_titles_and_comments_are_printed_with_their_escape_sequences_written_out(tmp_path):
    from conftest import make_assistant
    from fakes import HashEmbedder

    from assistant.store.feedback import FeedbackStore

    index = tmp_path / "index"
    (tmp_path / "report.md").write_text(f"# {ESCAPES}\n\nThe quarterly report.\n")
    assert make_assistant(index, HashEmbedder()).ingest([str(tmp_path / "report.md")]).added == 1
    store = FeedbackStore(index)
    question, answer = f"what {ESCAPES}?", f"An answer {ESCAPES}."
    store.add(store.sign(question, answer, []), "down", question, answer, [], f"a comment {ESCAPES}")

    listed = run("articles", index=index).stdout + run("feedback", index=index).stdout
    as_json = run("articles", "--json", index=index).stdout + run("feedback", "--json", index=index).stdout

    assert not [c for c in RAW if c in listed + as_json]
    assert "report\t\\u001b]0;owned\\u0007Quarterly \\u001b]8;;http://evil.example/" in listed
    assert "\\u202eexe.pdf\\u009b31m" in listed  # shown for what it is
    assert json.loads(run("articles", "--json", index=index).stdout)[0]["title"] == ESCAPES  # the same text, escaped


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ENTRY_POINTS = {"assistant serve": ["-m", "assistant", "serve", "--port"], "uvicorn app:app": ["-m", "uvicorn", "app:app", "--port"]}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("token, said", [("s3cret", "admin: on"), ("", "admin: off (set ASSISTANT_ADMIN_TOKEN")])
def test_every_entry_point_reads_the_admin_token_setting_and_says_once_at_start_up_whether_admin_is_on(
        tmp_path, token, said, entry):
    env = {**os.environ, "ASSISTANT_INDEX": str(tmp_path / "none"), "HF_HUB_OFFLINE": "1", "ASSISTANT_ADMIN_TOKEN": token}
    server = subprocess.Popen([sys.executable, *ENTRY_POINTS[entry], str(free_port())], cwd=ROOT, env=env,
                              stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        for line in server.stderr:
            lines.append(line)
            if "Application startup complete" in line:
                break
    finally:
        server.terminate()
        server.wait(30)
    said_admin = [line for line in lines if line.startswith("admin:")]
    assert len(said_admin) == 1 and said_admin[0].startswith(said), lines


def test_a_cli_in_a_pipe_whose_reader_stops_ends_quietly(sample_index):
    """`assistant ask ... | head -1` (here `| true`, which leaves before the answer is written): no "Broken pipe" error, exit status 0."""
    command = (f"{sys.executable} -m assistant ask 'who is Alexander Golts?' --index {sample_index} | true;"
               " echo \"status=${PIPESTATUS[0]}\"")
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.strip() == "status=0" and "Broken pipe" not in done.stderr and "Error" not in done.stderr


def test_collections_and_read_tokens_from_the_command_line(corpus, tmp_path):
    index = tmp_path / "index"
    legal = tmp_path / "legal"
    legal.mkdir()
    (legal / "merger.txt").write_text("Merger\nThe Zephyrine merger closes in June.\n")
    run("ingest", str(corpus), index=index)
    ingested = run("ingest", str(legal), "--collection", "legal", index=index)
    assert ingested.returncode == 0 and "note: collection legal is public" in ingested.stderr
    assert run("collections", "restrict", "legal", index=index).stdout.strip() == "legal is now restricted"
    assert "is public" not in run("ingest", str(legal), "--collection", "legal", index=index).stderr
    created = json.loads(run("token", "create", "--collection", "legal", "--expires", "30d", "--json",
                             index=index).stdout)
    assert created["token"].startswith("ast_") and created["collections"] == ["legal"] and created["expires"]
    rows = {r["name"]: r for r in json.loads(run("collections", "--json", index=index).stdout)}
    assert (rows["legal"]["articles"], rows["legal"]["restricted"], rows["legal"]["tokens"]) == (1, True, 1)
    assert (rows["default"]["articles"], rows["default"]["restricted"]) == (3, False)
    listed = run("token", "list", index=index).stdout
    assert f"{created['id']}\tlegal\t" in listed and created["token"] not in listed  # never the secret
    assert run("token", "revoke", str(created["id"]), index=index).stdout.startswith(f"token {created['id']} revoked")
    assert "revoked" in run("token", "list", index=index).stdout
    moved = run("collections", "move", "default", "merger", index=index)
    assert moved.stdout.strip() == "moved 1 article into default (nothing re-embedded)"
    assert "legal" not in {r["name"] for r in json.loads(run("collections", "--json", index=index).stdout)
                           if r["articles"]}
    bad = run("collections", "restrict", "Not Valid!", index=index)
    assert bad.returncode == 1 and bad.stderr.startswith("Error: collection name 'Not Valid!' is not valid")
