"""Scan findings as a SARIF 2.1.0 log, for GitHub code scanning and any other SARIF consumer.

One run, tool ``strongroom``. ``tool.driver.rules`` lists only the rules that have findings, in the order
of the ``rules`` argument (a finding whose rule is not in ``rules``, such as a match of a value known to
the vault, gets a descriptor built from the finding itself). Each result carries:

* ``ruleId``/``ruleIndex`` and ``level``: critical and high are ``error``, medium ``warning``, low ``note``;
* a message naming the rule and giving the masked secret (``[REDACTED:<rule> <n> chars]``), never the value;
* one location: the path as a relative URI reference under ``%SRCROOT%`` (an absolute path becomes a
  ``file:`` URI), and a region from the secret's start column to the column after it;
* ``partialFingerprints["strongroom/v1"]``: the scanner's keyed fingerprint, so a consumer can follow a
  finding across line moves without seeing the secret;
* for findings from git history, ``properties`` with ``commit``, ``author`` and ``date``.

Each rule descriptor carries ``properties.security-severity`` (critical 9.5, high 8.0, medium 5.5, low 3.0)
and the tags ``security`` and ``secret``, which GitHub code scanning uses to rank and filter alerts.
Columns are counted in Unicode code points (as Python indexes ``str``), and the run says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from strongroom.errors import InvalidInput
from strongroom.rules.base import Rule
from strongroom.scan.engine import Finding

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
TOOL_NAME = "strongroom"
INFORMATION_URI = "https://pypi.org/project/strongroom/"
FINGERPRINT_KEY = "strongroom/v1"  # "name/vN": bump the version if the fingerprint's definition changes
SRCROOT = "%SRCROOT%"

LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
# GitHub reads security-severity as a string holding a number from 0.0 to 10.0 and maps >9.0 to critical,
# 7.0-8.9 to high, 4.0-6.9 to medium, 0.1-3.9 to low: these values land each severity in its own band.
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}
TAGS = ("security", "secret")

HELP = (
    "A credential is committed in plain text. Revoke or rotate it at the provider first (removing it "
    "from the file does not remove it from history or from anyone who has copied it), then delete it "
    "from the file and load it from the vault. To accept a known finding, record it in the baseline "
    "(strongroom scan --update-baseline) or put 'strongroom:allow' on the line."
)


def to_sarif(
    findings: Sequence[Finding], rules: Sequence[Rule], *, tool_version: str, information_uri: str = INFORMATION_URI
) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run holding ``findings`` (in the order given) as results."""
    known = {rule.id: rule for rule in rules}
    used = {finding.rule_id for finding in findings}
    # Rules in the caller's order, then rules the caller did not pass in order of first appearance:
    # the output is deterministic for deterministic input.
    descriptors: list[dict[str, Any]] = [_descriptor(r.id, r.description, r.severity) for r in rules if r.id in used]
    index = {d["id"]: i for i, d in enumerate(descriptors)}
    for finding in findings:
        if finding.rule_id not in index:
            index[finding.rule_id] = len(descriptors)
            descriptors.append(_descriptor(finding.rule_id, finding.description, finding.severity))
    results = [_result(f, index[f.rule_id], known.get(f.rule_id)) for f in findings]
    driver = {
        "name": TOOL_NAME,
        "informationUri": information_uri,
        "version": tool_version,
        "rules": descriptors,
    }
    return {
        "$schema": SCHEMA_URI,
        "version": SARIF_VERSION,
        "runs": [{"tool": {"driver": driver}, "columnKind": "unicodeCodePoints", "results": results}],
    }


def rule_name(rule_id: str) -> str:
    """The rule id in PascalCase (``aws-access-key-id`` -> ``AwsAccessKeyId``): SARIF's identifier-like name."""
    return "".join(word.capitalize() for word in rule_id.split("-"))


def artifact_location(path: str) -> dict[str, str]:
    """The SARIF ``artifactLocation`` of a scanned path: a relative URI reference under ``%SRCROOT%``."""
    native = PurePath(path)  # the platform's own separators: a Windows path's backslashes become "/"
    if native.is_absolute():
        return {"uri": native.as_uri()}
    # quote() with only "/" safe also escapes ":", so a first segment like "c:" cannot read as a URI scheme.
    # surrogateescape: a name git gave as undecodable bytes is encoded back to exactly those bytes.
    return {"uri": quote(native.as_posix(), safe="/", errors="surrogateescape"), "uriBaseId": SRCROOT}


def _level(severity: str, rule_id: str) -> str:
    try:
        return LEVELS[severity]
    except KeyError:
        expected = ", ".join(LEVELS)
        raise InvalidInput(f"rule {rule_id}: unknown severity {severity!r} (expected one of {expected})") from None


def _descriptor(rule_id: str, description: str, severity: str) -> dict[str, Any]:
    return {
        "id": rule_id,
        "name": rule_name(rule_id),
        "shortDescription": {"text": description},
        "help": {"text": HELP},
        "defaultConfiguration": {"level": _level(severity, rule_id)},
        "properties": {"security-severity": SECURITY_SEVERITY[severity], "tags": list(TAGS)},
    }


def _message(finding: Finding, rule: Rule | None) -> str:
    description = rule.description if rule is not None else finding.description
    # Description first: sarif-tools turns a message that starts with the rule id into a one-character summary.
    text = f"{description} ({finding.rule_id}): {finding.masked}"
    if finding.commit:
        text += f" (added in commit {finding.commit[:12]})"
    return text


def _result(finding: Finding, rule_index: int, rule: Rule | None) -> dict[str, Any]:
    region = {
        "startLine": finding.line,
        "startColumn": finding.column,
        "endColumn": finding.column + finding.length,  # SARIF's endColumn is the column after the region
    }
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": _level(finding.severity, finding.rule_id),
        "message": {"text": _message(finding, rule)},
        "locations": [{"physicalLocation": {"artifactLocation": artifact_location(finding.path), "region": region}}],
    }
    if finding.fingerprint:
        result["partialFingerprints"] = {FINGERPRINT_KEY: finding.fingerprint}
    history = {"commit": finding.commit, "author": finding.author, "date": finding.date}
    if finding.commit is not None:
        result["properties"] = {k: v for k, v in history.items() if v is not None}
    return result


__all__ = ["INFORMATION_URI", "LEVELS", "SCHEMA_URI", "SECURITY_SEVERITY", "artifact_location", "rule_name", "to_sarif"]
