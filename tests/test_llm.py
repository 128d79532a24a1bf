"""The LLM seam over real HTTP: OpenAI-compatible and Ollama backends against a scripted local server."""

import re
import time

import pytest
from llm_server import Reply, ScriptedServer, closed_port

from assistant.config import Settings
from assistant.errors import LLMError
from assistant.llm.client import LLM, Message, llm_from_settings

BACKENDS = ["openai", "ollama"]
MESSAGES = [Message("system", "Answer briefly."), Message("user", "Who is Golts?")]


@pytest.fixture
def server():
    with ScriptedServer() as server:
        yield server


KEY = "sk-test-key-9f2c"


def connect(backend: str, url: str, timeout: float = 2.0) -> LLM:
    return llm_from_settings(Settings(llm=backend, llm_base_url=url, llm_model="scripted", llm_timeout=timeout,
                                      llm_api_key=KEY))


def url_of(server: ScriptedServer, backend: str) -> str:
    return server.openai_url if backend == "openai" else server.ollama_url


def test_the_offline_answerer_is_the_default():
    assert llm_from_settings(Settings(llm="none")) is None


def test_a_backend_without_a_model_name_says_which_setting_to_set():
    with pytest.raises(LLMError, match="set ASSISTANT_LLM_MODEL"):
        llm_from_settings(Settings(llm="ollama", llm_model=None))


def test_a_model_with_only_complete_streams_its_whole_reply():
    class Echo(LLM):
        def complete(self, messages):
            return messages[-1].content

    assert list(Echo().stream(MESSAGES)) == ["Who is Golts?"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_complete_sends_the_messages_and_returns_the_reply(server, backend):
    server.script(Reply("Golts is a military expert [1]."))

    assert connect(backend, url_of(server, backend)).complete(MESSAGES) == "Golts is a military expert [1]."

    [request] = server.requests
    assert request["path"] == ("/v1/chat/completions" if backend == "openai" else "/api/chat")
    assert request["model"] == "scripted" and request["stream"] is False
    assert [(m["role"], m["content"]) for m in request["messages"]] == [
        ("system", "Answer briefly."), ("user", "Who is Golts?")]


@pytest.mark.parametrize("backend", BACKENDS)
def test_stream_yields_pieces_as_the_server_sends_them(server, backend):
    server.script(Reply("Golts is a military expert [1].", piece_delay=0.15))

    began = time.monotonic()
    pieces = connect(backend, url_of(server, backend)).stream(MESSAGES)
    first = next(pieces)
    first_after = time.monotonic() - began
    rest = list(pieces)

    assert first + "".join(rest) == "Golts is a military expert [1]."
    assert first_after < (time.monotonic() - began) - 0.5  # six pieces 0.15 s apart: the first came early
    assert server.requests[0]["stream"] is True


FAILURES = {
    "HTTP 500": (Reply(status=500, text="CUDA out of memory"), r"answered HTTP 500 \(CUDA out of memory\); see the server's log"),
    "unknown model": (Reply(status=404, text="model 'scripted' not found"), r"HTTP 404 .* check ASSISTANT_LLM_MODEL"),
    "garbage": (Reply(raw=b"<html>502 Bad Gateway</html>"), r"could not be read|empty reply"),
    "malformed JSON": (Reply(raw=b'{"choices": 3, "message": 7}'), r"could not be read|empty reply"),
    "empty reply": (Reply(""), r"sent an empty reply"),
    "slow reply": (Reply("Too late.", delay=2.0), r"did not answer within 0.5 s; raise ASSISTANT_LLM_TIMEOUT"),
}


@pytest.mark.parametrize("mode", ["complete", "stream"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("failure", FAILURES)
def test_every_backend_failure_is_an_llm_error_saying_what_to_do(server, failure, backend, mode):
    reply, message = FAILURES[failure]
    server.script(reply)
    llm = connect(backend, url_of(server, backend), timeout=0.5 if reply.delay else 5.0)  # only the slow one times out

    began = time.monotonic()
    with pytest.raises(LLMError, match=message):
        llm.complete(MESSAGES) if mode == "complete" else list(llm.stream(MESSAGES))
    assert time.monotonic() - began < 1.5  # no retries, no hang


SUMMARIES = {
    "HTTP 500": "answered HTTP 500", "unknown model": "answered HTTP 404",
    "garbage": r"sent a reply that could not be read|sent an empty reply",
    "malformed JSON": r"sent a reply that could not be read|sent an empty reply",
    "empty reply": "sent an empty reply", "slow reply": r"did not answer within 0.5 s \(timeout\)",
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("failure", FAILURES)
def test_the_summary_a_reader_sees_names_no_server_key_or_upstream_text(server, failure, backend):
    reply, _ = FAILURES[failure]
    server.script(reply)
    llm = connect(backend, url_of(server, backend), timeout=0.5 if reply.delay else 5.0)

    with pytest.raises(LLMError) as caught:
        list(llm.stream(MESSAGES))

    summary = caught.value.summary
    assert re.fullmatch(SUMMARIES[failure], summary)
    for secret in ("127.0.0.1", str(server.port), KEY, "scripted", "CUDA", "502 Bad Gateway"):
        assert secret not in summary
    assert str(server.port) in str(caught.value)  # the whole story stays in the message, for the log


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_server_that_is_down_is_an_llm_error(backend):
    url = f"http://127.0.0.1:{closed_port()}" + ("/v1" if backend == "openai" else "")

    with pytest.raises(LLMError, match=r"cannot reach .* start the server or correct ASSISTANT_LLM_BASE_URL") as caught:
        connect(backend, url).complete(MESSAGES)
    assert caught.value.summary == "could not be reached"


def test_a_stream_that_trickles_for_ever_is_cut_off_at_twice_the_timeout(server):
    server.script(Reply("one two three four five six seven eight nine ten", piece_delay=0.3))
    llm = connect("openai", server.openai_url, timeout=0.5)  # each piece within 0.5 s, the whole not

    began = time.monotonic()
    with pytest.raises(LLMError, match="still answering after 1 s") as caught:
        list(llm.stream(MESSAGES))
    assert caught.value.summary == "was still answering after 1 s (timeout)"
    assert time.monotonic() - began < 2.0
