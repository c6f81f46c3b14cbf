#!/usr/bin/env python
"""Benchmark of the redactor: a stdlib logger with and without the redacting filter, in one run.

For 10, 1,000 and 10,000 registered values (random 32-character secrets, generated here), prints:

- log lines per second through ``logging.Logger.info`` with a ``StreamHandler`` to /dev/null, with the
  filter and without it (the baseline), and their ratio (goal: >= 0.8 with 10,000 values). Rounds
  alternate, plain then filtered, and each side keeps its best round: load on a shared machine drifts
  over seconds, so measuring one side after the other would compare two different machines;
- lines per second of ``redact()`` alone and of a naive loop of ``str.replace`` over all values on the
  same formatted lines, and their ratio (what the redactor must beat by orders of magnitude);
- the time to register the values and to build the automaton, and the memory the redactor holds for them
  (tracemalloc).

The log lines are realistic request logs; one line in 50 carries a registered value and one in 50 a
``password=...`` field, so masking itself is measured too. The redactor runs with its whole encoding set
(base64 at three alignments, hex, escapes, the decoded view), as ``install()`` uses it.

    .venv/bin/python bench/redact_bench.py            # about a minute
    .venv/bin/python bench/redact_bench.py --quick
    .venv/bin/python bench/redact_bench.py --breakdown  # where a record's time goes, at 10,000 values
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import platform
import random
import string
import time
import tracemalloc
from collections.abc import Callable
from typing import TextIO

from strongroom.live_values import LiveValues
from strongroom.redact import Redactor
from strongroom.redact.integrations import RedactingFilter

ALPHABET = string.ascii_letters + string.digits


def make_values(count: int, rng: random.Random) -> list[str]:
    return ["".join(rng.choice(ALPHABET) for _ in range(32)) for _ in range(count)]


def make_lines(values: list[str], rng: random.Random, count: int = 2000) -> list[tuple[str, tuple[object, ...]]]:
    paths = ["/v1/items", "/v1/tenants/acme/secrets", "/healthz", "/v1/actions/crm/contacts", "/v1/audit"]
    lines: list[tuple[str, tuple[object, ...]]] = []
    for i in range(count):
        args: tuple[object, ...] = (
            rng.choice(paths),
            f"user{rng.randrange(1000)}",
            rng.choice((200, 201, 404)),
            rng.random() * 50,
        )
        if i % 50 == 7:
            lines.append(("upstream call %s with key %s", (args[0], rng.choice(values))))
        elif i % 50 == 23:
            lines.append(("login attempt %s password=%s", (args[1], "".join(rng.choice(ALPHABET) for _ in range(12)))))
        else:
            lines.append(("%s %s status=%d took %.1fms", args))
    return lines


def _round(logger: logging.Logger, lines: list[tuple[str, tuple[object, ...]]], seconds: float) -> float:
    done = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for message, args in lines:
            logger.info(message, *args)
        done += len(lines)
    return done / elapsed


def throughput(  # noqa: PLR0917 -- a benchmark helper
    logger: logging.Logger,
    handler: logging.Handler,
    redacting: logging.Filter,
    lines: list[tuple[str, tuple[object, ...]]],
    seconds: float,
    rounds: int = 8,
) -> tuple[float, float]:
    """(plain, filtered) log lines per second: rounds alternate between the two, each side's best kept."""
    plain = filtered = 0.0
    for _ in range(rounds):
        plain = max(plain, _round(logger, lines, seconds / rounds / 2))
        handler.addFilter(redacting)
        filtered = max(filtered, _round(logger, lines, seconds / rounds / 2))
        handler.removeFilter(redacting)
    return plain, filtered


def naive(values: list[str], lines: list[tuple[str, tuple[object, ...]]], seconds: float) -> float:
    done = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for message, args in lines[:200]:
            text = message % args
            for value in values:
                text = text.replace(value, "[REDACTED]")
            done += 1
    return done / elapsed


def build(values: list[str]) -> tuple[Redactor, float, float]:
    """A redactor of its own holding ``values``: (redactor, seconds to register, seconds to build)."""
    redactor = Redactor(follow_live=False, live=LiveValues())
    names = [f"tenant{i}_key" for i in range(len(values))]  # the application's, like the values
    started = time.perf_counter()
    for value, name in zip(values, names, strict=True):
        redactor.register(value, name)
    registered = time.perf_counter() - started
    started = time.perf_counter()
    redactor.redact("warm-up line builds the automaton")
    return redactor, registered, time.perf_counter() - started


def redact_alone(redactor: Redactor, lines: list[tuple[str, tuple[object, ...]]], seconds: float) -> float:
    """Lines per second of ``redact()`` alone on the formatted lines: the like-for-like match for ``naive``."""
    texts = [message % args for message, args in lines[:200]]
    done = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for text in texts:
            redactor.redact(text)
        done += len(texts)
    return done / elapsed


