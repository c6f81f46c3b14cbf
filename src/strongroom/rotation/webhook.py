"""The ``webhook`` rotator: each step is a signed POST to the user's HTTPS endpoint, for any provider with an API.

Options: ``url`` (``https://``; plain ``http://`` only to 127.0.0.1, ::1 or localhost, for development),
``signing_secret`` (the name of another secret of the same tenant: the HMAC-SHA256 key that signs each request),
``timeout`` (seconds per network operation, default 10), ``value`` (``local``, the default: strongroom makes
the value as the ``random`` rotator does, with its ``length``/``alphabet``/``prefix``; or ``remote``: the
endpoint's answer to ``create`` gives it as JSON ``{"value": "..."}``).

The request body is JSON ``{"step", "rotation_id", "tenant", "secret", "value"}`` (``value``: the pending value
for set/test/undo, the previous one for retire, absent for create); ``Strongroom-Signature: t=<unix seconds>,
v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` signs it and ``Idempotency-Key: <rotation_id>:<step>`` names the
step, the same on every retry. Any 2xx answer means done; anything else (a redirect too: none is followed), a
timeout or a connection error fails the step with a ``RotationError`` naming the secret, the step and the
status, never the answer's body or the value. ``docs/rotation.md`` ("The webhook rotator") is the contract
and has a verifier.

The value goes to the endpoint by design (an operator set the policy naming it) and nowhere else: the client is
the standard library's ``http.client``, which reads no proxy settings from the environment and never follows a
redirect, so the request reaches exactly the host of ``url``; with ``https`` the certificate is verified with
the system's trust store. (Stdlib rather than httpx also keeps the rotator usable in an install without the
``server`` extra, e.g. ``strongroom rotate --due`` from cron.)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from strongroom.errors import InvalidInput, NotFound, RotationError
from strongroom.names import check_name
from strongroom.rotation.random_value import RandomRotator
from strongroom.rotation.rotator import BaseRotator, RotationContext, option, require_options

if TYPE_CHECKING:
    from strongroom.secret import Secret

__all__ = ["SIGNATURE_HEADER", "WebhookRotator", "signature_header"]

SIGNATURE_HEADER = "Strongroom-Signature"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 300.0
MAX_ANSWER_BYTES = 64 * 1024  # a remote create's answer: {"value": "..."}
_VALUE_OPTIONS = ("length", "alphabet", "prefix")
_OPTIONS = ("url", "signing_secret", "timeout", "value", *_VALUE_OPTIONS)


@dataclass(frozen=True, slots=True)
class _Target:
    https: bool
    host: str
    port: int | None
    path: str


def signature_header(key: bytes, timestamp: int, body: bytes) -> str:
    """``t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>">``: the value of ``Strongroom-Signature``."""
    digest = hmac.new(key, f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class WebhookRotator(BaseRotator):
    name: ClassVar[str] = "webhook"

    def check(self, options: Mapping[str, Any]) -> None:
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise InvalidInput(
                f"rotator 'webhook' has no option(s) {', '.join(unknown)[:80]}: use {', '.join(_OPTIONS)}"
            )
        require_options(self.name, options, "url", "signing_secret")
        _target(options)
        signing = option(self.name, options, "signing_secret", str)
        check_name("signing_secret", signing)
        _timeout(options)
        if _mode(options) == "local":
            RandomRotator().check({k: options[k] for k in _VALUE_OPTIONS if k in options})
        else:
            given = [k for k in _VALUE_OPTIONS if k in options]
            if given:
                raise InvalidInput(
                    f"rotator 'webhook': option(s) {', '.join(given)} apply only to value=local: "
                    "remove them, or let strongroom make the value with value=local"
                )

    def create(self, ctx: RotationContext) -> str:
        if _mode(ctx.options) == "local":
            # No call: the endpoint first hears of the value at ``set``, so a retried create has nothing to undo.
            return RandomRotator().create(ctx)
        answer = self._call(ctx, "create", None, want_answer=True)
        value = _remote_value(answer)
        if value is None:
            raise RotationError(
                f"{ctx.describe()}: the webhook's answer to create is not JSON "
                '{"value": "<non-empty text>"}: fix the endpoint, or use value=local'
            )
        return value

    def set(self, ctx: RotationContext, pending: Secret[Any]) -> None:
        self._call(ctx, "set", pending)

    def test(self, ctx: RotationContext, pending: Secret[Any]) -> None:
        self._call(ctx, "test", pending)

    def undo(self, ctx: RotationContext, pending: Secret[Any]) -> None:
        self._call(ctx, "undo", pending)

    def retire(self, ctx: RotationContext, previous: Secret[Any]) -> None:
        self._call(ctx, "retire", previous)

    # -- the request --------------------------------------------------------------------------------

    def _call(self, ctx: RotationContext, step: str, value: Secret[Any] | None, *, want_answer: bool = False) -> bytes:
        """POST one signed step; the answer's body (read only when ``want_answer``), or ``RotationError``."""
        import http.client
        import ssl

        target = _target(ctx.options)
        timeout = _timeout(ctx.options)
        key = self._key(ctx)  # before the value is revealed: a missing key fails the step with nothing sent
        payload: dict[str, str] = {
            "step": step,
            "rotation_id": ctx.rotation_id,
            "tenant": ctx.tenant,
            "secret": ctx.name,
        }
        if value is not None:
            payload["value"] = _text(ctx, value)
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        del payload
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "strongroom-rotation",
            "Idempotency-Key": f"{ctx.rotation_id}:{step}",
            SIGNATURE_HEADER: signature_header(key, int(ctx.clock()), body),
        }
        del key
        where = f"the webhook at {target.host}" + (f":{target.port}" if target.port else "")
        conn: http.client.HTTPConnection
        if target.https:
            conn = http.client.HTTPSConnection(
                target.host, target.port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            conn = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
        try:
            conn.request("POST", target.path, body=body, headers=headers)
            del body
            response = conn.getresponse()
            status = response.status
            answer = response.read(MAX_ANSWER_BYTES + 1) if want_answer and 200 <= status < 300 else b""
        except TimeoutError:
            raise RotationError(f"{ctx.describe()}: {where} did not answer within {timeout:g}s") from None
        except (OSError, http.client.HTTPException) as exc:
            # Only the exception's type: what a TLS or socket library says is not ours to vouch for.
            raise RotationError(f"{ctx.describe()}: could not reach {where} ({type(exc).__name__})") from None
        finally:
            conn.close()
        if not 200 <= status < 300:
            hint = " (redirects are not followed: give the final URL)" if 300 <= status < 400 else ""
            raise RotationError(f"{ctx.describe()}: {where} answered HTTP {status}{hint}")
        return answer

    def _key(self, ctx: RotationContext) -> bytes:
        name = str(ctx.options["signing_secret"])
        if name == ctx.name:
            raise RotationError(
                f"{ctx.describe()}: signing_secret names the rotated secret itself: "
                "keep the webhook's HMAC key in a secret of its own"
            )
        try:
            with ctx.secret(name) as secret:
                key = secret.reveal()
                return key.encode("utf-8") if isinstance(key, str) else bytes(key)
        except NotFound:
            raise RotationError(
                f"{ctx.describe()}: signing secret {name!r} not found in tenant {ctx.tenant!r}: "
                f"store the webhook's HMAC key under that name"
            ) from None


def _target(options: Mapping[str, Any]) -> _Target:
    """The parsed ``url``, or ``InvalidInput`` naming what is wrong with it and the fix."""
    url = option("webhook", options, "url", str)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidInput("rotator 'webhook': option url is not a valid URL: use https://HOST[:PORT]/PATH") from None
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise InvalidInput("rotator 'webhook': option url must be https://HOST[:PORT]/PATH")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(
            "rotator 'webhook': option url must not carry a user or password: the request is "
            "signed with signing_secret, so remove them from the URL"
        )
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        raise InvalidInput(
            f"rotator 'webhook': url {parts.scheme}://{host} would send secret values in the clear: use "
            "https:// (plain http is allowed only to 127.0.0.1, ::1 or localhost, for development)"
        )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(https=parts.scheme == "https", host=host, port=port, path=path)


def _timeout(options: Mapping[str, Any]) -> float:
    raw = options.get("timeout", DEFAULT_TIMEOUT)
    try:
        timeout = float(raw) if not isinstance(raw, bool) else math.nan
    except (TypeError, ValueError):
        timeout = math.nan
    if not 0 < timeout <= MAX_TIMEOUT:
        raise InvalidInput(
            f"rotator 'webhook': option timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT:g}"
        )
    return timeout


def _mode(options: Mapping[str, Any]) -> str:
    mode = option("webhook", options, "value", str, "local")
    if mode not in ("local", "remote"):
        raise InvalidInput(
            "rotator 'webhook': option value must be local (strongroom makes the value) or remote "
            "(the endpoint's create answer gives it)"
        )
    return str(mode)


def _text(ctx: RotationContext, secret: Secret[Any]) -> str:
    value = secret.reveal()
    if isinstance(value, str):
        return value
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise RotationError(
            f"{ctx.describe()}: the value is binary; the webhook rotator carries text values only"
        ) from None


def _remote_value(answer: bytes) -> str | None:
    if len(answer) > MAX_ANSWER_BYTES:
        return None
    try:
        data = json.loads(answer)
    except ValueError:
        return None
    value = data.get("value") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None
