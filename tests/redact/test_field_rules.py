"""Field rules for values nobody registered (issue 14, class 4): session ids, bare values that hold
delimiters, URL queries, PEM private key blocks, and masks that stay as they are."""

from __future__ import annotations

import base64
import random
import string

import pytest

from strongroom.live_values import LiveValues
from strongroom.redact import Redactor

RNG = random.Random(4141)  # noqa: S311 -- test data, not keys


def _word(count: int = 16) -> str:
    return "".join(RNG.choice(string.ascii_letters + string.digits) for _ in range(count))


def _redact(text: str) -> str:
    return Redactor(follow_live=False, live=LiveValues()).redact(text)


@pytest.mark.parametrize(
    "key", ["session_id", "sessionid", "SESSION-ID", "sid", "connect.sid", "PHPSESSID", "JSESSIONID"]
)
def test_session_identifiers_are_masked(key: str) -> None:
    value = _word()
    out = _redact(f"login ok {key}={value} user=bob")
    assert value not in out
    assert out.endswith(" user=bob")


@pytest.mark.parametrize("tail", [";x", ",y", "&z", "<a>", ")", "]", "}"])
def test_a_bare_value_runs_to_white_space_so_no_tail_shows(tail: str) -> None:
    value = _word(8) + tail + _word(4)
    out = _redact(f"password={value} next")
    assert out == "password=[REDACTED:secret-field] next"


def test_in_a_url_query_an_ampersand_ends_the_value() -> None:
    token = _word()
    assert _redact(f"GET /cb?token={token}&next=1 HTTP/1.1") == "GET /cb?token=[REDACTED:secret-field]&next=1 HTTP/1.1"
    assert _redact(f"GET /cb?page=2&sid={token}#top") == "GET /cb?page=2&sid=[REDACTED:secret-field]#top"


def test_a_quoted_value_keeps_its_quotes() -> None:
    value = _word() + " with space"
    assert _redact(f'{{"client_secret": "{value}"}}') == '{"client_secret": "[REDACTED:secret-field]"}'


def _pem_block(kind: str) -> tuple[str, str]:
    body = base64.b64encode(RNG.randbytes(200)).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    label = f"{kind}PRIVATE" + " KEY"  # built from parts: no scanner should find a key in this file
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----", lines


@pytest.mark.parametrize("kind", ["", "RSA ", "EC ", "OPENSSH ", "ENCRYPTED "])
def test_the_body_of_an_unregistered_pem_private_key_is_masked_whole(kind: str) -> None:
    block, body = _pem_block(kind)
    out = _redact(f"loaded key:\n{block}\nstarting")
    for line in body.splitlines():
        assert line not in out
    assert out.endswith("starting")


def test_a_cut_pem_private_key_is_masked_to_its_last_base64_line() -> None:
    block, body = _pem_block("RSA ")
    cut = block[: block.index("-----END")].rstrip("\n")
    out = _redact(f"{cut}\nnext line has words")
    for line in body.splitlines():
        assert line not in out


@pytest.mark.parametrize(
    "text",
    [
        "password=[REDACTED:db_password]",
        '{"api_key": "[REDACTED:stripe_key]"}',
        "session_id=[REDACTED:secret-field], user=bob",
        "Authorization: [REDACTED:auth-header]",
    ],
)
def test_a_mask_is_not_masked_again(text: str) -> None:
    """Redacting redacted text (a record that reaches a wrapped stream) changes nothing, labels included."""
    assert _redact(text) == text


def test_a_count_stays_a_number_but_a_registered_number_under_a_count_key_is_masked() -> None:
    """``prompt_tokens`` holds counts, kept as numbers; a registered numeric secret is masked under any key."""
    redactor = Redactor(follow_live=False, live=LiveValues())
    pin = str(random.SystemRandom().randrange(10**7, 10**8))
    redactor.register(pin, "pin")
    out = redactor.redact_data({"prompt_tokens": 77, "login_tokens": int(pin)})
    assert out["prompt_tokens"] == 77
    assert pin not in str(out)


def test_pwd_is_a_path_only_when_its_value_looks_like_one() -> None:
    """``PWD=/home/x`` is the working directory; ``PWD=`` in an ODBC connection string is the password."""
    redactor = Redactor(follow_live=False, live=LiveValues())
    password = "/" + "".join(random.SystemRandom().choice(string.ascii_letters) for _ in range(10)) + "!9"
    assert redactor.redact("PWD=/home/app/src OLDPWD=~/work") == "PWD=/home/app/src OLDPWD=~/work"
    assert password not in redactor.redact(f"Driver={{ODBC}};UID=sa;PWD={password};")
