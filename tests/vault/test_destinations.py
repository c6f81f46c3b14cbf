"""A secret's destination policy: its parsing and matching, and the vault's check before decrypting."""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongroom.errors import AccessDenied, InvalidInput, NotFound
from strongroom.vault import Vault
from strongroom.vault.destinations import (
    AllowedDestination,
    Destination,
    DestinationPolicy,
    allowed,
    canonical_origin,
    canonical_placement,
    parse_option,
)

STRIPE = "https://api.stripe.com"

# -- parsing and matching -------------------------------------------------------------------------------------

_label = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=12)
hosts = st.lists(_label, min_size=1, max_size=4).map(".".join)
ports = st.one_of(st.none(), st.integers(1, 65535))
schemes = st.sampled_from(["https", "http"])
placements = st.one_of(
    st.sampled_from(["bearer", "basic"]),
    st.from_regex(r"[A-Za-z0-9-]{1,20}", fullmatch=True).map(lambda n: f"header:{n}"),
    st.from_regex(r"[A-Za-z0-9_.~-]{1,20}", fullmatch=True).map(lambda n: f"query:{n}"),
)
connector_names = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)


@st.composite
def origins(draw: st.DrawFn) -> str:
    scheme, host, port = draw(schemes), draw(hosts), draw(ports)
    return f"{scheme}://{host}" + ("" if port is None else f":{port}")


entries = st.builds(
    AllowedDestination,
    origins(),
    st.lists(placements, min_size=1, max_size=4).map(tuple),
    st.one_of(st.none(), st.lists(connector_names, min_size=1, max_size=3).map(tuple)),
)
policies = st.lists(entries, max_size=5).map(lambda e: DestinationPolicy(tuple(e)))


@given(origins())
def test_canonical_origin_is_idempotent_and_ignores_case_and_default_ports(origin: str) -> None:
    canonical = canonical_origin(origin)
    assert canonical_origin(canonical) == canonical
    assert canonical_origin(origin.upper()) == canonical
    scheme, _, rest = canonical.partition("://")
    if ":" not in rest:  # no port written: the default port is the same origin
        assert canonical_origin(f"{canonical}:{443 if scheme == 'https' else 80}") == canonical
        assert canonical_origin(canonical + "/") == canonical


@given(policies)
def test_a_policy_survives_its_canonical_json(policy: DestinationPolicy) -> None:
    text = policy.to_json()
    again = DestinationPolicy.from_json(text)
    assert again == policy
    assert again.to_json() == text
    assert DestinationPolicy(tuple(reversed(policy.entries))).to_json() == text  # order does not matter


@given(policies, st.data())
def test_a_policy_allows_exactly_its_entries(policy: DestinationPolicy, data: st.DataObject) -> None:
    for entry in policy.entries:
        placement = data.draw(st.sampled_from(entry.placements))
        connector = data.draw(st.sampled_from(entry.connectors)) if entry.connectors else "any-connector"
        assert policy.allows(Destination(entry.origin, placement, connector, declared=False))
        assert allowed(policy, Destination(entry.origin, placement, connector, declared=True))
    elsewhere = Destination("https://elsewhere.invalid", "bearer", "x", declared=True)
    assert not policy.allows(elsewhere)


@given(placements)
def test_placements_are_canonical(placement: str) -> None:
    canonical = canonical_placement(placement)
    assert canonical_placement(canonical) == canonical
    if placement.startswith("header:"):
        assert canonical_placement(placement.upper().replace("HEADER:", "header:")) == canonical


def test_header_names_match_in_any_case_and_query_names_do_not() -> None:
    policy = DestinationPolicy((AllowedDestination(STRIPE, ("header:X-Api-Key", "query:Key")),))
    assert policy.allows(Destination(STRIPE, "header:x-api-key", "c", declared=False))
    assert not policy.allows(Destination(STRIPE, "query:key", "c", declared=False))


def test_no_policy_means_declared_connectors_only() -> None:
    assert allowed(None, Destination(STRIPE, "bearer", "stripe", declared=True))
    assert not allowed(None, Destination(STRIPE, "bearer", "stripe", declared=False))
    assert not allowed(DestinationPolicy(()), Destination(STRIPE, "bearer", "stripe", declared=True))


