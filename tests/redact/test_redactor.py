"""``Redactor``: secret-shaped fields, provider tokens, known values (automaton, pending list, rebuild), the live
registry of ``Secret`` values, structured data, big and binary inputs, and the post-check."""

from __future__ import annotations

import gc
import random
import string
import time
import warnings
from collections import namedtuple
from collections.abc import Callable

import pytest

import strongroom.redact
import strongroom.secret
from strongroom import Secret
from strongroom.live_values import LiveValues
from strongroom.redact import MASK, Redactor
from strongroom.redact.redactor import PENDING_LIMIT
from strongroom.rules import RULES
from strongroom.testing.samples import sample

RULES_BY_ID = {rule.id: rule for rule in RULES}
ALNUM = string.ascii_letters + string.digits


def _random(seed: int, length: int = 24, alphabet: str = ALNUM) -> str:
    rng = random.Random(seed)  # noqa: S311 -- test data
    return "".join(rng.choice(alphabet) for _ in range(length))


def _redactor(*values: tuple[str | bytes, str]) -> Redactor:
    redactor = Redactor(follow_live=False, live=LiveValues())
    for value, name in values:
        assert redactor.register(value, name)
    return redactor


# -- secret-shaped fields ---------------------------------------------------------------------------------

FIELDS = {
    # name: (text with {v} for the value, what must remain around the mask)
    "key=value": ("login ok password={v} user=bob", ("login ok password=[REDACTED:", "user=bob")),
    "json": ('{{"api_key": "{v}", "n": 1}}', ('{"api_key": "[REDACTED:', '", "n": 1}')),
    "header": ("X-Api-Key: {v}", ("X-Api-Key: [REDACTED:",)),
    "query": ("GET /cb?token={v}&page=2 HTTP/1.1", ("GET /cb?token=[REDACTED:",)),
    "yaml": ("oauth:\n  client_secret: {v}\n  client_id: app\n", ("  client_secret: [REDACTED:", "client_id: app")),
    "bearer": ("Authorization: Bearer {v}\nAccept: */*", ("Authorization: [REDACTED:auth-header]", "Accept: */*")),
    "cookie": ("Cookie: sid={v}; theme=dark", ("Cookie: [REDACTED:auth-header]",)),
    "set-cookie": ("Set-Cookie: sid={v}; Path=/; HttpOnly", ("Set-Cookie: [REDACTED:auth-header]",)),
    "url": (
        "connecting to postgresql://app:{v}@db.internal:5432/app",
        ("postgresql://app:[REDACTED:", "]@db.internal:5432/app"),
    ),
}


@pytest.mark.parametrize("case", sorted(FIELDS))
def test_secret_fields_are_masked_and_keys_kept(case: str) -> None:
    """A value under a secret-named key, header or URL password is masked, with the key left readable."""
    template, kept = FIELDS[case]
    value = _random(len(case))
    out = _redactor().redact(template.format(v=value))
    assert value not in out
    for text in kept:
        assert text in out, out


def test_query_parameters_after_a_secret_one_are_kept() -> None:
    """In a query string only the secret parameter's value is masked; the parameters after it stay."""
    out = _redactor().redact(f"GET /cb?token={_random(1)}&page=2 HTTP/1.1")
    assert "&page=2 HTTP/1.1" in out


@pytest.mark.parametrize(
    "rule_id", ["aws-access-key-id", "github-classic-pat", "stripe-live-secret-key", "jwt", "anthropic-api-key"]
)
def test_provider_tokens_are_masked_with_the_rule_id(rule_id: str) -> None:
    """A provider token in ordinary text (no key name around it) is masked as ``[REDACTED:<rule id>]``."""
    token = sample(RULES_BY_ID[rule_id], 11).secret
    out = _redactor().redact(f"sent {token} upstream")
    assert out == f"sent [REDACTED:{rule_id}] upstream"


def test_known_value_mask_names_the_value_even_when_a_rule_matches_too() -> None:
    """A registered value that is also a provider token is masked with its registered name, not the rule's."""
    token = sample(RULES_BY_ID["stripe-live-secret-key"], 3).secret
    redactor = _redactor((token, "stripe_key"))
    assert redactor.redact(f"charge with {token}.") == "charge with [REDACTED:stripe_key]."
    assert redactor.redact(f"api_key={token}") == "api_key=[REDACTED:stripe_key]"


# -- known values: automaton, pending list, rebuild -------------------------------------------------------


def test_value_registered_after_the_automaton_is_built_is_masked_at_once() -> None:
    """A value registered after the first redact() is masked by the next call (searched for directly)."""
    first, later = _random(1), _random(2)
    redactor = _redactor((first, "first"))
    assert redactor.redact(f"a {first}") == "a [REDACTED:first]"
    assert redactor.register(later, "later")
    assert redactor.redact(f"b {later} {first}") == "b [REDACTED:later] [REDACTED:first]"
    assert redactor._pending, "the later value should be on the pending path"


