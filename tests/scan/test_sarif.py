"""SARIF output: the log's shape, levels and security severities, locations, and a read-back by sarif-tools.

Findings are built directly (fingerprints are hashes computed here, values are generated at test time), so
no literal in this file looks like a credential.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import string
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from sarif import loader  # type: ignore[import-untyped]  # sarif-tools ships no type information

from strongroom.errors import InvalidInput
from strongroom.rules import RULES
from strongroom.rules.base import Rule
from strongroom.scan import Finding, Scanner
from strongroom.scan.sarif import FINGERPRINT_KEY, SCHEMA_URI, SRCROOT, to_sarif
from strongroom.testing import assert_not_leaked

DEMO = Rule(
    id="demo-token",
    description="a demo token",
    pattern=r"\bdemo_(?P<secret>[a-z0-9]{16})\b",
    keywords=("demo_",),
    entropy=3.0,
    severity="critical",
)
OTHER = Rule(id="other-key", description="another key", pattern=r"other_[a-z]{8}", keywords=("other_",), severity="low")
SCHEMA_ENV = "STRONGROOM_SARIF_SCHEMA"  # path to a local copy of sarif-schema-2.1.0.json, to validate against


def _fingerprint(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def _finding(
    rule: Rule, path: str = "src/app.py", line: int = 3, column: int = 7, length: int = 16, **extra: Any
) -> Finding:
    return Finding(
        rule.id,
        rule.description,
        rule.severity,
        path,
        line,
        column,
        length,
        fingerprint=_fingerprint(f"{rule.id}{path}{line}"),
        **extra,
    )


def _result(log: dict[str, Any], index: int = 0) -> dict[str, Any]:
    result: dict[str, Any] = log["runs"][0]["results"][index]
    return result


def test_log_names_schema_version_and_tool() -> None:
    """The log is SARIF 2.1.0 with one run whose driver is strongroom at the given version."""
    log = to_sarif([_finding(DEMO)], [DEMO], tool_version="1.2.3")
    assert (log["$schema"], log["version"]) == (SCHEMA_URI, "2.1.0")
    assert len(log["runs"]) == 1
    driver = log["runs"][0]["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("strongroom", "1.2.3")
    assert driver["informationUri"].startswith("https://")


def test_rules_lists_only_rules_with_findings_in_given_order() -> None:
    """tool.driver.rules holds exactly the rules that have findings, in the order of the rules argument."""
    first, second = RULES[0], RULES[-1]
    log = to_sarif([_finding(second), _finding(first), _finding(second, line=9)], RULES, tool_version="0")
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [first.id, second.id]
    assert [_result(log, i)["ruleIndex"] for i in range(3)] == [1, 0, 1]


@pytest.mark.parametrize(
    ("severity", "level", "score"),
    [
        ("critical", "error", "9.5"),
        ("high", "error", "8.0"),
        ("medium", "warning", "5.5"),
        ("low", "note", "3.0"),
    ],
)
def test_severity_sets_level_and_security_severity(severity: str, level: str, score: str) -> None:
    """Each severity maps to its SARIF level on rule and result, and to GitHub's security-severity score."""
    rule = Rule(id="sev-rule", description="a rule", pattern="x", keywords=("x",), severity=severity)
    log = to_sarif([_finding(rule)], [rule], tool_version="0")
    [descriptor] = log["runs"][0]["tool"]["driver"]["rules"]
    assert descriptor["defaultConfiguration"]["level"] == level
    assert _result(log)["level"] == level
    assert descriptor["properties"]["security-severity"] == score
    assert descriptor["properties"]["tags"] == ["security", "secret"]
    assert (descriptor["name"], descriptor["shortDescription"]["text"]) == ("SevRule", "a rule")


def test_result_has_region_fingerprint_and_no_history_properties() -> None:
    """A result's region runs from the secret's column to the column after it; its fingerprint is kept."""
    finding = _finding(DEMO, line=12, column=5, length=20)
    result = _result(to_sarif([finding], [DEMO], tool_version="0"))
    location = result["locations"][0]["physicalLocation"]
    assert location["region"] == {"startLine": 12, "startColumn": 5, "endColumn": 25}
    assert location["artifactLocation"] == {"uri": "src/app.py", "uriBaseId": SRCROOT}
    assert result["partialFingerprints"] == {FINGERPRINT_KEY: finding.fingerprint}
    assert "properties" not in result


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        ("src/my app/config.py", "src/my%20app/config.py"),
        ("./deploy/.env", "deploy/.env"),
        ("notes#1?.txt", "notes%231%3F.txt"),
        ("c:name.txt", "c%3Aname.txt"),  # not a URI scheme
        ("caf\u00e9.yaml", "caf%C3%A9.yaml"),
        ("<stdin>", "%3Cstdin%3E"),
    ],
)
def test_relative_paths_become_percent_encoded_uri_references(path: str, uri: str) -> None:
    """A relative path is a POSIX, percent-encoded URI reference under %SRCROOT%."""
    location = _result(to_sarif([_finding(DEMO, path=path)], [DEMO], tool_version="0"))["locations"][0]
    assert location["physicalLocation"]["artifactLocation"] == {"uri": uri, "uriBaseId": SRCROOT}


