"""The connector model: TOML loading (every problem named by file, connector and field), dicts, matching."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from strongroom.broker import (
    Connector,
    CredentialPlacement,
    Operation,
    connector_from_dict,
    connector_to_dict,
    load_connectors,
    match_operation,
)
from strongroom.errors import InvalidInput, NotFound

GOOD = textwrap.dedent("""
    [[connector]]
    name = "crm"
    base_url = "https://api.crm.example/base/"
    description = "The CRM: contacts and deals."
    timeout_seconds = 20
    max_response_bytes = 50000

    [connector.credential]
    kind = "bearer"
    secret = "crm_token"

    [[connector.operation]]
    id = "get_contact"
    method = "get"
    path = "/v3/contacts/{contact_id}"
    summary = "Get one contact"

    [[connector.operation]]
    id = "search_contacts"
    method = "GET"
    path = "/v3/contacts/search"
    summary = "Search contacts"
    description = "Full-text search over contacts."

    [[connector.operation]]
    id = "update_contact"
    method = "PATCH"
    path = "/v3/contacts/{contact_id}"
    summary = "Update a contact"
    consequential = false

    [[connector]]
    name = "mail-api"
    base_url = "https://mail.example"
    description = "Mail."

    [connector.credential]
    kind = "basic"
    secret = "mail_key"
    username = "api"

    [[connector.operation]]
    id = "send"
    method = "POST"
    path = "/v1/{domain}/messages.json"
    summary = "Send a message"
