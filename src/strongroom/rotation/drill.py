"""``strongroom drill``: the three validations of a secrets setup, run against a live app.

1. **rotate**: each rotatable secret of the schema (a field declared with ``secret(rotate=..., rotator=...)``,
   or one with a policy in the store) is rotated while a thread polls the app's health URL: before, during,
   through the overlap, past the retirement of the previous version, and a few probes more. Every probe must
   answer 2xx, the app must not restart (the ``pid``/``started_at`` of a JSON health answer must not change),
   and the rotation must succeed. An app that read the secret once at start-up keeps the retired credential
   and fails here, once the provider stops accepting it.
2. **required**: for each secret the schema requires in the environment, the schema is loaded through its
   own sources with that one secret hidden (a read-only view: nothing is written or removed), and loading
   must fail naming exactly that secret.
3. **logs**: the given log files are scanned for every stored value by keyed fingerprint (``scan --known``):
   no value is decrypted, and a finding names the secret and version, never the value.

``run_drill`` returns a ``DrillReport`` (typed steps, JSON, JUnit XML); the CLI prints it.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from strongroom.errors import ConfigError, InvalidInput, NotFound, StrongroomError
from strongroom.rotation.engine import Rotations
from strongroom.vocabulary import PLATFORM_TENANT, RotationStatus, Stage

if TYPE_CHECKING:
    from strongroom.config.schema import FieldSpec, Settings
    from strongroom.config.sources import Found, Source, SourceKey
    from strongroom.vault import Vault
    from strongroom.vault.rotations import PolicyInfo

__all__ = ["DrillReport", "HealthProbe", "StepResult", "rotatable", "run_drill"]

ACTOR = "strongroom-drill"
PASS, FAIL, SKIP = "pass", "fail", "skip"
Progress = Callable[[str], object]
Wait = Callable[[float], object]


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step's outcome. ``step``: rotate, required or logs; ``target``: the secret or the logs."""

    step: str
    target: str
    status: str
    detail: str
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    def line(self, width: int = 80) -> str:
        """``PASS  rotate    service_token      12 probes healthy, ...``, cut to ``width`` columns."""
        text = f"{self.status.upper():<4}  {self.step:<8}  {self.target:<16}  {self.detail}"
        return text if len(text) <= width else text[: width - 3] + "..."

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "target": self.target,
            "status": self.status,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
        }


@dataclass(slots=True)
class DrillReport:
    schema: str
    environment: str
    steps: list[StepResult] = field(default_factory=list)

    @property
    def failed(self) -> list[StepResult]:
        return [s for s in self.steps if s.failed]

    @property
    def passed(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "environment": self.environment,
            "passed": self.passed,
            "failed": [f"{s.step} {s.target}" for s in self.failed],
            "steps": [s.to_dict() for s in self.steps],
        }

    def to_junit(self) -> bytes:
        """JUnit XML (one test case per step) for CI systems that show test reports."""
        suites = ET.Element("testsuites")
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=f"strongroom drill {self.schema} ({self.environment})",
            tests=str(len(self.steps)),
            failures=str(len(self.failed)),
            skipped=str(sum(s.status == SKIP for s in self.steps)),
            errors="0",
            time=f"{sum(s.seconds for s in self.steps):.3f}",
        )
        for step in self.steps:
            case = ET.SubElement(
                suite, "testcase", classname=f"drill.{step.step}", name=step.target, time=f"{step.seconds:.3f}"
            )
            if step.status == FAIL:
                ET.SubElement(case, "failure", message=step.detail, type=step.step).text = step.detail
            elif step.status == SKIP:
                ET.SubElement(case, "skipped", message=step.detail)
            else:
                ET.SubElement(case, "system-out").text = step.detail
        return bytes(ET.tostring(suites, encoding="utf-8", xml_declaration=True))


# -- health probes ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Probe:
    ok: bool
    what: str  # "HTTP 200", "HTTP 503", "URLError", ...
    identity: tuple[str, str] | None  # (pid, started_at) when the answer carries them
    phase: str  # before, rotating, overlap, retire (the call revoking the previous version), after


