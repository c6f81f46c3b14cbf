"""False alarms (issue 14, class 5): a corpus of realistic benign log lines, generated here from a fixed
seed, must come out of a redactor holding registered values almost untouched (fewer than 0.1% changed).

The corpus mixes uvicorn and nginx access logs, LLM usage lines (``prompt_tokens=123``), UUIDs, git SHAs,
hex digests, ``sha512-`` integrity strings, base64 images, prose, stack traces without secrets, working
directory paths (``pwd=/home/x``) and structured JSON events.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import string
import uuid
from collections.abc import Callable

import pytest

from strongroom.live_values import LiveValues
from strongroom.redact import Redactor

LINES = 12_000
MAX_CHANGED = LINES // 1000  # 0.1%

WORDS = re.findall(
    r"\w+",
    "the request was handled by worker after retrying connection pool timeout upstream service returned "
    "cache miss for tenant user account settings page rendered in background job finished queue drained "
    "scheduler started migration applied database replica lag is within bounds deploy rolled out to canary "
    "token bucket refilled rate limit reached for client password reset email queued secret rotation "
    "scheduled for tonight key material never leaves the vault session expired and was renewed",
)
PATHS = ("/v1/items", "/v1/tenants/acme/secrets", "/healthz", "/api/chat/completions", "/static/app.js", "/login")
AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "curl/8.5.0",
    "python-httpx/0.27.0",
    "Go-http-client/1.1",
)
MODELS = ("gpt-4o-mini", "claude-3-5-sonnet", "llama-3.1-70b", "mistral-large")
EXCEPTIONS = (
    "KeyError: 'user_id'",
    "ValueError: invalid literal for int() with base 10: 'abc'",
    "TimeoutError: upstream did not answer within 30s",
    "ConnectionResetError: [Errno 104] Connection reset by peer",
    "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)",
)


def _query(rng: random.Random) -> str:
    pairs = [f"{rng.choice(('page', 'limit', 'sort', 'q', 'next', 'lang'))}={rng.randrange(100)}" for _ in range(3)]
    return "?" + "&".join(pairs[: rng.randrange(1, 4)]) if rng.random() < 0.5 else ""


def _uvicorn(rng: random.Random) -> str:
    return (
        f"INFO:     10.0.{rng.randrange(255)}.{rng.randrange(255)}:{rng.randrange(1024, 65535)} - "
        f'"{rng.choice(("GET", "POST", "PUT"))} {rng.choice(PATHS)}{_query(rng)} HTTP/1.1" '
        f"{rng.choice((200, 201, 204, 302, 404, 500))} {rng.choice(('OK', 'Created', 'Not Found'))}"
    )


def _nginx(rng: random.Random) -> str:
    return (
        f"203.0.113.{rng.randrange(255)} - - [03/Dec/2026:05:{rng.randrange(60):02d}:{rng.randrange(60):02d} +0000] "
        f'"GET {rng.choice(PATHS)}{_query(rng)} HTTP/1.1" {rng.choice((200, 304, 404))} {rng.randrange(99999)} '
        f'"https://example.com/{rng.choice(PATHS)}" "{rng.choice(AGENTS)}"'
    )


def _usage(rng: random.Random) -> str:
    prompt, completion = rng.randrange(5, 9000), rng.randrange(1, 4000)
    return rng.choice(
        (
            f"llm call model={rng.choice(MODELS)} prompt_tokens={prompt} completion_tokens={completion} "
            f"total_tokens={prompt + completion}",
            json.dumps({"usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt}}),
            f"request max_tokens={rng.choice((256, 1024, 4096))} temperature=0.{rng.randrange(10)}",
            f"streamed tokens={completion} in {rng.random() * 9:.2f}s ({completion / 3:.0f} tokens/s)",
            f"usage: input_tokens: {prompt}, output_tokens: {completion}, cached_tokens: {rng.randrange(100)}",
        )
    )


def _identifiers(rng: random.Random) -> str:
    ident = uuid.UUID(int=rng.getrandbits(128), version=4)
    sha = hashlib.sha1(rng.randbytes(8)).hexdigest()  # noqa: S324 -- a git-style id, not security
    digest = hashlib.sha256(rng.randbytes(8)).hexdigest()
    return rng.choice(
        (
            f"request_id={ident} trace_id={uuid.UUID(int=rng.getrandbits(128), version=4).hex}",
            f"deployed commit {sha} ({sha[:7]}) to production",
            f"artifact sha256:{digest} pushed",
            f"etag={hashlib.md5(rng.randbytes(8)).hexdigest()} size={rng.randrange(10**6)}",  # noqa: S324
            f"session_count={rng.randrange(50)} token_type=bearer api_key_id={ident} secret_name=db-main",
        )
    )


def _integrity(rng: random.Random) -> str:
    kind, size = rng.choice((("sha512", 64), ("sha384", 48), ("sha256", 32)))
    value = base64.b64encode(rng.randbytes(size)).decode()
    name = rng.choice(("react", "lodash", "esbuild", "typescript"))
    return rng.choice(
        (
            f'"integrity": "{kind}-{value}"',
            f'<script src="/{name}.js" integrity="{kind}-{value}" crossorigin="anonymous"></script>',
            f"{name}@{rng.randrange(20)}.{rng.randrange(20)}.0 integrity {kind}-{value}",
        )
    )


def _image(rng: random.Random) -> str:
    data = base64.b64encode(b"\x89PNG\r\n\x1a\n" + rng.randbytes(rng.randrange(60, 900))).decode()
    return rng.choice((f'<img src="data:image/png;base64,{data}">', f"avatar=data:image/png;base64,{data}"))


def _prose(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randrange(6, 24))).capitalize() + "."


def _trace(rng: random.Random) -> str:
    module = rng.choice(("httpx/_client.py", "sqlalchemy/engine/base.py", "app/handlers.py", "asyncio/tasks.py"))
    return rng.choice(
        (
            "Traceback (most recent call last):",
            f'  File "/usr/lib/python3.11/site-packages/{module}", line {rng.randrange(2000)}, in send',
            f"    response = await self._send_single_request(request, timeout={rng.randrange(60)})",
            rng.choice(EXCEPTIONS),
            "The above exception was the direct cause of the following exception:",
        )
    )


def _paths(rng: random.Random) -> str:
    user = rng.choice(("alice", "bob", "deploy", "runner"))
    return rng.choice(
        (
            f"pwd=/home/{user}/src/project",
            f"PWD=/srv/app/{user} OLDPWD=/home/{user}",
            f"env: PWD=/home/{user} SHELL=/bin/bash LANG=C.UTF-8",
            f"cwd=/var/lib/{user} pwd: /home/{user}/work",
        )
    )


def _json_event(rng: random.Random) -> str:
    return json.dumps(
        {
            "level": rng.choice(("info", "warning")),
            "msg": rng.choice(("request finished", "cache refreshed", "job done")),
            "status": rng.choice((200, 404)),
            "duration_ms": round(rng.random() * 100, 2),
            "request_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "cpu": f"{rng.randrange(100)}%",
        }
    )


KINDS: tuple[Callable[[random.Random], str], ...] = (
    _uvicorn,
    _nginx,
    _usage,
    _identifiers,
    _integrity,
    _image,
    _prose,
    _trace,
    _paths,
    _json_event,
)


def corpus(seed: int = 14, count: int = LINES) -> list[str]:
    rng = random.Random(seed)  # noqa: S311 -- test data, not keys
    return [KINDS[i % len(KINDS)](rng) for i in range(count)]


def _redactor() -> Redactor:
    return _holding()[0]


def _holding() -> tuple[Redactor, list[str]]:
    """A redactor holding random values of every length, as an application's would, and the values."""
    rng = random.Random(1415)  # noqa: S311 -- test data, not keys
    redactor = Redactor(follow_live=False, live=LiveValues())
    alphabet = string.ascii_letters + string.digits
    values = ["".join(rng.choice(alphabet) for _ in range((10, 12, 32, 40)[i % 4])) for i in range(200)]
    for index, value in enumerate(values):
        assert redactor.register(value, f"value{index}")
    return redactor, values


