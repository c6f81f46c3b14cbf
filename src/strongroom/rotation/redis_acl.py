"""The ``redis`` rotator: an ACL user's password, changed with ``ACL SETUSER``.

The secret's value is a Redis URL with an ACL user (``redis://user:password@host:port/db``, or ``rediss://``;
without a user name it is the ``default`` user). A Redis ACL user may hold several passwords at once, so the
rotation needs one user only and no connection ever fails:

- ``set`` adds the new password (``ACL SETUSER user #<sha256 hex>``: the hash form, so the plaintext never
  reaches the server, its command log or ``MONITOR``); the old one keeps working;
- ``test`` connects with the new URL (``AUTH`` then ``PING``);
- ``retire`` removes the previous password (``ACL SETUSER user !<sha256 hex>``); authenticated connections
  stay authenticated, new logins with it fail;
- ``undo`` (after a failed test) removes the pending password.

Each step reads the user's password hashes first (``ACL GETUSER``), so it runs again after a crash without an
error, and never removes the current password. ACL commands run over an admin connection: option
``admin_secret`` (another secret of the same tenant holding an admin URL), else the current credential,
whose user then needs ``+acl``. Errors name the secret, the step and the error class, never the server's
text (it quotes the ACL rule). ``docs/rotation.md`` lists the options and examples.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from strongroom.errors import InvalidInput, RotationError
from strongroom.rotation.login_url import LoginUrl, text_of
from strongroom.rotation.rotator import BaseRotator, RotationContext, option

if TYPE_CHECKING:
    import redis

    from strongroom.secret import Secret

__all__ = ["RedisRotator"]

OPTIONS = ("admin_secret", "user", "connect_timeout")
SCHEMES = ("redis", "rediss")
PASSWORD_BYTES = 32

_ERRORS = {
    "AuthenticationError": "the password was refused",
    "AuthenticationWrongNumberOfArgsError": "the server has no ACL users (Redis < 6)",
    "NoPermissionError": "no permission: the admin user needs +acl",
    "TimeoutError": "unreachable (connect_timeout expired)",
    "ConnectionError": "unreachable (connection refused or closed)",
}


def _parse(ctx: RotationContext, what: str, text: str) -> LoginUrl:
    url = LoginUrl.split(text)
    if url is None or url.scheme not in SCHEMES or not url.password:
        raise RotationError(f"{ctx.describe()}: {what} is not a redis://user:password@host URL: store one")
    return url if url.user else replace(url, user="default")


def _hash(password: str) -> str:
    """What ``ACL SETUSER #...`` takes and ``ACL GETUSER`` lists: the password's SHA-256, in hex."""
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


def _why(exc: BaseException) -> str:
    for kind in type(exc).__mro__:
        if kind.__name__ in _ERRORS:
            return f"{_ERRORS[kind.__name__]} ({type(exc).__name__})"
    return type(exc).__name__


