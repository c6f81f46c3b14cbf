"""Secret: every route to text shows a mask; pickling is refused; equality is on values; close kills it."""

from __future__ import annotations

import copy
import hmac
import io
import json
import logging
import operator
import pickle
import re
import uuid
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from strongroom.errors import StrongroomError
from strongroom.secret import MASK, Secret

MASKED = "Secret('db.password', ****)"


def canary() -> str:
    """A value that appears nowhere unless it leaked."""
    return f"canary-{uuid.uuid4().hex}{uuid.uuid4().hex}"


@pytest.fixture
def value() -> str:
    return canary()


@pytest.fixture
def secret(value: str) -> Secret[str]:
    return Secret("db.password", value, version=3)


def renderings(s: Secret[str] | Secret[bytes]) -> dict[str, str]:
    """Every ordinary way an object becomes text."""
    return {
        "repr": repr(s),
        "str": str(s),
        "format": format(s),
        "format-spec": format(s, ">60"),
        "f-string": f"{s}",
        "f-string-r": f"{s!r}",
        "f-string-s": f"{s!s}",
        "f-string-spec": f"{s:^70}",
        "str.format": "{}".format(s),  # noqa: UP032 - str.format is the route under test
        "percent-s": "%s" % s,  # noqa: UP031 - %-formatting is the route under test
        "percent-r": "%r" % (s,),  # noqa: UP031 - %-formatting is the route under test
        "container": str([s, {"k": s}, (s,)]),
        "json-default-str": json.dumps(s, default=str),
        "json-default-repr": json.dumps({"k": [s]}, default=repr),
    }


def test_renderings_show_the_mask(secret: Secret[str], value: str) -> None:
    """repr, str, format, f-strings, %-formatting and json(default=str) show Secret('name', ****)."""
    for route, text in renderings(secret).items():
        assert MASKED in text, route
        assert value not in text, route


def test_repr_is_exactly_the_mask(secret: Secret[str]) -> None:
    """repr() and str() are exactly Secret('<name>', ****)."""
    assert repr(secret) == MASKED
    assert str(secret) == MASKED
    assert MASK == "****"


def test_format_spec_applies_to_the_mask(secret: Secret[str]) -> None:
    """A format spec pads or aligns the masked text, never the value."""
    assert format(secret, ">40") == MASKED.rjust(40)
    assert f"{secret:*^41}" == MASKED.center(41, "*")


def test_bytes_secret_is_masked() -> None:
    """A bytes secret is masked the same way, in every rendering."""
    raw = canary().encode()
    s = Secret("blob", raw)
    for route, text in renderings(s).items():
        assert "Secret('blob', ****)" in text, route
        assert raw.decode() not in text, route
        assert repr(raw) not in text, route


def test_print_shows_the_mask(secret: Secret[str], value: str, capsys: pytest.CaptureFixture[str]) -> None:
    """print() writes the mask, not the value."""
    print(secret)
    out = capsys.readouterr().out
    assert MASKED in out
    assert value not in out


def test_logging_shows_the_mask(secret: Secret[str], value: str, caplog: pytest.LogCaptureFixture) -> None:
    """Logging a Secret through %s, %r, args dicts and f-strings records only the mask."""
    logger = logging.getLogger("strongroom.tests.secret")
    with caplog.at_level(logging.DEBUG, logger=logger.name):
        logger.info("using %s", secret)
        logger.info("using %r", secret)
        logger.info("using %(s)s", {"s": secret})
        logger.warning(f"using {secret}")
        logger.error(secret)
        try:
            raise RuntimeError(secret)
        except RuntimeError:
            logger.exception("failed with %s", secret)
    assert len(caplog.records) == 6
    assert all(MASKED in record.getMessage() for record in caplog.records)
    assert value not in caplog.text
    assert MASKED in caplog.text


def test_str_in_exception_is_masked(secret: Secret[str], value: str) -> None:
    """An exception built from a Secret shows the mask."""
    error = ValueError(secret)
    assert value not in str(error)
    assert value not in repr(error)


