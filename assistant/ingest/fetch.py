"""Fetching a URL from public addresses only: the one place that opens connections for ingest.

A URL is fetched only from a public address: the host is resolved, every address checked
(loopback, private, link-local, multicast, reserved and unspecified ones refused, IPv4 inside IPv6
included), and the connection made to the address that was checked, so a second DNS answer cannot
swap in another. Each redirect hop is checked the same way. The body is read up to the upload
limit, and the whole fetch ends at a deadline, or as soon as whoever asked has gone. Intranet
hosts are allowed by name (`Fetch.allow_hosts`).

Each failure says which it is: not a public address ("127.0.0.1 is loopback"), a name that does
not resolve, unreachable (connection refused), or no answer within the timeout. That maps no
internal ports: an address that is not public is refused before any connection, so only public
hosts and allowed ones are ever reached to be refused or to time out; and only the admin adds URLs.

A sync sends conditional requests (`headers`: If-None-Match, If-Modified-Since) and reads a 304
as a `Page` with status 304 and no body; it passes one client (`open_client`) for all its
requests, since a client costs about 10 ms to make (its TLS context) and a sync may ask 1,000 times.

httpx is imported where it is used: with trafilatura and pypdf it took about half a second to
import, which `assistant --help` should not pay.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from assistant import __version__
from assistant.errors import InputError, TooLarge, Unreachable
from assistant.limits import MB

if TYPE_CHECKING:
    import httpx

USER_AGENT = f"assistant/{__version__} (article question-answering assistant)"


MAX_REDIRECTS = 5


@dataclass(frozen=True)
class Fetch:
    """How URLs are fetched: how long to wait, how many bytes to read, which hosts may be internal,
    and when to give up."""

    timeout: float = 20.0  # for the connection and for each read
    max_bytes: int = 20 * MB  # the upload limit: a page is no bigger than a file
    allow_hosts: frozenset[str] = frozenset()  # names (or addresses) fetched even when not public
    # For the whole fetch, redirects included: a page sending a byte every 5 s never trips `timeout`.
    deadline: float = 60.0
    cancel: threading.Event | None = None  # set when whoever asked has gone (an API client hung up)
    limit_name: str = "the upload limit (ASSISTANT_MAX_UPLOAD_MB)"  # what `max_bytes` is, for messages


@dataclass(frozen=True)
class Page:
    url: str  # after redirects
    content_type: str
    charset: str | None
    body: bytes
    status: int = 200  # or 304: not modified since the validators sent (`body` empty)
    etag: str | None = None
    last_modified: str | None = None


def open_client(fetch: Fetch) -> httpx.Client:
    """A client for `fetch_page`: never follows redirects itself, ignores proxies from the environment."""
    import httpx

    # trust_env=False: a proxy from the environment would connect wherever the URL says, unchecked.
    return httpx.Client(timeout=fetch.timeout, follow_redirects=False, trust_env=False,
                        headers={"User-Agent": USER_AGENT})


def fetch_page(url: str, fetch: Fetch, *, headers: dict[str, str] | None = None,
               client: httpx.Client | None = None) -> Page | InputError:
    """GET from public addresses only, each redirect hop checked, at most `fetch.max_bytes` read,
    given up at `fetch.deadline` or when `fetch.cancel` is set.

    `headers` are sent with every hop (conditional ones: a 304 is a Page with status 304);
    `client` (from `open_client`) is used and left open, else one is made for this fetch.

    A deadline and a cancel are reported in words of their own: they come only after the address
    was checked, so they say nothing about addresses inside the network.
    """
    import httpx

    no_answer = Unreachable(url, f"could not fetch: no answer within {fetch.timeout:g} s (ASSISTANT_FETCH_TIMEOUT)")
    too_big = TooLarge(url, f"could not fetch: the page is larger than {fetch.max_bytes / MB:g} MB, "
                            f"{fetch.limit_name}")
    too_slow = InputError(url, f"could not fetch: the page took longer than {fetch.deadline:g} s to arrive "
                               "(ASSISTANT_FETCH_DEADLINE)")
    cancelled = InputError(url, "could not fetch: cancelled, the client that asked for it has gone")
    ends = time.monotonic() + fetch.deadline

    def given_up() -> InputError | None:
        if fetch.cancel is not None and fetch.cancel.is_set():
            return cancelled
        return too_slow if time.monotonic() >= ends else None

    first = url
    owned = client is None
    client = client or open_client(fetch)
    try:
        with client if owned else contextlib.nullcontext(client):
            for _ in range(MAX_REDIRECTS + 1):
                if stop := given_up():
                    return stop
                target = httpx.URL(url)
                address = _checked_address(target, fetch.allow_hosts)
                if isinstance(address, _Refused):
                    hop = "" if url == first else f"it redirects to {url}, "
                    return Unreachable(first, f"could not fetch: {hop}{address.reason}")
                # To the checked address, under the host's name (Host header, TLS name check). The
                # deadline and `cancel` are checked between reads, and no read waits longer than the
                # deadline had left when the request went out: a fetch ends at most one wait late.
                request = client.build_request(
                    "GET", target.copy_with(host=address),
                    headers={**(headers or {}), "Host": target.netloc.decode("ascii")},
                    extensions={"sni_hostname": target.host},
                    timeout=min(fetch.timeout, max(ends - time.monotonic(), 0.01)),
                )
                response = client.send(request, stream=True)
                try:
                    if response.status_code == 304:  # before is_redirect, which counts 304 as one
                        return Page(url, "", None, b"", 304, response.headers.get("etag"),
                                    response.headers.get("last-modified"))
                    if response.is_redirect:
                        url = urljoin(url, response.headers["location"])
                        continue
                    response.raise_for_status()
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > fetch.max_bytes:
                        return too_big
                    body = bytearray()
                    for piece in response.iter_bytes():
                        body += piece
                        if len(body) > fetch.max_bytes:
                            return too_big
                        if stop := given_up():
                            return stop
                    return Page(url, response.headers.get("content-type", ""), response.charset_encoding,
                                bytes(body), response.status_code, response.headers.get("etag"),
                                response.headers.get("last-modified"))
                finally:
                    response.close()
            return InputError(url, f"could not fetch: more than {MAX_REDIRECTS} redirects")
    except httpx.HTTPStatusError as e:
        return InputError(url, f"could not fetch: HTTP {e.response.status_code} {e.response.reason_phrase}")
    except httpx.TimeoutException:
        return given_up() or no_answer
    except (httpx.ConnectError, OSError) as e:
        return Unreachable(first, f"could not fetch: unreachable ({_reason(e)})")
    except httpx.HTTPError as e:  # the server answered, but not in HTTP: a protocol or TLS error mid-answer
        return Unreachable(first, f"could not fetch: the server's answer could not be read ({_reason(e)})")
    except (httpx.InvalidURL, UnicodeError, ValueError) as e:
        return InputError(first, f"could not fetch: not a valid URL ({_reason(e)})")


@dataclass(frozen=True)
class _Refused:
    """Why a URL's host is not connected to."""

    reason: str


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _checked_address(url: httpx.URL, allow_hosts: frozenset[str]) -> str | _Refused:
    """The address to connect to for `url`: its first, if every address of its host is public
    (or the host is allowed by name); else why not."""
    if url.scheme not in ("http", "https") or not url.host:
        return _Refused("not an http(s) URL with a host")
    try:
        infos = socket.getaddrinfo(url.host, url.port or (443 if url.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        infos = []
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        return _Refused(f"the host name {url.host} has no address (DNS lookup failed)")
    if url.host.lower() not in allow_hosts:
        for address in addresses:
            if found := not_public(address):
                judged, kind = found
                said = f"{url.host} is {kind}" if _literal(url.host) == judged else f"{url.host} is {judged}, {kind}"
                return _Refused(f"not a public address ({said}); an intranet host can be allowed in "
                                "ASSISTANT_FETCH_ALLOW_HOSTS")
    return str(addresses[0])


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def not_public(address: Address) -> tuple[Address, str] | None:
    """None for a globally routed unicast address; else the address judged and its kind
    (127.0.0.1, "loopback"). IPv4 carried inside IPv6 (::ffff:, 6to4, Teredo, NAT64) is judged
    as that IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return not_public(embedded)
    # In the order that names an address best: 127.0.0.1 is private too, but loopback says more.
    for kind, yes in (("loopback", address.is_loopback), ("unspecified", address.is_unspecified),
                      ("link-local", address.is_link_local), ("multicast", address.is_multicast),
                      ("reserved", address.is_reserved), ("private", address.is_private),
                      ("not globally routed", not address.is_global)):
        if yes:
            return address, kind
    return None


def _literal(host: str) -> Address | None:
    """The address a host written as one names ("::1"), else None ("localhost", "127.1")."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _reason(error: Exception) -> str:
    """An exception's message in a few words: "[Errno 111] Connection refused" -> "connection refused"."""
    text = str(error).split("\n")[0].strip() or type(error).__name__
    if text.startswith("[Errno"):
        text = text.split("]", 1)[-1].strip()
    text = text[:1].lower() + text[1:]
    return text if len(text) <= 120 else text[:119] + "…"