def test_absolute_path_becomes_file_uri() -> None:
    """An absolute path is a file: URI with no uriBaseId."""
    location = _result(to_sarif([_finding(DEMO, path="/srv/my app/a.py")], [DEMO], tool_version="0"))["locations"][0]
    assert location["physicalLocation"]["artifactLocation"] == {"uri": "file:///srv/my%20app/a.py"}


def test_git_findings_carry_commit_author_and_date() -> None:
    """A finding from history has commit, author and date in the result's properties and the commit in its text."""
    commit = hashlib.sha1(b"commit").hexdigest()  # noqa: S324 -- a stand-in commit id, not security
    finding = _finding(DEMO, commit=commit, author="A. Person <a@example.org>", date="2024-05-01T10:00:00+00:00")
    result = _result(to_sarif([finding], [DEMO], tool_version="0"))
    assert result["properties"] == {
        "commit": commit,
        "author": "A. Person <a@example.org>",
        "date": "2024-05-01T10:00:00+00:00",
    }
    assert commit[:12] in result["message"]["text"]


def test_finding_of_an_unlisted_rule_gets_a_descriptor_from_the_finding() -> None:
    """A finding whose rule is not in the rules argument (e.g. a known vault value) still has a rule entry."""
    finding = Finding(
        "known-value", "a value stored in the vault", "high", "a.py", 1, 1, 10, fingerprint=_fingerprint("k")
    )
    log = to_sarif([_finding(DEMO), finding], [DEMO], tool_version="0")
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["demo-token", "known-value"]
    assert rules[1]["shortDescription"]["text"] == "a value stored in the vault"
    assert _result(log, 1)["ruleIndex"] == 1


def test_unknown_severity_is_invalid_input() -> None:
    """A finding with a severity outside low..critical is refused by name, not with a KeyError."""
    finding = Finding("odd-rule", "odd", "severe", "a.py", 1, 1, 4)
    with pytest.raises(InvalidInput, match=r"odd-rule.*'severe'"):
        to_sarif([finding], [], tool_version="0")


def test_message_names_rule_and_masks_secret_and_value_never_appears() -> None:
    """Scanned for real, the SARIF text gives the rule and the masked secret, and no byte of the value."""
    rng = random.Random(7)  # noqa: S311 -- test data, not keys
    body = "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(16))
    findings = Scanner([DEMO]).scan_text(f"x = 1\ntoken = 'demo_{body}'\n", "app.py")
    assert findings
    log = to_sarif(findings, [DEMO], tool_version="0")
    text = _result(log)["message"]["text"]
    assert "demo-token" in text
    assert findings[0].masked in text
    assert_not_leaked([body], json.dumps(log))


def test_sarif_tools_reads_back_every_rule_file_and_line(tmp_path: Path) -> None:
    """sarif-tools loads the written log and sees each finding's rule id, file, line and severity."""
    findings = [
        _finding(DEMO, path="src/app.py", line=3),
        _finding(OTHER, path="conf/my settings.ini", line=41, length=14),
        _finding(DEMO, path="deploy/.env", line=1, column=1),
    ]
    target = tmp_path / "out.sarif"
    target.write_text(json.dumps(to_sarif(findings, [DEMO, OTHER], tool_version="0.1.0")), encoding="utf-8")
    sarif_data = loader.load_sarif_file(str(target))
    assert sarif_data.get_distinct_tool_names() == ["strongroom"]
    assert sarif_data.get_result_count() == len(findings)
    records = sarif_data.get_records()
    assert [(r["Code"], unquote(r["Location"]), r["Line"]) for r in records] == [
        (f.rule_id, f.path, f.line) for f in findings
    ]
    assert [r["Severity"] for r in records] == ["error", "note", "error"]
    assert [r["ruleId"] for r in sarif_data.get_results()] == [f.rule_id for f in findings]
    assert sarif_data.get_rules_by_id("other-key")[0]["shortDescription"]["text"] == "another key"
    for record in records:
        assert "[REDACTED:" in record["Description"]


def test_log_validates_against_the_sarif_schema() -> None:
    """The log validates against the SARIF 2.1.0 JSON schema (when a local copy of the schema is given)."""
    jsonschema = pytest.importorskip("jsonschema")
    schema_path = os.environ.get(SCHEMA_ENV)
    if not schema_path:
        pytest.skip(f"set {SCHEMA_ENV} to a local sarif-schema-2.1.0.json to validate (no download at test time)")
    schema = json.loads(Path(schema_path).read_text(encoding="utf-8"))
    commit = hashlib.sha1(b"c").hexdigest()  # noqa: S324 -- a stand-in commit id, not security
    findings = [
        _finding(DEMO),
        _finding(OTHER, path="a b/c.txt", commit=commit, author="x", date="2024-01-01"),
        Finding("known-value", "a vault value", "medium", "/abs/file", 2, 3, 8),
    ]
    jsonschema.validate(to_sarif(findings, [DEMO, OTHER], tool_version="0.1.0"), schema)
