"""Compliance reports: who accessed a tenant's secrets, for what, and how it ended.

An access is a ``secret.use`` (a value revealed, or refused) or a ``broker.call`` (the broker used the
tenant's credential for a connector's upstream call). ``build`` reads them once, page by page, and counts
them per secret, per actor and per purpose, by outcome, and over time (per hour over up to two days, per
day over up to 90, per week beyond). ``chart_png`` draws the counts over time with Pillow (the ``charts``
extra). Reports hold names, counts and times: never a value.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from strongroom.clock import iso
from strongroom.errors import InvalidInput
from strongroom.vocabulary import Action, Outcome

__all__ = ["ACCESS_ACTIONS", "Report", "build", "chart_png", "require_pillow"]

ACCESS_ACTIONS: Final = frozenset({Action.SECRET_USE.value, Action.BROKER_CALL.value})
NONE_LABEL: Final = "-"
_BUCKETS: Final = (("hour", 3600, 2 * 86400), ("day", 86400, 90 * 86400), ("week", 7 * 86400, None))


@dataclass
class Group:
    """Accesses of one secret, actor or purpose."""

    accesses: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    first: float | None = None
    last: float | None = None

    def add(self, at: float, outcome: str) -> None:
        self.accesses += 1
        self.outcomes[outcome] += 1
        self.first = at if self.first is None else min(self.first, at)
        self.last = at if self.last is None else max(self.last, at)

    def as_json(self, key: str, name: str) -> dict[str, Any]:
        return {
            key: name,
            "accesses": self.accesses,
            "outcomes": dict(sorted(self.outcomes.items())),
            "first": iso(self.first),
            "last": iso(self.last),
        }


@dataclass
class Report:
    tenant: str
    since: float | None
    until: float | None
    total: Group = field(default_factory=Group)
    by_secret: dict[str, Group] = field(default_factory=dict)
    by_actor: dict[str, Group] = field(default_factory=dict)
    by_purpose: dict[str, Group] = field(default_factory=dict)
    # Accesses per hour (hours since the epoch: [ok, refused or failed]): bounded by the span, not the count.
    hours: dict[int, list[int]] = field(default_factory=dict)
    by_action: Counter[str] = field(default_factory=Counter)

    def add(self, record: Any) -> None:
        at, outcome = record.at, record.outcome
        self.total.add(at, outcome)
        self.by_action[record.action] += 1
        for groups, name in (
            (self.by_secret, record.secret_name),
            (self.by_actor, record.actor),
            (self.by_purpose, record.purpose),
        ):
            groups.setdefault(name or NONE_LABEL, Group()).add(at, outcome)
        self.hours.setdefault(int(at // 3600), [0, 0])[outcome != Outcome.OK] += 1

    def outcomes(self) -> list[str]:
        """Every outcome seen, ``ok`` first."""
        return sorted(self.total.outcomes, key=lambda o: (o != Outcome.OK, o))

    def timeline(self) -> tuple[str, list[tuple[float, int, int]]]:
        """(bucket name, [(bucket start, ok, refused or failed)]), every bucket from the first access to the
        last, empty ones included."""
        if not self.hours:
            return "day", []
        start = self.since if self.since is not None else min(self.hours) * 3600
        end = self.until if self.until is not None else (max(self.hours) + 1) * 3600 - 1
        name, width = next((n, w) for n, w, span in _BUCKETS if span is None or end - start <= span)
        first = int(start // width) * width
        count = int((end - first) // width) + 1
        ok, other = [0] * count, [0] * count
        for hour, (good, bad) in self.hours.items():
            index = min(max(int((hour * 3600 - first) // width), 0), count - 1)
            ok[index] += good
            other[index] += bad
        return name, [(first + i * width, ok[i], other[i]) for i in range(count)]

    def as_json(self) -> dict[str, Any]:
        bucket, points = self.timeline()

        def groups(by: dict[str, Group], key: str) -> list[dict[str, Any]]:
            return [g.as_json(key, name) for name, g in sorted(by.items(), key=lambda kv: (-kv[1].accesses, kv[0]))]

        return {
            "tenant": self.tenant,
            "since": iso(self.since),
            "until": iso(self.until),
            "accesses": self.total.accesses,
            "outcomes": dict(sorted(self.total.outcomes.items())),
            "actions": dict(sorted(self.by_action.items())),
            "first": iso(self.total.first),
            "last": iso(self.total.last),
            "by_secret": groups(self.by_secret, "secret"),
            "by_actor": groups(self.by_actor, "actor"),
            "by_purpose": groups(self.by_purpose, "purpose"),
            "timeline": {
                "bucket": bucket,
                "points": [{"start": iso(at), "ok": ok, "refused": other} for at, ok, other in points],
            },
        }


def build(records: Iterable[Any], tenant: str, *, since: float | None, until: float | None) -> Report:
    """A report of the accesses among ``records`` (a tenant's events, oldest first; others are skipped)."""
    report = Report(tenant, since, until)
    for record in records:
        if record.action in ACCESS_ACTIONS:
            report.add(record)
    return report


CHART_EXTRA: Final = "the chart needs Pillow: pip install 'strongroom[charts]'"


def require_pillow() -> None:
    """Refuse, naming the extra to install, when Pillow is missing (before any work is done)."""
    import importlib.util

    if importlib.util.find_spec("PIL") is None:
        raise InvalidInput(CHART_EXTRA)


def chart_png(report: Report, path: Path) -> None:
    """A small PNG bar chart of accesses over time (ok in green, refused or failed in red, stacked)."""
    require_pillow()
    from PIL import Image, ImageDraw, ImageFont

    bucket, points = report.timeline()
    width, height, left, right, top, bottom = 720, 320, 56, 16, 36, 40
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=12)
    title = f"accesses to {report.tenant}'s secrets per {bucket} ({report.total.accesses} in all)"
    draw.text((left, 10), title, fill="black", font=font)
    plot_w, plot_h = width - left - right, height - top - bottom
    draw.line([(left, top), (left, top + plot_h), (left + plot_w, top + plot_h)], fill="black")
    peak = max((ok + other for _, ok, other in points), default=0)
    draw.text((4, top - 6), str(peak), fill="black", font=font)
    draw.text((4, top + plot_h - 6), "0", fill="black", font=font)
    if points and peak:
        slot = plot_w / len(points)
        bar = max(slot * 0.8, 1.0)
        for i, (_, ok, other) in enumerate(points):
            x0 = left + i * slot + (slot - bar) / 2
            base = top + plot_h
            ok_h = plot_h * ok / peak
            other_h = plot_h * other / peak
            if ok:
                draw.rectangle([x0, base - ok_h, x0 + bar, base - 1], fill=(46, 139, 87))
            if other:
                draw.rectangle([x0, base - ok_h - other_h, x0 + bar, base - ok_h - 1], fill=(200, 50, 50))
    if points:
        shown = "%Y-%m-%d %H:%M UTC" if bucket == "hour" else "%Y-%m-%d"
        first, last = (datetime.fromtimestamp(points[i][0], UTC).strftime(shown) for i in (0, -1))
        draw.text((left, top + plot_h + 8), first, fill="black", font=font)
        end = left + plot_w - draw.textlength(last, font=font)
        draw.text((end, top + plot_h + 8), last, fill="black", font=font)
    draw.text((left, height - 16), "green: ok    red: refused or failed", fill="black", font=font)
    try:
        # 0600 like every audit file, an existing file's mode included: it names secrets, actors and purposes.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out:
            image.save(out, format="PNG")
    except OSError as exc:
        raise InvalidInput(f"--chart {path}: cannot write it ({exc.strerror or type(exc).__name__})") from None
