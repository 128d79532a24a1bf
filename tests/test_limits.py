"""Each client gets a burst of questions, then a steady rate; other clients are not affected."""

from assistant.limits import MAX_CLIENTS, RateLimiter


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_client_gets_its_burst_then_waits_for_the_next_token():
    clock = Clock()
    limiter = RateLimiter(per_minute=30, burst=3, clock=clock)  # a token every 2 s

    assert [limiter.wait("a") for _ in range(3)] == [0, 0, 0]
    assert limiter.wait("a") == 2.0
    assert limiter.wait("b") == 0  # another client has its own bucket
    clock.now = 2.0
    assert limiter.wait("a") == 0 and limiter.wait("a") > 0


def test_refused_requests_do_not_spend_tokens_and_zero_turns_it_off():
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=1, clock=clock)
    limiter.wait("a")
    for _ in range(100):
        limiter.wait("a")
    clock.now = 1.0
    assert limiter.wait("a") == 0
    assert all(RateLimiter(per_minute=0, burst=1).wait("a") == 0 for _ in range(100))


def test_the_buckets_kept_are_bounded():
    limiter = RateLimiter(per_minute=60, burst=1)
    for i in range(MAX_CLIENTS + 50):
        limiter.wait(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter._buckets) == MAX_CLIENTS


def test_the_chat_s_comment_box_holds_what_the_api_takes():
    """static/chat.js cannot import limits.py: its comment box repeats MAX_COMMENT_CHARS."""
    from importlib.resources import files

    from assistant.limits import MAX_COMMENT_CHARS, MAX_QUESTION_CHARS
    from assistant.serve.schemas import AskIn, FeedbackIn

    chat_js = (files("assistant") / "static" / "chat.js").read_text(encoding="utf-8")
    assert f"maxLength: {MAX_COMMENT_CHARS} /* limits.MAX_COMMENT_CHARS */" in chat_js
    assert FeedbackIn.model_fields["comment"].metadata[0].max_length == MAX_COMMENT_CHARS
    assert AskIn.model_fields["question"].metadata[-1].max_length == MAX_QUESTION_CHARS