def test_a_connector_restriction_needs_the_origin_and_the_connector() -> None:
    policy = DestinationPolicy((AllowedDestination(STRIPE, ("bearer",), ("stripe",)),))
    assert policy.allows(Destination(STRIPE, "bearer", "stripe", declared=False))
    assert not policy.allows(Destination(STRIPE, "bearer", "other", declared=False))
    assert not policy.allows(Destination("https://attacker.example", "bearer", "stripe", declared=False))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("https://api.stripe.com", "must be a list"),
        ([{"origin": "https://api.stripe.com/v1", "placements": ["bearer"]}], "no path"),
        ([{"origin": "ftp://api.stripe.com", "placements": ["bearer"]}], "https://"),
        ([{"origin": "https://user:pw@api.stripe.com", "placements": ["bearer"]}], "credentials"),
        ([{"origin": "https://api.stripe.com", "placements": []}], "at least one placement"),
        ([{"origin": "https://api.stripe.com", "placements": ["cookie"]}], "header:<Name>"),
        ([{"origin": "https://api.stripe.com", "placements": "bearer"}], "must be a list"),
        ([{"origin": "https://api.stripe.com"}], "'placements' is missing"),
        ([{"origin": "https://api.stripe.com", "placements": ["bearer"], "host": "x"}], "unknown field"),
        ([{"origin": "https://api.stripe.com", "placements": ["bearer"], "connectors": ["Bad Name"]}], "connector"),
        ([{"origin": "https://api.stripe.com:0", "placements": ["bearer"]}], "port 0"),
        ([{"origin": "https://api.stripe.com:99999", "placements": ["bearer"]}], "not a valid URL"),
        ([{"origin": "https://bücher.example", "placements": ["bearer"]}], "punycode"),
        ([["https://api.stripe.com", "bearer"]], "must be an object"),
    ],
)
def test_bad_policies_are_refused_naming_the_problem(data: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        DestinationPolicy.from_data(data)


def test_the_cli_option_form() -> None:
    assert parse_option("https://API.stripe.com=bearer,header:X-Key") == AllowedDestination(
        STRIPE, ("bearer", "header:x-key")
    )
    with pytest.raises(InvalidInput, match="ORIGIN=PLACEMENT"):
        parse_option("https://api.stripe.com")


# -- the vault --------------------------------------------------------------------------------------------------

STRIPE_BEARER = DestinationPolicy((AllowedDestination(STRIPE, ("bearer",)),))
TO_STRIPE = Destination(STRIPE, "bearer", "stripe", declared=False)
TO_ATTACKER = Destination("https://attacker.example", "bearer", "exfil", declared=False)


def _denied(vault: Vault, tenant: str) -> list[Any]:
    return [e for e in vault.audit_events(tenant=tenant) if e.action == "secret.use" and e.outcome == "denied"]


def test_a_refused_destination_is_audited_before_any_key_is_unwrapped(
    open_vault: Callable[..., Vault], key_provider: Any, make_canary: Callable[[str], str]
) -> None:
    writer = open_vault()
    writer.create_tenant("t")
    writer.put("t", "k", make_canary("policy"), destinations=STRIPE_BEARER)
    reader = open_vault()  # another process: no data key unwrapped (opening loads root and audit keys only)
    unwrapped = reader._dek_cache  # every data key this process unwraps to decrypt lands here
    assert len(unwrapped) == 0

    with pytest.raises(AccessDenied) as refused:
        reader.use("t", "k", purpose="broker:exfil", destination=TO_ATTACKER)
    assert "https://attacker.example" in str(refused.value)
    assert "'k'" in str(refused.value)
    assert len(unwrapped) == 0
    assert [e.purpose for e in _denied(reader, "t")] == ["broker:exfil"]

    with reader.use("t", "k", purpose="broker:stripe", destination=TO_STRIPE) as secret:
        assert secret.reveal().startswith("policy")
    assert len(unwrapped) == 1
    # Now hot: the refusal comes from the cached row, with no read and no decrypt.
    assert reader.use_if_hot("t", "k", purpose="broker:stripe", destination=TO_STRIPE) is not None
    with pytest.raises(AccessDenied):
        reader.use_if_hot("t", "k", purpose="broker:exfil", destination=TO_ATTACKER)
    with pytest.raises(AccessDenied):
        reader.use("t", "k", purpose="broker:stripe-q", destination=Destination(STRIPE, "query:key", "q", False))
    assert len(_denied(reader, "t")) == 3


def test_without_a_policy_only_declared_connectors_get_it(
    open_vault: Callable[..., Vault], make_canary: Callable[[str], str]
) -> None:
    vault = open_vault()
    vault.create_tenant("t")
    vault.put("t", "k", make_canary("nopolicy"))
    with vault.use("t", "k", purpose="broker:echo", destination=Destination(STRIPE, "bearer", "echo", True)):
        pass
    with pytest.raises(AccessDenied, match="no destination policy"):
        vault.use("t", "k", purpose="broker:mine", destination=Destination(STRIPE, "bearer", "mine", False))
    with vault.use("t", "k", purpose="library") as secret:  # no destination: not a broker use
        assert secret.reveal().startswith("nopolicy")


def test_a_new_version_keeps_the_policy_and_a_change_is_audited(
    open_vault: Callable[..., Vault], make_canary: Callable[[str], str]
) -> None:
    vault = open_vault()
    vault.create_tenant("t")
    first = vault.put("t", "k", make_canary("v1"), destinations=STRIPE_BEARER)
    assert first.destinations == STRIPE_BEARER
    second = vault.put("t", "k", make_canary("v2"))
    assert second.destinations == STRIPE_BEARER
    vault.put("t", "k", make_canary("v3"), destinations=STRIPE_BEARER)  # the same policy: no new event
    wider = DestinationPolicy((*STRIPE_BEARER.entries, AllowedDestination("https://api.other.example", ("basic",))))
    vault.put("t", "k", make_canary("v4"), destinations=wider)
    [info] = vault.list("t")
    assert info.destinations == wider
    assert info.to_dict()["destinations"] == wider.to_data()
    events = [e for e in vault.audit_events(tenant="t") if e.action == "secret.policy"]
    assert [(e.version, e.outcome) for e in events] == [(1, "ok"), (4, "ok")]
    assert "https://api.other.example" in (events[-1].detail or "")


def test_a_caller_without_destinations_write_cannot_set_or_change_any_policy(
    open_vault: Callable[..., Vault], make_canary: Callable[[str], str]
) -> None:
    vault = open_vault()
    vault.create_tenant("t")
    attacker = DestinationPolicy((AllowedDestination("https://attacker.example", ("bearer",)),))
    # Not on a new secret either: the owner's next version, written without a policy, would keep it.
    with pytest.raises(AccessDenied, match="destinations:write"):
        vault.put("t", "new", make_canary("new"), destinations=attacker, may_change_destinations=False)
    assert "new" not in {i.name for i in vault.list("t")}
    vault.put("t", "k", make_canary("v1"), destinations=STRIPE_BEARER)
    with pytest.raises(AccessDenied, match="destinations:write"):
        vault.put("t", "k", make_canary("v2"), destinations=attacker, may_change_destinations=False)
    [info] = [i for i in vault.list("t") if i.name == "k"]
    assert (info.version, info.destinations) == (1, STRIPE_BEARER)  # rolled back whole
    refused = [e for e in vault.audit_events(tenant="t") if e.outcome == "denied"]
    assert [(e.action, e.secret_name) for e in refused] == [("secret.policy", "new"), ("secret.policy", "k")]
    # The same policy again, or none, is no change.
    vault.put("t", "k", make_canary("v2"), destinations=STRIPE_BEARER, may_change_destinations=False)
    vault.put("t", "k", make_canary("v3"), may_change_destinations=False)
    # Deleted (or purged) and written again: the policy stays, and only destinations:write changes it.
    vault.delete("t", "k")
    with pytest.raises(AccessDenied, match="destinations:write"):
        vault.put("t", "k", make_canary("v4"), destinations=attacker, may_change_destinations=False)
    vault.purge("t", "k")
    recreated = vault.put("t", "k", make_canary("v5"), may_change_destinations=False)
    assert recreated.destinations == STRIPE_BEARER


def test_set_destinations_applies_at_once_and_is_audited(
    open_vault: Callable[..., Vault], make_canary: Callable[[str], str]
) -> None:
    vault = open_vault()
    vault.create_tenant("t")
    vault.put("t", "k", make_canary("set"))
    with pytest.raises(AccessDenied):
        vault.use("t", "k", purpose="broker:stripe", destination=TO_STRIPE)
    info = vault.set_destinations("t", "k", STRIPE_BEARER, actor="admin")
    assert (info.version, info.destinations) == (1, STRIPE_BEARER)
    with vault.use("t", "k", purpose="broker:stripe", destination=TO_STRIPE):
        pass
    vault.set_destinations("t", "k", None)
    with pytest.raises(AccessDenied):  # the hot entry was dropped with the change
        vault.use("t", "k", purpose="broker:stripe", destination=TO_STRIPE)
    events = [e for e in vault.audit_events(tenant="t") if e.action == "secret.policy"]
    assert [e.actor for e in events] == ["admin", "test"]
    with pytest.raises(NotFound):
        vault.set_destinations("t", "missing", STRIPE_BEARER)


def test_internal_secrets_are_never_used_by_the_broker_nor_listed(
    open_vault: Callable[..., Vault], make_canary: Callable[[str], str]
) -> None:
    from strongroom.tokens.shares import Shares

    vault = open_vault()
    vault.create_tenant("t")
    Shares(vault).create("t", make_canary("shared"), actor="test")
    [name] = {e.secret_name for e in vault.audit_events(tenant="t") if e.action == "secret.put"}
    assert name is not None
    assert name.startswith("share.")
    declared = Destination(STRIPE, "bearer", "echo", declared=True)
    with pytest.raises(NotFound):
        vault.use("t", name, purpose="broker:echo", destination=declared)
    with pytest.raises(NotFound):
        vault.set_destinations("t", name, STRIPE_BEARER)
    assert vault.list("t", include_deleted=True) == []


def test_a_policy_is_kept_across_processes(open_vault: Callable[..., Vault], make_canary: Callable[[str], str]) -> None:
    writer = open_vault()
    writer.create_tenant("t")
    writer.put("t", "k", make_canary("kept"), destinations=STRIPE_BEARER)
    reader = open_vault()
    [info] = reader.list("t")
    assert info.destinations == STRIPE_BEARER