class HealthProbe:
    """Polls a health URL from a thread until stopped; each probe is recorded with the phase it ran in.

    Healthy is a 2xx answer. A JSON answer carrying ``pid`` and/or ``started_at`` identifies the process,
    so a restart (a crash the supervisor hid) is seen even when every probe answered 200.
    """

    def __init__(self, url: str, *, interval: float = 0.05, timeout: float = 2.0) -> None:
        check_health_url(url)
        self.url = url
        self._interval = interval
        self._timeout = timeout
        self._probes: list[Probe] = []
        self._phase = "before"
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="strongroom-drill-probe", daemon=True)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def phase(self, name: str) -> None:
        with self._cond:
            self._phase = name

    def probes(self) -> list[Probe]:
        with self._cond:
            return list(self._probes)

    def wait_for(self, count: int, *, phase: str | None = None, within: float = 60.0) -> bool:
        """Wait until ``count`` probes have run (in ``phase``, if given); False if they did not within ``within``
        seconds (each probe has its own timeout, so a hung app still advances the count)."""

        def enough() -> bool:
            return sum(phase is None or p.phase == phase for p in self._probes) >= count

        with self._cond:
            return self._cond.wait_for(enough, timeout=within)

    def _run(self) -> None:
        while True:
            probe = self._probe()
            with self._cond:
                self._probes.append(probe)
                self._cond.notify_all()
            if self._stop.wait(self._interval):
                return

    def _probe(self) -> Probe:
        with self._cond:
            phase = self._phase
        request = urllib.request.Request(self.url, headers={"User-Agent": "strongroom-drill"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as answer:  # noqa: S310 -- checked scheme
                status, body = answer.status, answer.read(65536)
        except urllib.error.HTTPError as exc:
            return Probe(False, f"HTTP {exc.code}", None, phase)
        except Exception as exc:  # refused, reset, timed out: the app did not answer
            return Probe(False, type(exc).__name__, None, phase)
        return Probe(200 <= status < 300, f"HTTP {status}", _identity(body), phase)


def _identity(body: bytes) -> tuple[str, str] | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or not ({"pid", "started_at"} & set(data)):
        return None
    return str(data.get("pid", "")), str(data.get("started_at", ""))


def check_health_url(url: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise InvalidInput(f"--health must be an http:// or https:// URL, as in http://127.0.0.1:8000/health: {url!r}")


def judge(probes: Sequence[Probe]) -> str | None:
    """Why the probes show an unhealthy or restarted app, or None if they do not."""
    if not probes:
        return "no health probe ran"
    bad = [(i, p) for i, p in enumerate(probes, 1) if not p.ok]
    if bad:
        first_i, first = bad[0]
        return f"{len(bad)} of {len(probes)} probes unhealthy, first #{first_i} ({first.phase}): {first.what}"
    identities = list(dict.fromkeys(p.identity for p in probes if p.identity is not None))
    if len(identities) > 1:
        return f"the app restarted during the drill (pid/started_at changed {len(identities) - 1} time(s))"
    return None


# -- the steps -------------------------------------------------------------------------------------------


def rotatable(schema: type[Settings], vault: Vault) -> dict[str, FieldSpec]:
    """The schema's secrets the drill rotates: declared with a rotator, or with a policy in the store."""
    out: dict[str, FieldSpec] = {}
    for spec in schema.fields().values():
        if not spec.is_secret:
            continue
        if spec.rotator is not None or _policy(vault, spec.name) is not None:
            out[spec.name] = spec
    return out


def _policy(vault: Vault, name: str) -> PolicyInfo | None:
    try:
        return vault.rotation_repo.policy(PLATFORM_TENANT, name)
    except NotFound:
        return None


class _StepFailed(Exception):
    """Ends a step with this reason (internal to the drill)."""


def rotate_step(
    vault: Vault,
    spec: FieldSpec,
    health: HealthProbe,
    *,
    rotations: Rotations,
    clock: Callable[[], float] = time.time,
    wait: Wait | None = None,
    settle_probes: int = 3,
    progress: Progress | None = None,
) -> StepResult:
    """Rotate one secret while ``health`` (already started) polls; pass only if every probe was healthy."""
    started = time.monotonic()
    try:
        detail = _rotate(
            vault,
            spec,
            health,
            rotations=rotations,
            clock=clock,
            pause=wait or threading.Event().wait,
            settle_probes=settle_probes,
            progress=progress,
        )
    except (_StepFailed, StrongroomError) as exc:  # strongroom's messages name secrets, never values
        return StepResult("rotate", spec.name, FAIL, str(exc), time.monotonic() - started)
    return StepResult("rotate", spec.name, PASS, detail, time.monotonic() - started)


def _rotate(
    vault: Vault,
    spec: FieldSpec,
    health: HealthProbe,
    *,
    rotations: Rotations,
    clock: Callable[[], float],
    pause: Wait,
    settle_probes: int,
    progress: Progress | None,
) -> str:
    name = spec.name
    say = progress or (lambda _text: None)
    health.phase("before")
    if not health.wait_for(1, phase="before"):
        raise _StepFailed("no health probe completed before the rotation")
    why = judge(health.probes())
    if why is not None:
        raise _StepFailed(f"the app was not healthy before the rotation: {why}")
    try:
        has_current = any(v.stage == Stage.CURRENT for v in vault.versions(PLATFORM_TENANT, name))
    except NotFound:
        has_current = False
    if not has_current:
        raise _StepFailed(f"{name} has no current value in the store for {vault.environment}: put one first")
    policy_note = _ensure_policy(vault, spec, rotations)
    say(f"rotating {name}")
    health.phase("rotating")
    result = rotations.rotate(PLATFORM_TENANT, name, actor=ACTOR)
    if result.status not in (RotationStatus.RETIRING, RotationStatus.SUCCEEDED):
        raise _StepFailed(f"rotation {result.status}: {result.reason or 'no reason recorded'}")
    health.phase("overlap")
    for _ in range(1000):  # bounded: each pass waits out what is left of the overlap, then retires
        if result.status not in (RotationStatus.RETIRING, "skipped"):
            break
        left = _previous_until(vault, name) - clock()
        if left > 0:
            say(f"{name}: waiting {left:.1f}s for the overlap to end")
            pause(left)
        health.phase("retire")
        result = rotations.retire(PLATFORM_TENANT, name)
        if result.status == "skipped" and result.reason != "the overlap has not ended":
            break
    if result.status != RotationStatus.SUCCEEDED:
        raise _StepFailed(f"retiring the previous version: {result.status}: {result.reason or 'no reason'}")
    health.phase("after")
    say(f"{name}: rotated; probing the app after the retirement")
    if not health.wait_for(settle_probes, phase="after"):
        raise _StepFailed(f"fewer than {settle_probes} health probes completed after the retirement")
    why = judge(health.probes())
    if why is not None:
        raise _StepFailed(why)
    return f"{policy_note}v{result.version}, {len(health.probes())} probes healthy"


def _ensure_policy(vault: Vault, spec: FieldSpec, rotations: Rotations) -> str:
    """Set the schema's declared policy when the store has none; what to say about it."""
    if _policy(vault, spec.name) is not None:
        return ""
    if spec.rotator is None or spec.rotate_seconds is None:
        raise _StepFailed(f"{spec.name} has no rotation policy: declare secret(rotate=..., rotator=...)")
    try:
        rotations.set_policy(
            PLATFORM_TENANT,
            spec.name,
            every=spec.rotate_seconds,
            rotator=spec.rotator,
            overlap=spec.overlap_seconds,
            options=spec.rotator_options,
            actor=ACTOR,
            context="drill: policy from the schema",
        )
    except StrongroomError as exc:
        raise _StepFailed(f"cannot set the policy from the schema: {exc}") from None
    return "policy from schema, "


def _previous_until(vault: Vault, name: str) -> float:
    previous = [v for v in vault.versions(PLATFORM_TENANT, name) if v.stage == Stage.PREVIOUS]
    return (previous[0].stage_until or 0.0) if previous else 0.0


class _Without:
    """A source seen with one field hidden: the scratch environment of the required-secrets step."""

    def __init__(self, source: Source, hidden: str) -> None:
        self._source = source
        self._hidden = hidden
        self.environment_scoped = bool(getattr(source, "environment_scoped", False))

    @property
    def name(self) -> str:
        return self._source.name

    @property
    def dynamic(self) -> bool:
        return False  # a drill load is read once and thrown away

    def get(self, key: SourceKey) -> Found | None:
        return None if key.name == self._hidden else self._source.get(key)


def _schema_sources(schema: type[Settings]) -> list[Source]:
    from strongroom.config.loader import default_sources

    custom = getattr(schema, "sources", None)
    return list(custom()) if callable(custom) else default_sources()


def required_steps(
    schema: type[Settings],
    environment: str,
    *,
    sources: Sequence[Source] | None = None,
    only: str | None = None,
    progress: Progress | None = None,
) -> list[StepResult]:
    """For each secret required in ``environment``: loading with it hidden fails naming exactly it."""
    say = progress or (lambda _text: None)
    chosen = list(sources) if sources is not None else _schema_sources(schema)
    try:
        return _required_steps(schema, environment, chosen, only, say)
    finally:
        if sources is None:
            for source in chosen:
                close = getattr(source, "close", None)
                if callable(close):
                    close()


def _required_steps(
    schema: type[Settings], environment: str, sources: list[Source], only: str | None, say: Progress
) -> list[StepResult]:
    started = time.monotonic()
    try:
        schema.load(environment, sources=[_Without(s, "") for s in sources])
    except ConfigError as exc:
        listed = ", ".join(_named(exc)) or str(exc).splitlines()[0]
        detail = f"the schema does not load with every secret present: {listed}"
        return [StepResult("required", "(all present)", FAIL, detail, time.monotonic() - started)]
    steps: list[StepResult] = []
    for spec in schema.fields().values():
        if not (spec.is_secret and spec.required(environment)) or only not in (None, spec.name, spec.env):
            continue
        say(f"loading without {spec.env}")
        started = time.monotonic()
        try:
            schema.load(environment, sources=[_Without(s, spec.name) for s in sources])
        except ConfigError as exc:
            named = _named(exc)
            missing = [p for p in exc.problems if p.startswith(f"{spec.env}: missing")]
            if named == [spec.env] and missing:
                status, detail = PASS, "start-up fails naming it alone"
            else:
                status, detail = FAIL, f"loading fails but names {', '.join(named) or 'no field'}"
        else:
            status, detail = FAIL, f"the schema loads without {spec.env}: start-up would not fail"
        steps.append(StepResult("required", spec.env, status, detail, time.monotonic() - started))
    return steps


def _named(exc: ConfigError) -> list[str]:
    """The fields a ``ConfigError`` names (each problem starts ``VARIABLE: ``)."""
    return list(dict.fromkeys(problem.split(":", 1)[0] for problem in exc.problems))


def logs_step(vault: Vault, paths: Sequence[Path], *, progress: Progress | None = None) -> StepResult:
    """Scan ``paths`` (files, or directories of them) for every stored value, by fingerprint only."""
    from strongroom.scan.engine import Scanner
    from strongroom.scan.known import KnownValues
    from strongroom.scan.runner import scan_stream

    started = time.monotonic()
    target = f"{len(paths)} path(s)"

    def done(status: str, detail: str) -> StepResult:
        return StepResult("logs", target, status, detail, time.monotonic() - started)

    if not paths:
        return done(SKIP, "no --logs given")
    known = vault.known_fingerprints()
    scanner = Scanner([])
    scanner.known = KnownValues(known.keys, known.entries, fingerprint_key=scanner.fingerprint_key)
    findings: list[str] = []
    files = 0
    for path in _files(paths):
        if progress is not None:
            progress(f"scanning {path}")
        try:
            with path.open("rb") as handle:
                files += 1
                findings += [f"{f.path}:{f.line}: {f.description}" for f in scan_stream(scanner, handle, str(path))]
        except OSError as exc:
            return done(FAIL, f"cannot read {path}: {exc.strerror}")
    if findings:
        return done(FAIL, f"{len(findings)} stored value(s) in the logs: {'; '.join(findings[:5])}")
    if known.missing:
        return done(FAIL, f"incomplete: {known.missing} stored version(s) have no fingerprint (write them again)")
    return done(PASS, f"{files} file(s), no stored value ({len(known.entries)} known)")


def _files(paths: Sequence[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path


def run_drill(
    schema: type[Settings],
    vault: Vault,
    *,
    health_url: str,
    logs: Sequence[Path] = (),
    only: str | None = None,
    rotations: Rotations | None = None,
    interval: float = 0.05,
    settle_probes: int = 3,
    clock: Callable[[], float] = time.time,
    wait: Wait | None = None,
    progress: Progress | None = None,
    reference: str | None = None,
) -> DrillReport:
    """The three validations against the app at ``health_url``, in ``vault``'s environment."""
    check_health_url(health_url)
    report = DrillReport(reference or schema.__name__, vault.environment)
    candidates = rotatable(schema, vault)
    chosen = [spec for spec in candidates.values() if only in (None, spec.name, spec.env)]
    if only is not None and not chosen:
        known = {spec.name for spec in schema.fields().values() if spec.is_secret}
        if only not in known and only not in {s.env for s in schema.fields().values()}:
            raise InvalidInput(f"--only {only!r}: {report.schema} has no such secret ({', '.join(sorted(known))})")
    runner = rotations or Rotations(vault, clock=clock, actor=ACTOR)
    for spec in chosen:
        with HealthProbe(health_url, interval=interval) as health:
            report.steps.append(
                rotate_step(
                    vault,
                    spec,
                    health,
                    rotations=runner,
                    clock=clock,
                    wait=wait,
                    settle_probes=settle_probes,
                    progress=progress,
                )
            )
    if not chosen:
        what = f"{only} has no rotator or policy" if only else "no secret of the schema has a rotator"
        report.steps.append(StepResult("rotate", only or "(none)", SKIP, what))
    report.steps += required_steps(schema, vault.environment, only=only, progress=progress)
    report.steps.append(logs_step(vault, logs, progress=progress))
    return report
