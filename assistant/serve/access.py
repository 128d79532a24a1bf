"""Who is asking: a request turned into a `Reader` (the restricted collections it may read, or all).

The one home of that decision, used by the API's routes, the chats (`/`, `/embed/`) and the article
view. A request may read a restricted collection when it carries
- the admin token (`Authorization: Bearer`, or the admin's page cookie): everything;
- a read token for it (`Authorization: Bearer ast_...`, see store/access.py); an unknown, revoked
  or expired one is refused (401), not quietly read as anonymous, so a wiki sees its token fail;
- identity headers (user, groups; their names are settings) set by a trusted proxy: believed only
  when the connection itself comes from an ASSISTANT_TRUSTED_PROXIES address (`TrustedProxies`
  notes that in the ASGI scope), the groups mapped by ASSISTANT_GROUP_COLLECTIONS, and the user
  too, by a `user:NAME` key in the same table (one person let into one collection, without a group).
Anything else reads the public collections only. A wrong admin token is read as no token (as the
read routes always did) and counts against the client's guesses, as on the admin routes, so the
read routes are no way around that limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from assistant.config import Settings
from assistant.errors import NotAuthorized
from assistant.limits import MAX_IDENTITY_CHARS, MAX_IDENTITY_GROUPS
from assistant.serve.middleware import PROXY, AdminToken, client_of
from assistant.store.access import TOKEN_PREFIX, AccessStore

ANONYMOUS_NOTE = "send a valid read token, or ask the admin for one (`assistant token create --collection NAME`)"


@dataclass(frozen=True)
class Reader:
    """Who asks: the restricted collections granted to them, or everything when `is_admin`."""

    collections: frozenset[str] = frozenset()
    is_admin: bool = False
    user: str | None = None  # as a trusted proxy named them (its grants come from the `user:NAME` key)

    @property
    def granted(self) -> frozenset[str] | None:
        """The restricted collections this reader may read; None: all of them (the admin)."""
        return None if self.is_admin else self.collections


ANONYMOUS = Reader()


class Access:
    """Turns requests into Readers: the admin token, the read tokens, the trusted proxies' identities."""

    def __init__(self, settings: Settings, tokens: AccessStore, admin: AdminToken):
        self.settings = settings
        self.tokens = tokens
        self.admin = admin
        self.groups = {g: frozenset(names) for g, names in settings.group_collections.items()}

    def reader(self, scope) -> Reader:
        """The Reader of an ASGI request (a route's `request.scope`, or Gradio's `request.request.scope`).

        Without an Authorization header, the admin's page cookie (set once the admin unlocked the
        page, see middleware.upload_cookie) counts as the admin token: the browser sends no header,
        and the admin must see every article there to remove it.
        """
        from starlette.datastructures import Headers

        headers, client = Headers(scope=scope), client_of(scope)
        if "authorization" not in headers and self.admin.proven(scope, client):
            return Reader(is_admin=True)
        return self.resolve(headers, client, bool(scope.get(PROXY)))

    def resolve(self, headers: Mapping[str, str], client: str, proxied: bool) -> Reader:
        """The Reader for these headers from `client`; `proxied`: it came through a trusted proxy."""
        granted: frozenset[str] = frozenset()
        bearer = headers.get("authorization", "")
        if bearer[:7].lower() == "bearer ":
            given = bearer[7:].strip()
            if given.startswith(TOKEN_PREFIX):
                found = self.tokens.grants(given)
                if found is None:
                    raise NotAuthorized(f"the read token is unknown, revoked or expired; {ANONYMOUS_NOTE}")
                granted = found
            elif self.admin.token is not None and not self.admin.lockout(client) and self.admin.check(given, client):
                return Reader(is_admin=True)
        user = None
        if proxied:
            user = _header(headers, self.settings.identity_user_header)
            groups = (_header(headers, self.settings.identity_groups_header) or "").split(",")
            names = [g.strip() for g in groups if g.strip()][:MAX_IDENTITY_GROUPS]
            for group in names + ([f"user:{user.strip()}"] if user and user.strip() else []):
                granted |= self.groups.get(group, frozenset())
        return Reader(granted, False, user)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, ignored whole when longer than MAX_IDENTITY_CHARS."""
    value = headers.get(name)
    return value if value is not None and len(value) <= MAX_IDENTITY_CHARS else None