class _PassThrough(Redactor):
    """A redactor that masks nothing: the filter's own cost, without any matching."""

    def redact(self, text: str, *, tenant: object = None) -> str:
        return text


def _best(work: Callable[[], object], count: int, rounds: int = 15) -> float:
    """Microseconds per item of ``work`` (``count`` items), best of ``rounds``."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        best = min(best, (time.perf_counter() - started) / count * 1e6)
    return best


def breakdown(sink: TextIO) -> None:
    """Microseconds per record at 10,000 values, step by step (best of 15 rounds; each set interleaved 3 times)."""
    rng = random.Random(11)  # noqa: S311 -- benchmark data, not keys
    values = make_values(10_000, rng)
    lines = make_lines(values, rng)
    redactor = build(values)[0]
    texts = [message % args for message, args in lines]
    plain_texts = [t for t in texts if not any(word in t for word in ("secret", "key", "password"))]
    keyword_texts = [t for t in texts if t not in set(plain_texts)]
    lowered = [t.lower() for t in texts]
    automaton = redactor._automaton.automaton  # the pass alone: private, for this measurement only
    logger = logging.getLogger("bench-breakdown")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger.addHandler(handler)

    def log() -> None:
        for message, args in lines:
            logger.info(message, *args)

    def with_filter(redacting: logging.Filter) -> Callable[[], None]:
        def run() -> None:
            handler.addFilter(redacting)
            log()
            handler.removeFilter(redacting)

        return run

    def iterate() -> None:
        for text in lowered:
            for _ in automaton.iter(text):
                pass

    steps: dict[str, tuple[Callable[[], object], int]] = {
        "plain record": (log, len(lines)),
        "record + filter, pass-through redactor": (
            with_filter(RedactingFilter(_PassThrough(follow_live=False, live=LiveValues()))),
            len(lines),
        ),
        "record + filter": (with_filter(RedactingFilter(redactor)), len(lines)),
        "redact(), all lines": (lambda: [redactor.redact(t) for t in texts], len(texts)),
        f"redact(), {len(plain_texts)} lines without keywords": (
            lambda: [redactor.redact(t) for t in plain_texts],
            len(plain_texts),
        ),
        f"redact(), {len(keyword_texts)} lines with keywords": (
            lambda: [redactor.redact(t) for t in keyword_texts],
            len(keyword_texts),
        ),
        "the automaton pass alone (no lower())": (iterate, len(lowered)),
    }
    best: dict[str, float] = {}
    for _ in range(3):
        for name, (work, count) in steps.items():
            best[name] = min(best.get(name, float("inf")), _best(work, count, rounds=5))
    for name, micros in best.items():
        print(f"{name:48} {micros:6.2f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--breakdown", action="store_true", help="where a record's time goes, at 10,000 values")
    args = parser.parse_args()
    if args.breakdown:
        with open(os.devnull, "w") as sink:
            breakdown(sink)
        return
    seconds = 1.5 if args.quick else 6.0
    rng = random.Random(11)  # noqa: S311 -- benchmark data, not keys
    print(f"redactor benchmark, {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(
        f"\n{'values':>7} {'register s':>10} {'build s':>8} {'memory MB':>9} {'plain lines/s':>14} "
        f"{'filtered lines/s':>16} {'ratio':>6} {'redact() lines/s':>16} {'naive lines/s':>14} {'x naive':>8}"
    )
    with open(os.devnull, "w") as sink:
        for count in (10, 1000, 10_000):
            values = make_values(count, rng)
            lines = make_lines(values, rng)
            logger = logging.getLogger(f"bench{count}")
            logger.propagate = False
            logger.setLevel(logging.INFO)
            handler = logging.StreamHandler(sink)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
            logger.addHandler(handler)

            redactor, registered, built = build(values)
            gc.collect()
            tracemalloc.start()  # a second, identical build, traced: tracing slows allocation, not timed
            before = tracemalloc.get_traced_memory()[0]
            traced = build(values)[0]
            memory = (tracemalloc.get_traced_memory()[0] - before) / 1e6
            tracemalloc.stop()
            del traced

            plain, filtered = throughput(logger, handler, RedactingFilter(redactor), lines, 2 * seconds)
            slow = naive(values, lines, seconds / 3)
            alone = redact_alone(redactor, lines, seconds / 3)
            print(
                f"{count:>7} {registered:10.3f} {built:8.3f} {memory:9.1f} {plain:14,.0f} {filtered:16,.0f} "
                f"{filtered / plain:6.2f} {alone:16,.0f} {slow:14,.0f} {alone / slow:7.0f}x"
            )
            logger.removeHandler(handler)


if __name__ == "__main__":
    main()
