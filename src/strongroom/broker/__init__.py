"""The action broker: agents call a tenant's upstream API with a credential they never see.

- ``connectors``: what an upstream API offers (``Connector``, ``Operation``, ``CredentialPlacement``), loaded
  from TOML, independent of any HTTP framework (it also backs MCP tools);
- ``proxy``: ``Broker.call()``, which takes the credential through ``Vault.use()``, injects it, forwards the
  call to the connector's one declared host and masks the credential in whatever comes back;
- ``network``: where the broker may connect (SSRF defence, DNS pinning);
- ``openapi``: the OpenAPI document a custom GPT imports to call the broker.

``Broker`` and friends are resolved lazily so that reading connectors (or building the OpenAPI document)
does not import httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from strongroom.broker.connectors import (
    Connector,
    CredentialPlacement,
    Operation,
    QueryParam,
    connector_from_dict,
    connector_to_dict,
    load_connectors,
    match_operation,
)
from strongroom.broker.openapi import gpt_actions_document

if TYPE_CHECKING:
    from strongroom.broker.proxy import Broker, BrokerResponse, UpstreamError

_LAZY = {"Broker", "BrokerResponse", "UpstreamError"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from strongroom.broker import proxy

        return getattr(proxy, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Broker",
    "BrokerResponse",
    "Connector",
    "CredentialPlacement",
    "Operation",
    "QueryParam",
    "UpstreamError",
    "connector_from_dict",
    "connector_to_dict",
    "gpt_actions_document",
    "load_connectors",
    "match_operation",
]