def test_more_than_pending_limit_new_values_rebuild_the_automaton() -> None:
    """After more than PENDING_LIMIT new values the automaton is rebuilt, and every value is still masked."""
    redactor = _redactor((_random(0), "v0"))
    redactor.redact("build")
    values = [_random(seed) for seed in range(1, PENDING_LIMIT + 3)]
    for index, value in enumerate(values[:PENDING_LIMIT]):
        redactor.register(value, f"n{index}")
    assert redactor.redact(values[5]) == "[REDACTED:n5]"  # still pending: searched one by one
    for value in values[PENDING_LIMIT:]:
        redactor.register(value, "late")
    out = redactor.redact(" ".join(values))
    assert redactor._pending == [], "more than PENDING_LIMIT new values should rebuild the automaton"
    for value in values:
        assert value not in out
    assert out.count("[REDACTED:") == len(values)


def test_values_of_one_or_two_characters_are_refused_with_one_warning() -> None:
    """Values of 1 or 2 characters are refused (register returns False), with a single RuntimeWarning."""
    redactor = _redactor()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert redactor.register("Q7", "pin") is False
        assert redactor.register("z", "short") is False
        assert redactor.register(b"\x01\x02", "bytes") is False
        assert redactor.register("Qz7", "three") is True
    runtime = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(runtime) == 1
    assert "too short" in str(runtime[0].message)
    assert redactor.redact("Q7 z Qz7") == "Q7 z [REDACTED:three]"


# -- the live registry of Secret values -----------------------------------------------------------------


def test_a_secret_never_revealed_is_masked_by_default(make_canary: Callable[[str], str]) -> None:
    """A ``Secret`` made in this process (not revealed, not registered) is masked by ``default()``."""
    canary = make_canary("live")
    held = Secret("probe_key", canary)
    assert strongroom.redact.redact(f"got {canary}!") == "got [REDACTED:probe_key]!"
    del held


@pytest.mark.slow
def test_a_dead_secret_is_dropped_from_the_registry_but_a_pinned_value_stays(
    monkeypatch: pytest.MonkeyPatch, make_canary: Callable[[str], str]
) -> None:
    """Once its Secret is collected (and a new registration refreshes the snapshot) a value is no longer held;
    a value pinned by register() stays and is still masked."""
    live = LiveValues()
    monkeypatch.setattr(strongroom.secret, "_note", live.note)  # Secrets made here note into this registry
    redactor = Redactor(live=live)
    pinned, held_value = make_canary("pinned"), make_canary("held")
    redactor.register(pinned, "pinned")
    held = Secret("held", held_value)
    assert redactor.redact(held_value) == "[REDACTED:held]"
    assert len(redactor) == 2
    del held
    gc.collect()
    redactor.register(make_canary("another"), "another")
    redactor.redact("refresh")
    assert len(redactor) == 2  # pinned + another; the dead Secret's value is gone
    assert redactor.redact(f"{pinned}") == "[REDACTED:pinned]"


def test_a_config_layer_secret_is_masked_by_default(make_canary: Callable[[str], str]) -> None:
    """A secret loaded by the config layer (a ``LiveSecret``) is masked by ``default()`` while its settings live,
    and loading it warns about nothing."""
    from strongroom.config import Settings, load, secret
    from strongroom.config.sources.env import EnvSource

    class AppSettings(Settings):
        api_token: Secret[str] = secret()

    canary = make_canary("config")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        settings = load(AppSettings, environment="dev", sources=[EnvSource({"API_TOKEN": canary})])
    try:
        assert canary not in strongroom.redact.redact(f"token {canary}")
        assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    finally:
        settings.close()


# -- structured data -------------------------------------------------------------------------------------

Point = namedtuple("Point", ["x", "label"])