def test_benign_lines_are_left_alone(record_property: Callable[[str, object], None]) -> None:
    """Fewer than 0.1% of 12,000 benign lines change; the count is printed and recorded."""
    redactor, values = _holding()
    lines = corpus()
    assert redactor.redact(f"{lines[0]} {values[0]}") == f"{lines[0]} [REDACTED:value0]"  # a control
    changed = [(line, out) for line in lines if (out := redactor.redact(line)) != line]
    record_property("benign_lines", len(lines))
    record_property("benign_lines_changed", len(changed))
    print(f"\nbenign corpus: {len(changed)} of {len(lines)} lines changed")
    assert len(changed) < MAX_CHANGED, "\n".join(f"{line!r}\n -> {out!r}" for line, out in changed[:20])


@pytest.mark.parametrize(
    "line",
    [
        "prompt_tokens=123 completion_tokens=45 total_tokens=168",
        "max_tokens=4096 tokens=77",
        "pwd=/home/x",
        "PWD=/srv/app OLDPWD=~/src",
        "integrity sha512-" + base64.b64encode(bytes(range(64))).decode(),
        "id 123e4567-e89b-12d3-a456-426614174000",
        "commit " + hashlib.sha1(b"x").hexdigest(),  # noqa: S324 -- a git-style id
        "digest " + hashlib.sha256(b"x").hexdigest(),
        "data:image/png;base64," + base64.b64encode(bytes(range(200))).decode(),
    ],
)
def test_named_benign_shapes_are_untouched(line: str) -> None:
    assert _redactor().redact(line) == line


def test_token_counts_stay_numbers_in_structured_data() -> None:
    """``redact_data`` keeps counts as ints (a log pipeline sums them), while a real token is masked."""
    event = {"usage": {"prompt_tokens": 123, "completion_tokens": 45, "total_tokens": 168, "max_tokens": 4096}}
    assert _redactor().redact_data(event) == event
    assert _redactor().redact_data({"access_token": "abc"}) == {"access_token": "[REDACTED:access_token]"}
    assert _redactor().redact_data({"tokens": "sk-abc"}) == {"tokens": "[REDACTED:tokens]"}
