"""A connection URL with a login in it (``scheme://user:password@host/path?query``), as the database rotators
store their values: split into the login, which a rotation replaces, and everything it keeps.

The URL is written by whoever may write the secret, so each rotator checks it for its own driver (which query
parameters may stay, whether the user may change) before any connection; this only splits and joins, and never
shows the value: ``where()`` names the host and the user, never the password.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from strongroom.secret import Secret

__all__ = ["LoginUrl", "text_of"]


@dataclass(frozen=True, slots=True)
class LoginUrl:
    scheme: str
    user: str
    password: str
    host: str  # what follows the '@': host[:port], or several hosts
    path: str
    query: str
    fragment: str

    @classmethod
    def split(cls, text: str) -> LoginUrl | None:
        """The parts of ``text``, or ``None`` when it has no ``user...@`` login."""
        parts = urlsplit(text.strip())
        userinfo, at, host = parts.netloc.rpartition("@")
        if not at:
            return None
        user, _, password = userinfo.partition(":")
        return cls(parts.scheme, unquote(user), unquote(password), host, parts.path, parts.query, parts.fragment)

    def with_login(self, user: str, password: str) -> str:
        """The same URL with another login."""
        netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{self.host}"
        return urlunsplit((self.scheme, netloc, self.path, self.query, self.fragment))

    @property
    def url(self) -> str:
        return self.with_login(self.user, self.password)

    @property
    def hostname(self) -> str:
        """The (first) host's name, lower-cased, without the port."""
        first = self.host.split(",", maxsplit=1)[0]
        return (urlsplit(f"//{first}").hostname or "localhost").lower()

    @property
    def query_names(self) -> set[str]:
        return {pair.split("=", 1)[0] for pair in self.query.split("&") if pair}

    def where(self) -> str:
        return f"{self.host or 'localhost'} as {self.user!r}"


def text_of(secret: Secret[Any]) -> str:
    """A secret's value as text, the ``Secret`` closed after."""
    with secret as held:
        value = held.reveal()
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
