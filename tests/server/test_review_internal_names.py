"""A tenant credential cannot write, delete or use strongroom's own ``share.*`` secrets through the API.

A share's value is stored as the tenant's ephemeral secret ``share.<24 hex>``; its name shows in the tenant's
own audit chain (``share.create``). Listings hide it, so a write must not be able to make such a secret (a
value hidden from every listing), and a delete must not be able to break a link that was handed out.
"""

from __future__ import annotations

from typing import Any

import pytest

from strongroom.errors import InvalidInput, NotFound
from strongroom.tokens.shares import Shares
from strongroom.vault import Vault
from strongroom.vocabulary import SHARE_SECRET_PREFIX, Action


def _share_secret_name(service: Any, tenant: Any) -> str:
    audit = service.client.get(
        "/v1/audit", params={"action": Action.SHARE_CREATE}, headers=service.auth(tenant.key)
    ).json()
    names = {e["secret_name"] for e in audit}
    assert len(names) == 1, audit
    name: str = names.pop()
    assert name.startswith(SHARE_SECRET_PREFIX)
    return name


def test_a_tenant_key_cannot_write_a_secret_hidden_from_every_listing(service: Any, make_canary: Any) -> None:
    s = service
    value = make_canary("hidden")
    for name in (f"{SHARE_SECRET_PREFIX}stash", SHARE_SECRET_PREFIX + "0" * 24):
        put = s.client.put(f"/v1/tenants/{s.a.name}/secrets/{name}", json={"value": value}, headers=s.auth(s.a.key))
        s.assert_error(put, 400, code="invalid_input")
        assert value not in put.text
    listed = s.client.get(f"/v1/tenants/{s.a.name}/secrets", params={"include_deleted": True}, headers=s.auth(s.a.key))
    assert listed.json() == []


def test_a_tenant_key_cannot_delete_or_overwrite_the_value_behind_a_handed_out_link(
    service: Any, make_canary: Any
) -> None:
    s = service
    value = make_canary("shared")
    made = s.client.post(f"/v1/tenants/{s.a.name}/shares", json={"value": value}, headers=s.auth(s.a.key))
    assert made.status_code == 201, made.text
    name = _share_secret_name(s, s.a)
    for purge in (False, True):
        gone = s.client.delete(
            f"/v1/tenants/{s.a.name}/secrets/{name}", params={"purge": purge}, headers=s.auth(s.a.key)
        )
        s.assert_error(gone, 404, code="not_found")
    over = s.client.put(
        f"/v1/tenants/{s.a.name}/secrets/{name}", json={"value": make_canary("other")}, headers=s.auth(s.a.key)
    )
    s.assert_error(over, 400, code="invalid_input")
    redeemed = s.client.get(f"/v1/shares/{made.json()['token']}")
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.text == value


def test_the_vault_refuses_share_names_on_its_public_methods(vault: Vault, make_canary: Any) -> None:
    vault.create_tenant("acme")
    value = make_canary("shared")
    token, _ = Shares(vault).create("acme", value, actor="test")
    (name,) = {e.secret_name for e in vault.audit_events(tenant="acme", action=Action.SHARE_CREATE)}
    assert name is not None
    with pytest.raises(InvalidInput) as put_refused:
        vault.put("acme", name, make_canary("other"))
    assert value not in str(put_refused.value)
    with pytest.raises(NotFound):
        vault.use("acme", name, purpose="read the share")
    with pytest.raises(NotFound):
        vault.delete("acme", name)
    with pytest.raises(NotFound):
        vault.purge("acme", name)
    with Shares(vault).redeem(token.reveal()) as shared:
        assert shared.reveal() == value
