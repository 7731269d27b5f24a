"""Accuracy of evalkit's final-answer verdicts against math-verify on the answer conformance table.

Workload: every row of ``tests/data/answer_conformance.jsonl`` (hand-labelled reference, completion and
expected verdict, with a one-line reason). Three graders decide ``passed`` for each row:

- evalkit: :func:`evalkit.grading.answers.answer_verdict` with the row's ``think`` and ``strict`` options;
- math-verify as documented: ``verify(parse("$" + reference + "$"), parse(completion))`` with its default
  extraction (LaTeX with boxed priority, then plain expressions), which knows nothing of reasoning
  blocks or options;
- math-verify on evalkit's extraction: ``verify(parse("$" + reference + "$"), parse("$" + answer + "$"))``
  with evalkit's extracted answer, which separates reading from comparing.

With ``--baseline FILE`` (a module defining ``answer_verdict(reference, text)``, e.g. an older
``evalkit/answers.py`` from ``git show REV:evalkit/answers.py``), that grader is a fourth column.

A grader is right on a row when its ``passed`` equals the label (a finish reason changes only the status,
so ``passed`` is the whole decision). Prints accuracy overall and per kind, and the rows each gets wrong.
Not run in CI: ``python tests/bench/bench_answers.py [--show-errors] [--baseline FILE]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import platform
import time
from collections import Counter
from pathlib import Path
from typing import Any, cast

TABLE = Path(__file__).resolve().parents[1] / "data" / "answer_conformance.jsonl"


def math_verify_direct(reference: str, completion: str) -> bool:
    from math_verify import parse, verify

    gold = parse(f"${reference}$", parsing_timeout=None)
    answer = parse(completion, parsing_timeout=None)
    return bool(gold and answer and verify(gold, answer, timeout_seconds=None))


def math_verify_on(reference: str, answer: str | None) -> bool:
    from math_verify import parse, verify

    if answer is None:
        return False
    gold = parse(f"${reference}$", parsing_timeout=None)
    parsed = parse(f"${answer}$", parsing_timeout=None)
    return bool(gold and parsed and verify(gold, parsed, timeout_seconds=None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--show-errors", action="store_true", help="print every row a grader gets wrong")
    parser.add_argument("--baseline", type=Path, help="a module with answer_verdict(reference, text) to compare too")
    args = parser.parse_args()
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    from evalkit.grading.answers import answer_verdict, extract

    rows: list[dict[str, Any]] = [json.loads(line) for line in TABLE.read_text(encoding="utf-8").splitlines()]
    graders: tuple[str, ...] = ("evalkit", "math-verify", "math-verify on evalkit's extraction")
    baseline: Any = None
    if args.baseline is not None:
        spec = cast(Any, importlib.util.spec_from_file_location("baseline_answers", args.baseline))
        baseline = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(baseline)
        graders += (f"baseline ({args.baseline.name})",)
    right: dict[str, Counter[str]] = {g: Counter() for g in graders}
    total: Counter[str] = Counter()
    errors: dict[str, list[str]] = {g: [] for g in graders}
    seconds: dict[str, float] = {"evalkit": 0.0, "math-verify": 0.0}
    for row in rows:
        ref, text = row["reference"], row["completion"]
        think, strict = row.get("think", "strip"), row.get("strict", False)
        started = time.perf_counter()
        ours = answer_verdict(ref, text, think=think, strict=strict).passed
        seconds["evalkit"] += time.perf_counter() - started
        started = time.perf_counter()
        theirs = math_verify_direct(ref, text)
        seconds["math-verify"] += time.perf_counter() - started
        mixed = math_verify_on(ref, extract(text, think=think, strict=strict).answer)
        decided = [ours, theirs, mixed]
        if baseline is not None:
            decided.append(bool(baseline.answer_verdict(ref, text).passed))
        total[row["kind"]] += 1
        for grader, passed in zip(graders, decided, strict=True):
            if passed == row["passed"]:
                right[grader][row["kind"]] += 1
            else:
                errors[grader].append(f"{row['id']}: expected {row['passed']} ({row['reason']})")
    print(f"{platform.machine()}, {platform.python_version()}; {len(rows)} rows of {TABLE.name}")
    kinds = sorted(total, key=lambda k: -total[k])
    print("| kind | rows | " + " | ".join(graders) + " |")
    print("|---|---|" + "---|" * len(graders))
    for kind in kinds:
        cells = " | ".join(str(right[g][kind]) for g in graders)
        print(f"| {kind} | {total[kind]} | {cells} |")
    overall = " | ".join(f"{sum(right[g].values())} ({100 * sum(right[g].values()) / len(rows):.1f}%)" for g in graders)
    print(f"| all | {len(rows)} | {overall} |")
    print(f"time: evalkit {seconds['evalkit']:.2f} s, math-verify {seconds['math-verify']:.2f} s (in process)")
    if args.show_errors:
        for grader in graders:
            print(f"\n{grader} wrong on {len(errors[grader])}:")
            for line in errors[grader]:
                print("  " + line)


if __name__ == "__main__":
    main()
