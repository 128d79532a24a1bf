"""A token bucket per client, so one client cannot take every core of the server.

A question costs about 0.1 s of CPU (the query embedding above all; more with an LLM), and 2 cores
answer about 20 a second: one script asking in a loop slows every other reader. Each client (its
address; behind a proxy on this machine uvicorn takes it from X-Forwarded-For) gets `burst`
questions at once and `per_minute` after that. Shared by the API and the chat pages.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

# Buckets kept at most; the longest idle go first. 10,000 buckets are about 2 MB.
MAX_CLIENTS = 10_000
# Wrong admin tokens a client may send a minute (and at once) before every admin request from it is 429.
ADMIN_GUESSES = 10


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