def test_json_dumps_refuses(secret: Secret[str], value: str) -> None:
    """json.dumps() of a Secret raises TypeError whose message does not contain the value."""
    with pytest.raises(TypeError) as info:
        json.dumps(secret)
    assert value not in str(info.value)
    with pytest.raises(TypeError) as nested:
        json.dumps({"password": [secret]})
    assert value not in str(nested.value)


def test_json_default_str_gives_mask(secret: Secret[str]) -> None:
    """json.dumps(default=str) serialises a Secret as its mask."""
    assert json.dumps(secret, default=str) == json.dumps(MASKED)
    assert json.loads(json.dumps({"k": secret}, default=str)) == {"k": MASKED}


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_refused(secret: Secret[str], value: str, protocol: int) -> None:
    """pickle.dumps() raises TypeError, for every protocol, without the value in the message."""
    with pytest.raises(TypeError, match="cannot be pickled") as info:
        pickle.dumps(secret, protocol=protocol)
    assert value not in str(info.value)
    with pytest.raises(TypeError):
        pickle.dumps({"nested": [secret]}, protocol=protocol)


def test_pickler_to_file_refused(secret: Secret[str], value: str) -> None:
    """A Pickler writing to a stream refuses too, and nothing containing the value is written."""
    buffer = io.BytesIO()
    with pytest.raises(TypeError):
        pickle.Pickler(buffer).dump(secret)
    assert value.encode() not in buffer.getvalue()


def test_copy_returns_same_object(secret: Secret[str], value: str) -> None:
    """copy.copy() and copy.deepcopy() return the very same Secret."""
    assert copy.copy(secret) is secret
    assert copy.deepcopy(secret) is secret
    holder = {"k": [secret]}
    assert copy.deepcopy(holder)["k"][0] is secret
    assert copy.copy(secret).reveal() == value


def test_reveal_returns_value(secret: Secret[str], value: str) -> None:
    """reveal() returns the plaintext; name and version are exposed."""
    assert secret.reveal() == value
    assert secret.name == "db.password"
    assert secret.version == 3
    assert Secret("x", b"raw").reveal() == b"raw"
    assert Secret("x", "v").version is None


def test_equal_str_values_are_equal() -> None:
    """Two Secrets holding equal str values are equal, whatever their names and versions."""
    assert Secret("a", "same-value", version=1) == Secret("b", "same-value", version=2)
    assert not operator.ne(Secret("a", "same-value"), Secret("a", "same-value"))


def test_equal_bytes_values_are_equal() -> None:
    """Two Secrets holding equal bytes values are equal."""
    assert Secret("a", b"\x00\xff") == Secret("b", b"\x00\xff")


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("value-1", "value-2"),
        ("value", "value "),
        ("value", "valu"),
        ("", "x"),
        ("Value", "value"),
        (b"value-1", b"value-2"),
        (b"\x00", b""),
    ],
)
def test_different_values_are_not_equal(left: Any, right: Any) -> None:
    """Secrets with different values are not equal."""
    assert Secret("a", left) != Secret("a", right)
    assert not operator.eq(Secret("a", left), Secret("a", right))


def test_str_and_bytes_are_never_equal() -> None:
    """A str Secret never equals a bytes Secret, even when the bytes are its UTF-8 encoding."""
    assert Secret("a", "same") != Secret("a", b"same")
    assert Secret("a", b"same") != Secret("a", "same")
    assert Secret("a", "é") != Secret("a", "é".encode())


def test_secret_is_not_equal_to_its_plain_value() -> None:
    """A Secret is not equal to a bare str or bytes, even its own value."""
    assert Secret("a", "value") != "value"
    assert operator.ne("value", Secret("a", "value"))
    assert Secret("a", b"value") != b"value"


def test_multibyte_values_compare_by_value() -> None:
    """Equal non-ASCII str values are equal; the comparison does not fail on them."""
    assert Secret("a", "pässwörd ✓ 🔐") == Secret("b", "pässwörd ✓ 🔐")
    assert Secret("a", "pässwörd") != Secret("b", "passwörd")


