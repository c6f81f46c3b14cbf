"""The ``postgresql`` rotator: a role's password, changed with ``ALTER ROLE ... PASSWORD``.

The secret's value is a connection URL (``postgresql://user:password@host:port/db?params``, what a
``database_url: Secret[str]`` config field holds); a rotation keeps all of it but the user and password.

Strategies (option ``strategy``):

- ``single`` (default): the role changes its own password over a connection made with the current URL.
  Between ``set`` and ``finish`` the old password no longer works, so a consumer that opens a connection in
  that moment with the old value fails: use ``alternating`` where that matters.
- ``alternating``: two roles (option ``users = "app_a,app_b"``) take turns. A rotation gives the role that is
  *not* in the current URL a new password, through an admin connection (option ``admin_secret``: another
  secret of the same tenant holding an admin URL); the new value is the URL with that role. The current role
  is never touched, so no consumer ever holds a credential that stops working before ``retire``, which
  revokes the previous role's password (``PASSWORD NULL``: its open sessions keep running, new logins fail).

The plaintext password never reaches the server in SQL text (server logs, ``pg_stat_statements``): the client
computes the SCRAM-SHA-256 verifier (libpq ``PQencryptPasswordConn``) and sends only that. Errors name the
secret, the step and the SQLSTATE or a fixed description of the failure, never the driver's message (which
can quote a connection string). ``docs/rotation.md`` lists the options, the grants and examples.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from strongroom.errors import InvalidInput, RotationError
from strongroom.rotation.login_url import LoginUrl, text_of
from strongroom.rotation.rotator import BaseRotator, RotationContext, option, require_options

if TYPE_CHECKING:
    import psycopg

    from strongroom.secret import Secret

__all__ = ["PostgresRotator"]

STRATEGIES = ("single", "alternating")
OPTIONS = ("strategy", "users", "admin_secret", "connect_timeout")
SCHEMES = ("postgresql", "postgres")
QUERY_ALLOWED = frozenset({"sslmode", "application_name", "connect_timeout", "target_session_attrs"})
"""The URL parameters a stored value may carry: none of them changes where a password is sent or whose it is."""
ALGORITHM = b"scram-sha-256"
PASSWORD_BYTES = 32  # token_urlsafe: 43 characters, 256 bits, nothing to percent-encode

# What a failed connection means, from libpq's text (which is never passed on: it can quote a conninfo).
_CONNECT_FAILURES = (
    ("password authentication failed", "the password was refused", True),
    ("not permitted to log in", "the role may not log in (grant LOGIN)", True),
    ("does not exist", "the role or database does not exist", True),
    ("no pg_hba.conf entry", "pg_hba.conf has no entry for this host and role", True),
    ("connection refused", "unreachable (connection refused)", False),
    ("timeout expired", "unreachable (connect_timeout expired)", False),
)
_SQLSTATE_HINTS = {
    "42501": "insufficient privilege: the admin role needs CREATEROLE",
    "42704": "the role does not exist",
    "25006": "the server is read-only (a standby?)",
    "57014": "timed out waiting (connect_timeout applies to statements too)",
}


def _parse(ctx: RotationContext, what: str, text: str) -> LoginUrl:
    """A stored PostgreSQL URL, checked before any connection: the value is written by whoever may write it."""
    url = LoginUrl.split(text)
    if url is None or url.scheme not in SCHEMES or not url.user or not url.password or not url.host:
        # Never quote the value: it holds a password. An empty password would let libpq fall back to this
        # process's own (PGPASSWORD, ~/.pgpass) and send it wherever the URL points.
        raise RotationError(f"{ctx.describe()}: {what} is not a postgresql://user:password@host/db URL: store one")
    if url.query_names - QUERY_ALLOWED:
        # libpq lets a parameter override the host (host, hostaddr), the login (service, passfile) or present
        # the server's files (sslkey): a value written by a tenant must not redirect where a password goes.
        raise RotationError(
            f"{ctx.describe()}: {what} has query parameter(s) {', '.join(sorted(url.query_names - QUERY_ALLOWED))}: "
            f"keep only {', '.join(sorted(QUERY_ALLOWED))}"
        )
    return url


def _why(exc: BaseException) -> tuple[str, bool]:
    """A fixed description of a driver error, and whether it is the login that was refused."""
    code = getattr(exc, "sqlstate", None)
    if code:
        return f"SQLSTATE {code}, {_SQLSTATE_HINTS.get(code, type(exc).__name__)}", code.startswith("28")
    text = str(exc).lower()
    for needle, description, refused in _CONNECT_FAILURES:
        if needle in text:
            return description, refused
    return type(exc).__name__, False


class _Failed(RotationError):
    """A RotationError that remembers whether the provider refused the login (vs. unreachable, SQL error)."""

    def __init__(self, message: str, *, refused: bool) -> None:
        super().__init__(message)
        self.refused = refused


class PostgresRotator(BaseRotator):
    name: ClassVar[str] = "postgresql"

    # -- options ---------------------------------------------------------------------------------------

    def check(self, options: Mapping[str, Any]) -> None:
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise InvalidInput(f"rotator 'postgresql': unknown option {unknown[0]!r}: use {', '.join(OPTIONS)}")
        strategy = self._strategy(options)
        timeout = option(self.name, options, "connect_timeout", int, 10)
        if not 1 <= timeout <= 600:
            raise InvalidInput("rotator 'postgresql': option 'connect_timeout' must be 1-600 seconds")
        if strategy == "single":
            for name in ("users", "admin_secret"):
                if options.get(name) not in (None, ""):
                    raise InvalidInput(
                        f"rotator 'postgresql': option {name!r} is for strategy 'alternating'; "
                        "'single' uses the role's own credential: remove it or set strategy=alternating"
                    )
            return
        require_options(self.name, options, "users", "admin_secret")
        self._users(options)
        option(self.name, options, "admin_secret", str)

    def _strategy(self, options: Mapping[str, Any]) -> str:
        strategy: str = option(self.name, options, "strategy", str, "single")
        if strategy not in STRATEGIES:
            raise InvalidInput(
                f"rotator 'postgresql': option 'strategy' is {strategy[:30]!r}: use single or alternating"
            )
        return strategy

    def _users(self, options: Mapping[str, Any]) -> tuple[str, str]:
        users = option(self.name, options, "users", list) or []
        names = [str(u).strip() for u in users]
        if len(names) != 2 or len(set(names)) != 2 or not all(0 < len(n) <= 63 for n in names):
            raise InvalidInput(
                "rotator 'postgresql': option 'users' must name two different roles, e.g. users = \"app_a,app_b\""
            )
        return names[0], names[1]

    def _timeout(self, ctx: RotationContext) -> int:
        timeout: int = option(self.name, ctx.options, "connect_timeout", int, 10)
        return timeout

    # -- steps -----------------------------------------------------------------------------------------

    def create(self, ctx: RotationContext) -> str:
        current = self._current(ctx)
        user = current.user
        if self._strategy(ctx.options) == "alternating":
            first, second = self._users(ctx.options)
            if user not in (first, second):
                raise RotationError(
                    f"{ctx.describe()}: the current URL's role {user!r} is not one of option users "
                    f"({first}, {second}): store a URL for one of them, or fix the option"
                )
            user = second if user == first else first
            self._same_server(ctx, current)
        return current.with_login(user, secrets.token_urlsafe(PASSWORD_BYTES))

    def _same_server(self, ctx: RotationContext, current: LoginUrl) -> None:
        """The new password is set through the admin secret's server and then tested at the URL the current
        value names: refuse when their host names or databases differ, or whoever may write the secret's value
        (a tenant's key) could point it at their own host and receive a password that works on the real
        server. The port is not compared: a listener on the database's own host is out of such a writer's reach,
        and a pooler beside the server (another port) is common."""
        name: str = option(self.name, ctx.options, "admin_secret", str)
        admin = _parse(ctx, f"admin secret {name!r}", text_of(ctx.secret(name)))
        if (current.hostname, current.path) != (admin.hostname, admin.path):
            raise RotationError(
                f"{ctx.describe()}: the current URL names another server or database than admin secret "
                f"{name!r}: store a URL for the admin's server, or fix the admin secret"
            )

    def set(self, ctx: RotationContext, pending: Secret[Any]) -> None:
        new = _parse(ctx, "the pending value", text_of(pending))
        if self._strategy(ctx.options) == "alternating":
            with self._admin(ctx) as conn:
                self._alter(ctx, conn, new.user, new.password)
            return
        current = self._current(ctx)
        try:
            with self._connect(ctx, current, "the current credential") as conn:
                self._alter(ctx, conn, new.user, new.password)
        except _Failed as first:
            if not first.refused:
                raise
            # A run killed after ALTER ROLE and before 'set' was recorded left the new password in place.
            try:
                with self._connect(ctx, new, "the pending credential") as conn:
                    self._alter(ctx, conn, new.user, new.password)
            except _Failed:
                raise first from None

    def test(self, ctx: RotationContext, pending: Secret[Any]) -> None:
        new = _parse(ctx, "the pending value", text_of(pending))
        with self._connect(ctx, new, "the new credential") as conn:
            self._run(ctx, conn, "SELECT 1", lambda: conn.execute("SELECT 1").fetchone())

    def undo(self, ctx: RotationContext, pending: Secret[Any]) -> None:
        """single: the role gets its current password back (over the pending credential, which ``set`` made
        valid; if that is refused, ``set`` never applied and the current one still works). alternating: the
        inactive role's pending password is revoked (``PASSWORD NULL``, as ``retire`` leaves it); the current
        role was never touched."""
        new = _parse(ctx, "the pending value", text_of(pending))
        current = self._current(ctx)
        if self._strategy(ctx.options) == "alternating":
            if new.user != current.user:
                with self._admin(ctx) as conn:
                    self._revoke(ctx, conn, new.user)
            return
        try:
            with self._connect(ctx, new, "the pending credential") as conn:
                self._alter(ctx, conn, current.user, current.password)
        except _Failed as refused:
            if not refused.refused:
                raise
            with self._connect(ctx, current, "the current credential") as conn:  # nothing to undo if it works
                self._run(ctx, conn, "SELECT 1", lambda: conn.execute("SELECT 1").fetchone())

    def retire(self, ctx: RotationContext, previous: Secret[Any]) -> None:
        """alternating: the previous role's password is revoked, unless it is the current role (a value
        stored by hand). single: nothing to do, ``set`` replaced the old password."""
        if self._strategy(ctx.options) != "alternating":
            return
        old = _parse(ctx, "the previous value", text_of(previous))
        if old.user == self._current(ctx).user:
            return
        with self._admin(ctx) as conn:
            self._revoke(ctx, conn, old.user)

    # -- at the server ---------------------------------------------------------------------------------

    def _current(self, ctx: RotationContext) -> LoginUrl:
        found = ctx.current()
        if found is None:
            raise RotationError(f"{ctx.describe()}: the secret has no current value: store the URL first")
        return _parse(ctx, "the current value", text_of(found))

    @contextmanager
    def _admin(self, ctx: RotationContext) -> Iterator[psycopg.Connection[Any]]:
        name: str = option(self.name, ctx.options, "admin_secret", str)
        if name == ctx.name:
            raise RotationError(f"{ctx.describe()}: option admin_secret names the rotated secret itself")
        admin = _parse(ctx, f"admin secret {name!r}", text_of(ctx.secret(name)))
        with self._connect(ctx, admin, f"admin secret {name!r}") as conn:
            yield conn

    @contextmanager
    def _connect(self, ctx: RotationContext, url: LoginUrl, what: str) -> Iterator[psycopg.Connection[Any]]:
        import psycopg
        from psycopg import sql

        try:
            conn = psycopg.connect(
                url.url,
                connect_timeout=self._timeout(ctx),
                autocommit=True,
                passfile=os.devnull,  # never this process's ~/.pgpass
            )
        except psycopg.Error as exc:
            why, refused = _why(exc)
            raise _Failed(
                f"{ctx.describe()}: connecting with {what} to {url.where()} failed: {why}", refused=refused
            ) from None
        try:
            # A statement waiting on a lock (another ALTER ROLE) fails the step instead of hanging the rotation.
            statement_timeout = sql.SQL("SET statement_timeout = {}").format(sql.Literal(self._timeout(ctx) * 1000))
            self._run(ctx, conn, "SET statement_timeout", lambda: conn.execute(statement_timeout))
            yield conn
        finally:
            conn.close()

    def _alter(self, ctx: RotationContext, conn: psycopg.Connection[Any], user: str, password: str) -> None:
        from psycopg import sql

        def alter() -> None:
            verifier = conn.pgconn.encrypt_password(password.encode(), user.encode(), ALGORITHM).decode("ascii")
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(user), sql.Literal(verifier)))

        self._run(ctx, conn, f"ALTER ROLE {user!r} PASSWORD", alter)

    def _revoke(self, ctx: RotationContext, conn: psycopg.Connection[Any], user: str) -> None:
        from psycopg import sql

        statement = sql.SQL("ALTER ROLE {} PASSWORD NULL").format(sql.Identifier(user))
        self._run(ctx, conn, f"ALTER ROLE {user!r} PASSWORD NULL", lambda: conn.execute(statement))

    def _run(self, ctx: RotationContext, conn: psycopg.Connection[Any], what: str, call: Any) -> None:
        import psycopg

        try:
            call()
        except psycopg.Error as exc:
            why, _ = _why(exc)
            raise RotationError(f"{ctx.describe()}: {what} failed: {why}") from None