class RedisRotator(BaseRotator):
    name: ClassVar[str] = "redis"

    def check(self, options: Mapping[str, Any]) -> None:
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise InvalidInput(f"rotator 'redis': unknown option {unknown[0]!r}: use {', '.join(OPTIONS)}")
        admin = option(self.name, options, "admin_secret", str)
        if admin is not None and not option(self.name, options, "user", str):
            # Over an admin connection, the ACL user to change must be the operator's choice: the stored URL is
            # written by whoever may write the secret, who could otherwise name the admin or another app's user.
            raise InvalidInput("rotator 'redis': with option admin_secret, give option user (the ACL user it rotates)")
        timeout = option(self.name, options, "connect_timeout", int, 10)
        if not 1 <= timeout <= 600:
            raise InvalidInput("rotator 'redis': option 'connect_timeout' must be 1-600 seconds")

    # -- steps -----------------------------------------------------------------------------------------

    def create(self, ctx: RotationContext) -> str:
        current = self._current(ctx)
        name: str | None = option(self.name, ctx.options, "admin_secret", str)
        if current.query:
            # redis-py reads connection settings from the query (port, ssl_cert_reqs): a written value must not
            # redirect where a password goes, nor turn off the certificate check.
            raise RotationError(f"{ctx.describe()}: the current URL has query parameters: store it without them")
        wanted = option(self.name, ctx.options, "user", str)
        if wanted is not None and current.user != wanted:
            raise RotationError(
                f"{ctx.describe()}: the current URL's user {current.user!r} is not option user {wanted!r}: "
                "store a URL for that user, or fix the option"
            )
        if name is not None:
            # The new password is added through the admin's server and tested at the current URL's: refuse when
            # their host names differ, or whoever may write the value could receive a working password at their
            # host (a listener on the server's own host, another port, is out of such a writer's reach).
            admin = _parse(ctx, f"admin secret {name!r}", text_of(ctx.secret(name)))
            if current.hostname != admin.hostname:
                raise RotationError(
                    f"{ctx.describe()}: the current URL names another server than admin secret {name!r}: "
                    "store a URL for the admin's server, or fix the admin secret"
                )
        return current.with_login(current.user, secrets.token_urlsafe(PASSWORD_BYTES))

    def set(self, ctx: RotationContext, pending: Secret[Any]) -> None:
        new = _parse(ctx, "the pending value", text_of(pending))
        with self._admin(ctx) as admin:
            if _hash(new.password) not in self._hashes(ctx, admin, new.user):
                self._setuser(ctx, admin, new.user, f"#{_hash(new.password)}")

    def test(self, ctx: RotationContext, pending: Secret[Any]) -> None:
        new = _parse(ctx, "the pending value", text_of(pending))
        with self._connect(ctx, new, "the new credential") as client:
            self._call(ctx, "PING", client.ping)

    def undo(self, ctx: RotationContext, pending: Secret[Any]) -> None:
        new = _parse(ctx, "the pending value", text_of(pending))
        self._remove(ctx, new, keep=self._current(ctx))

    def retire(self, ctx: RotationContext, previous: Secret[Any]) -> None:
        old = _parse(ctx, "the previous value", text_of(previous))
        self._remove(ctx, old, keep=self._current(ctx))

    # -- at the server ---------------------------------------------------------------------------------

    def _remove(self, ctx: RotationContext, gone: LoginUrl, *, keep: LoginUrl) -> None:
        """Remove ``gone``'s password from its user, unless it is ``keep``'s (the current credential)."""
        if gone.user == keep.user and gone.password == keep.password:
            return
        with self._admin(ctx) as admin:
            if _hash(gone.password) in self._hashes(ctx, admin, gone.user):
                self._setuser(ctx, admin, gone.user, f"!{_hash(gone.password)}")

    def _current(self, ctx: RotationContext) -> LoginUrl:
        found = ctx.current()
        if found is None:
            raise RotationError(f"{ctx.describe()}: the secret has no current value: store the URL first")
        return _parse(ctx, "the current value", text_of(found))

    @contextmanager
    def _admin(self, ctx: RotationContext) -> Iterator[redis.Redis]:
        name: str | None = option(self.name, ctx.options, "admin_secret", str)
        if name is None:
            with self._connect(ctx, self._current(ctx), "the current credential") as client:
                yield client
            return
        if name == ctx.name:
            raise RotationError(f"{ctx.describe()}: option admin_secret names the rotated secret itself")
        admin = _parse(ctx, f"admin secret {name!r}", text_of(ctx.secret(name)))
        with self._connect(ctx, admin, f"admin secret {name!r}") as client:
            yield client

    @contextmanager
    def _connect(self, ctx: RotationContext, url: LoginUrl, what: str) -> Iterator[redis.Redis]:
        import redis

        timeout: int = option(self.name, ctx.options, "connect_timeout", int, 10)
        client: redis.Redis | None = None
        try:
            # A single-connection client connects and authenticates here, so a refusal is named as such.
            client = redis.Redis.from_url(
                url.url, socket_connect_timeout=timeout, socket_timeout=timeout, single_connection_client=True
            )
            client.ping()
        except redis.RedisError as exc:
            if client is not None:
                client.close()
            raise RotationError(
                f"{ctx.describe()}: connecting with {what} to {url.where()} failed: {_why(exc)}"
            ) from None
        try:
            yield client
        finally:
            client.close()

    def _hashes(self, ctx: RotationContext, admin: redis.Redis, user: str) -> list[str]:
        found = self._call(ctx, f"ACL GETUSER {user!r}", lambda: admin.acl_getuser(user))
        if not found:
            raise RotationError(f"{ctx.describe()}: Redis has no ACL user {user!r}: create it first")
        return [h.decode() if isinstance(h, bytes) else str(h) for h in found.get("passwords", [])]

    def _setuser(self, ctx: RotationContext, admin: redis.Redis, user: str, rule: str) -> None:
        def setuser() -> Any:
            return admin.execute_command("ACL", "SETUSER", user, rule)  # type: ignore[no-untyped-call]

        self._call(ctx, f"ACL SETUSER {user!r}", setuser)

    def _call(self, ctx: RotationContext, what: str, call: Any) -> Any:
        import redis

        try:
            return call()
        except redis.RedisError as exc:
            raise RotationError(f"{ctx.describe()}: {what} failed: {_why(exc)}") from None