def test_equality_uses_constant_time_compare(monkeypatch: pytest.MonkeyPatch) -> None:
    """Secret equality goes through hmac.compare_digest on the encoded values."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert Secret("a", "x1") == Secret("b", "x1")
    assert Secret("a", b"y") != Secret("b", b"z")
    assert calls == [(b"x1", b"x1"), (b"y", b"z")]


def test_hash_refused(secret: Secret[str]) -> None:
    """hash() of a Secret raises TypeError, so it cannot be a dict key or set member."""
    with pytest.raises(TypeError):
        hash(secret)
    with pytest.raises(TypeError):
        {secret}  # noqa: B018 - building the set is the point
    with pytest.raises(TypeError):
        {secret: 1}  # noqa: B018 - building the dict is the point


def test_secret_is_always_truthy() -> None:
    """A Secret is truthy even when its value is empty, so truthiness reveals nothing."""
    assert bool(Secret("a", ""))
    assert bool(Secret("a", b""))


def test_closed_secret_refuses_reveal(secret: Secret[str], value: str) -> None:
    """After _close(), reveal() raises StrongroomError naming the secret, not containing the value."""
    secret._close()
    with pytest.raises(StrongroomError, match=re.escape("db.password")) as info:
        secret.reveal()
    assert value not in str(info.value)
    assert value not in repr(info.value)


def test_closed_secret_still_masks(secret: Secret[str]) -> None:
    """After _close(), repr() still shows the mask."""
    secret._close()
    assert repr(secret) == MASKED
    assert f"{secret}" == MASKED


def test_closed_secret_cannot_be_compared(secret: Secret[str], value: str) -> None:
    """Comparing a closed Secret raises StrongroomError rather than answering from a dead value."""
    other = Secret("other", value)
    secret._close()
    with pytest.raises(StrongroomError) as info:
        _ = secret == other
    assert value not in str(info.value)
    with pytest.raises(StrongroomError):
        _ = other == secret


def test_no_instance_dict(secret: Secret[str]) -> None:
    """A Secret has no __dict__, so vars() cannot dump its value."""
    with pytest.raises(TypeError):
        vars(secret)


names = st.text(max_size=30)


@given(name=names, value=st.text(min_size=4))
def test_mask_never_shows_value(name: str, value: str) -> None:
    """For any name and any value of 4+ characters not inside the mask frame, no rendering shows it."""
    frame = repr(Secret(name, "x"))
    assume(value not in frame)
    assume(value not in json.dumps(frame))
    s = Secret(name, value)
    for route, text in renderings(s).items():
        assert value not in text, route
    with pytest.raises(TypeError) as info:
        pickle.dumps(s)
    assert value not in str(info.value)
    with pytest.raises(TypeError) as json_info:
        json.dumps(s)
    assert value not in str(json_info.value)


@given(name=names, value=st.binary(min_size=4))
def test_mask_never_shows_bytes_value(name: str, value: bytes) -> None:
    """For any bytes value, no rendering shows its repr, hex or text form."""
    frame = repr(Secret(name, b"x"))
    shown = value.decode("latin-1")
    assume(shown not in frame and repr(value) not in frame and value.hex() not in frame)
    assume(shown not in json.dumps(frame))
    s = Secret(name, value)
    for route, text in renderings(s).items():
        assert repr(value) not in text, route
        assert value.hex() not in text, route
        assert shown not in text, route


@given(name=names, value=st.text(min_size=4))
def test_logging_never_shows_value(name: str, value: str) -> None:
    """For any value, a log record formatted with %s and %r holds only the mask."""
    frame = repr(Secret(name, "x"))
    assume(value not in frame)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("strongroom.tests.secret.property")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        s = Secret(name, value)
        logger.info("a=%s b=%r", s, s)
    finally:
        logger.removeHandler(handler)
    assert value not in stream.getvalue()
    assert stream.getvalue().count(f"Secret({name!r}, {MASK})") == 2


@given(value=st.text(), other=st.text())
def test_equality_matches_value_equality(value: str, other: str) -> None:
    """Secret equality agrees with equality of the revealed values."""
    assert (Secret("a", value) == Secret("b", other)) == (value == other)


def test_equality_of_values_with_lone_surrogates() -> None:
    """Equal str values are equal even when they hold lone surrogates, and comparing does not raise."""
    assert Secret("a", "abc\ud800def") == Secret("b", "abc\ud800def")