""")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "connectors.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_good_file_loads(tmp_path: Path) -> None:
    crm, mail = load_connectors(write(tmp_path, GOOD))
    assert (crm.name, crm.host, crm.port, crm.base_path, crm.timeout_seconds) == (
        "crm",
        "api.crm.example",
        443,
        "/base",
        20,
    )
    assert [op.id for op in crm.operations] == ["get_contact", "search_contacts", "update_contact"]
    assert crm.operations[0].method == "GET"
    assert not crm.operation("get_contact").is_consequential
    assert not crm.operation("update_contact").is_consequential  # explicit
    assert mail.operation("send").is_consequential  # a write, by default
    assert mail.credential == CredentialPlacement("basic", "mail_key", username="api")
    assert mail.operation("send").placeholders == ("domain",)


def test_dicts_are_json_safe_and_round_trip(tmp_path: Path) -> None:
    for connector in load_connectors(write(tmp_path, GOOD)):
        data = json.loads(json.dumps(connector_to_dict(connector)))
        assert connector_from_dict(data, where="api") == connector


BAD = [
    ("missing file", None, ["connectors.toml", "cannot be read"]),
    ("bad toml", "[[connector]\n", ["connectors.toml", "not valid TOML"]),
    ("no connector", "title = 'x'\n", ["unknown top-level key 'title'", "no [[connector]] table"]),
    (
        "http",
        GOOD.replace("https://mail.example", "http://mail.example"),
        ["connectors.toml", "connector 'mail-api'", "field 'base_url'", "https"],
    ),
    (
        "private ip",
        GOOD.replace("https://mail.example", "https://10.0.0.7"),
        ["connector 'mail-api'", "field 'base_url'", "non-public"],
    ),
    (
        "query in base url",
        GOOD.replace("https://mail.example", "https://mail.example/?x=1"),
        ["connector 'mail-api'", "field 'base_url'", "query"],
    ),
    (
        "userinfo",
        GOOD.replace("https://mail.example", "https://u:p@mail.example"),
        ["connector 'mail-api'", "field 'base_url'", "credentials"],
    ),
    (
        "timeout",
        GOOD.replace("timeout_seconds = 20", "timeout_seconds = 60"),
        ["connector 'crm'", "field 'timeout_seconds'"],
    ),
    (
        "max bytes",
        GOOD.replace("max_response_bytes = 50000", "max_response_bytes = 0"),
        ["connector 'crm'", "field 'max_response_bytes'"],
    ),
    ("bad name", GOOD.replace('name = "crm"', 'name = "CRM!"'), ["connector 'CRM!'", "field 'name'"]),
    ("duplicate connector", GOOD.replace('name = "mail-api"', 'name = "crm"'), ["connector name 'crm' appears twice"]),
    (
        "duplicate operation",
        GOOD.replace('id = "search_contacts"', 'id = "get_contact"'),
        ["connector 'crm'", "operation id 'get_contact' appears twice"],
    ),
    (
        "bad method",
        GOOD.replace('method = "PATCH"', 'method = "TRACE"'),
        ["connector 'crm'", "operation #3 'update_contact'", "field 'method'"],
    ),
    (
        "bad placeholder",
        GOOD.replace("{domain}", "{Domain}"),
        ["connector 'mail-api'", "operation #1 'send'", "field 'path'", "placeholder {Domain}"],
    ),
    (
        "traversal in template",
        GOOD.replace("/v3/contacts/search", "/v3/../admin"),
        ["operation #2 'search_contacts'", "field 'path'", "'..'"],
    ),
    (
        "query in template",
        GOOD.replace("/v3/contacts/search", "/v3/contacts?all=1"),
        ["operation #2 'search_contacts'", "field 'path'"],
    ),
    (
        "missing summary",
        GOOD.replace('summary = "Send a message"', ""),
        ["connector 'mail-api'", "operation #1 'send'", "field 'summary' is missing"],
    ),
    (
        "unknown field",
        GOOD.replace('summary = "Send a message"', 'summary = "Send"\nverb = "POST"'),
        ["operation #1 'send'", "unknown field 'verb'"],
    ),
    (
        "header without name",
        GOOD.replace('kind = "bearer"', 'kind = "header"'),
        ["connector 'crm'", "credential", "field 'name'"],
    ),
    (
        "credential in a reserved header",
        GOOD.replace('kind = "bearer"', 'kind = "header"\nname = "Cookie"'),
        ["connector 'crm'", "credential", "controlled by the broker"],
    ),
    (
        "username with colon",
        GOOD.replace('username = "api"', 'username = "a:b"'),
        ["connector 'mail-api'", "credential", "field 'username'"],
    ),
    ("bad kind", GOOD.replace('kind = "basic"', 'kind = "oauth"'), ["connector 'mail-api'", "field 'kind'"]),
    (
        "ambiguous operations",
        GOOD.replace('path = "/v3/contacts/search"', 'path = "/v3/contacts/{id}"'),
        ["connector 'crm'", "both match GET /v3/contacts/{}"],
    ),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in BAD], ids=[c for c, _, _ in BAD])
def test_every_problem_names_the_file_the_connector_and_the_field(
    tmp_path: Path, text: str | None, expected: list[str]
) -> None:
    path = tmp_path / "connectors.toml" if text is None else write(tmp_path, text)
    with pytest.raises(InvalidInput) as info:
        load_connectors(path)
    message = str(info.value)
    assert str(path) in message
    for part in expected:
        assert part in message


def test_all_problems_of_a_file_are_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("timeout_seconds = 20", "timeout_seconds = 60").replace('kind = "basic"', 'kind = "x"')
    with pytest.raises(InvalidInput, match="3 problems") as info:
        load_connectors(write(tmp_path, text))
    assert "connector 'crm'" in str(info.value)
    assert "connector 'mail-api'" in str(info.value)


def test_direct_construction_is_validated() -> None:
    with pytest.raises(InvalidInput, match="field 'method'"):
        Operation("x", "get", "/a", "A")
    with pytest.raises(InvalidInput, match="field 'name'"):
        CredentialPlacement("query", "s")
    with pytest.raises(InvalidInput, match="field 'operations'"):
        Connector("c", "https://a.example", "d", (), CredentialPlacement("bearer", "s"))


CONNECTOR = Connector(
    name="crm",
    base_url="https://api.crm.example",
    description="CRM",
    credential=CredentialPlacement("bearer", "crm_token"),
    operations=(
        Operation("get_contact", "GET", "/v3/contacts/{contact_id}", "Get"),
        Operation("search", "GET", "/v3/contacts/search", "Search"),
        Operation("file", "GET", "/v3/files/{name}.json", "A file"),
        Operation("delete_contact", "DELETE", "/v3/contacts/{contact_id}", "Delete"),
        Operation("root", "GET", "/", "Root"),
    ),
)


@pytest.mark.parametrize(
    ("method", "path", "operation", "params"),
    [
        ("GET", "/v3/contacts/42", "get_contact", {"contact_id": "42"}),
        ("get", "/v3/contacts/42/", "get_contact", {"contact_id": "42"}),
        ("GET", "/v3/contacts/a%20b%C3%A9", "get_contact", {"contact_id": "a bé"}),
        ("GET", "/v3/contacts/search", "search", {}),
        ("GET", "/v3/files/report.json", "file", {"name": "report"}),
        ("DELETE", "/v3/contacts/7", "delete_contact", {"contact_id": "7"}),
        ("GET", "/", "root", {}),
    ],
)
def test_matching(method: str, path: str, operation: str, params: dict[str, str]) -> None:
    op, values = match_operation(CONNECTOR, method, path)
    assert (op.id, values) == (operation, params)


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v3/contacts/1"), ("GET", "/v3/contacts/1/extra"), ("GET", "/v3/other"), ("TRACE", "/")],
)
def test_no_match_is_not_found(method: str, path: str) -> None:
    with pytest.raises(NotFound):
        match_operation(CONNECTOR, method, path)


@pytest.mark.parametrize(
    "path",
    [
        "/v3/contacts/..",
        "/v3/contacts/%2E%2E",
        "/v3/contacts/a%2Fb",
        "/v3/contacts/a\\b",
        "/v3/contacts/%5C",
        "/v3/contacts/%0A",
        "/v3/contacts/%00",
        "/v3/contacts/\x7f",
        "/v3//contacts",
        "/v3/contacts/%25%32%65",
        "/v3/contacts/%FF",
        "v3/contacts/1",
        "/v3/contacts/1?x",
        "/v3/contacts/1#x",
    ],
)
def test_unsafe_paths_are_invalid_and_named_without_echoing(path: str) -> None:
    with pytest.raises(InvalidInput) as info:
        match_operation(CONNECTOR, "GET", path)
    assert path not in str(info.value)