def test_redact_data_keeps_types_and_masks_secret_keys_and_values(make_canary: Callable[[str], str]) -> None:
    """Dicts, lists, tuples, namedtuples and sets keep their types and harmless values; secret-named keys' values
    are masked whole; nested containers are walked; a Secret object shows as its mask."""
    canary = make_canary("data")
    plain_password = "pw-" + _random(12)
    redactor = _redactor((canary, "known"))
    secret_obj = Secret("db_password", make_canary("obj"))
    data = {
        "count": 3,
        "ratio": 0.5,
        "ok": True,
        "none": None,
        "password": plain_password,
        "api_key": 12345,
        "token": None,
        "secret_flag": False,
        "nested": {
            "list": [1, f"x {canary} y", {"client_secret": "abc"}],
            "tuple": (1, canary),
            "point": Point(7, canary),
            "set": {canary, "plain"},
            "frozen": frozenset({"plain"}),
        },
        "credentials": {"user": "bob", "password": "pw-abcdef"},
        "obj": secret_obj,
    }
    out = redactor.redact_data(data)
    assert type(out) is dict
    assert out["count"] == 3
    assert out["ratio"] == 0.5
    assert out["ok"] is True
    assert out["none"] is None
    assert out["password"] == MASK.format("password")
    assert out["api_key"] == "[REDACTED:api_key]"
    assert out["token"] is None
    assert out["secret_flag"] is False
    nested = out["nested"]
    assert nested["list"] == [1, "x [REDACTED:known] y", {"client_secret": "[REDACTED:client_secret]"}]
    assert nested["tuple"] == (1, "[REDACTED:known]")
    assert type(nested["tuple"]) is tuple
    assert nested["point"] == Point(7, "[REDACTED:known]")
    assert type(nested["point"]) is Point
    assert nested["set"] == {"[REDACTED:known]", "plain"}
    assert type(nested["frozen"]) is frozenset
    # Under a secret-named key every leaf is masked, structure kept (a `cookies` dict keeps only its names).
    assert out["credentials"] == {"user": "[REDACTED:credentials]", "password": "[REDACTED:password]"}
    assert out["obj"] == "[REDACTED:db_password]"
    assert data["password"] == plain_password, "the input must not be modified"


def test_redact_data_masks_a_secret_dict_key(make_canary: Callable[[str], str]) -> None:
    """A registered value used as a dict key does not survive redact_data."""
    canary = make_canary("key")
    out = _redactor((canary, "session")).redact_data({"sessions": {canary: {"user": "bob"}}})
    assert canary not in repr(out)


# -- big, binary and odd inputs ------------------------------------------------------------------------


def test_a_two_megabyte_line_with_a_value_near_the_end_is_masked(make_canary: Callable[[str], str]) -> None:
    """A single 2 MB line with a known value just before its end is masked, in reasonable time."""
    canary = make_canary("big")
    redactor = _redactor((canary, "big"))
    filler = _random(5, 2_000_000, string.ascii_lowercase + " ")
    start = time.thread_time()  # this thread's CPU time: what the work costs, not how busy the machine is
    out = redactor.redact(filler + canary + " tail")
    cpu = time.thread_time() - start
    assert canary not in out
    assert out == filler + "[REDACTED:big] tail"
    assert cpu < 10, f"masking one 2 MB line cost {cpu:.1f} s of CPU"


def test_binary_data_with_nul_bytes(make_canary: Callable[[str], str]) -> None:
    """redact_bytes masks a value between NUL and invalid UTF-8 bytes and keeps every other byte."""
    canary = make_canary("bin")
    redactor = _redactor((canary, "bin"))
    data = b"\x00\xff\xfe" + canary.encode() + b"\x00\x80tail\x00"
    assert redactor.redact_bytes(data) == b"\x00\xff\xfe[REDACTED:bin]\x00\x80tail\x00"


def test_redact_bytes_masks_a_binary_value() -> None:
    """A registered bytes value that is not valid UTF-8 is masked by redact_bytes."""
    value = bytes(random.Random(9).randrange(128, 256) for _ in range(16))  # noqa: S311 -- test data
    out = _redactor((value, "blob")).redact_bytes(b"head " + value + b" tail")
    assert value not in out


def test_a_value_with_a_lone_surrogate_does_not_break_redaction() -> None:
    """A value holding a lone surrogate (an env var with invalid UTF-8) can be registered and redaction works."""
    value = _random(3, 12) + "\udcff" + _random(4, 4)
    redactor = _redactor((value, "env"))
    assert redactor.redact("ordinary line") == "ordinary line"
    assert value not in redactor.redact(f"v={value}")


def test_the_repr_of_a_value_is_masked() -> None:
    """A value logged with %r (or inside a logged dict) is masked, whatever characters it holds."""
    value = _random(6, 8) + "'\"\x01\xa0" + _random(7, 8)
    redactor = _redactor((value, "pw"))
    out = redactor.redact(f"args={value!r} ctx={ {'x': value} }")
    assert "[REDACTED:pw]" in out
    assert repr(value)[1:-1] not in out


# -- the post-check ----------------------------------------------------------------------------------------


def test_a_value_made_by_masking_is_caught_by_the_post_check() -> None:
    """A value that appears only once another is masked (it contains that mask) makes the whole output one mask."""
    inner = _random(8, 12)
    outer = "[REDACTED:a]" + _random(9, 6)
    redactor = _redactor((inner, "a"), (outer, "b"))
    text = inner + outer[len("[REDACTED:a]") :]
    out = redactor.redact(f"pre {text} post")
    assert outer not in out
    assert out == "[REDACTED:text]"


def test_a_value_equal_to_part_of_the_mask_never_appears() -> None:
    """A registered value that is part of the mask text ("REDACTED") gives a fully masked output without it."""
    redactor = _redactor(("REDACTED", "odd"))
    out = redactor.redact("status REDACTED by policy")
    assert "REDACTED" not in out
