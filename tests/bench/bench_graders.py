"""Three graders on real model outputs: evalkit, math-verify alone, and the Qwen2.5-Math evaluation grader.

Workload: the answer rows of ``tests/data/answer_conformance_real.jsonl`` and its held-back part (published
completions of Qwen2.5-Math-7B-Instruct on MATH, ToRA-70B / ToRA-Code-34B and GPT-3 on GSM8K, and
Qwen2.5-Math-1.5B with an r1-zero prompt, Minerva 540B on MATH; each labelled by reading it, see
``tests/test_answer_conformance_real.py``). Graders:

- evalkit: :func:`evalkit.grading.answers.answer_verdict` with the question, then
  :func:`evalkit.verify.with_finish_reason` with the row's finish reason (``unknown``);
- math-verify alone, as its documentation shows: ``verify(parse("$" + reference + "$"), parse(completion))``;
- the Qwen2.5-Math grader: its published code (``evaluation/parser.py`` and ``evaluation/grader.py`` of
  https://github.com/QwenLM/Qwen2.5-Math, unchanged), run by ``tests/bench/qwen_math_grader.py`` in its own
  virtual environment (``--qwen-python``, with sympy 1.12 and antlr4 4.11.1 as its requirements pin) on the
  ``evaluation/`` folder of a checkout (``--qwen-dir``). Without those options that column is left out.

The pairs of public bug reports of other graders (``bug-report`` rows of the held-back file) are a second,
separate workload. The code rows (HumanEval runs) are compared with the verdict their publishing harness
recorded.

Prints, per grader, rows right (its ``passed`` equals the label), agreement with evalkit, and for every row
where a grader disagrees with evalkit, who is right. Not run in CI:
``python tests/bench/bench_graders.py [--qwen-python VENV/bin/python --qwen-dir Qwen2.5-Math/evaluation]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "data"
TABLES = ("answer_conformance_real.jsonl", "answer_conformance_real_heldout.jsonl")
ADAPTER = Path(__file__).resolve().parent / "qwen_math_grader.py"


def load_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name in TABLES:
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            rows.append(json.loads(line) | {"table": "held-back" if "heldout" in name else "main"})
    return rows


def math_verify_alone(reference: str, completion: str) -> bool:
    from math_verify import parse, verify

    gold = parse(f"${reference}$", parsing_timeout=None)
    answer = parse(completion, parsing_timeout=None)
    return bool(gold and answer and verify(gold, answer, timeout_seconds=None))


def qwen_grader(rows: list[dict[str, Any]], python: str, qwen_dir: str) -> list[bool]:
    lines = "".join(
        json.dumps({"reference": r["reference"], "completion": r["completion"], "data_name": r["data_name"]}) + "\n"
        for r in rows
    )
    done = subprocess.run(
        [python, str(ADAPTER), "--qwen-dir", qwen_dir], input=lines, capture_output=True, text=True, check=True
    )
    return [bool(json.loads(line)["passed"]) for line in done.stdout.splitlines()]


def code_rows_report(rows: list[dict[str, Any]]) -> None:
    from evalkit.grading.programs import extract_program
    from evalkit.grading.sandbox import run_tests

    right = {"evalkit": 0, "publishing harness": 0}
    disagreements: list[str] = []
    for row in rows:
        program = extract_program(row["completion"], row["entry_point"])
        ours = run_tests(program, row["tests"], row["entry_point"], prompt=row["prompt"]).confirmed
        theirs = bool(row["source_verdict"])
        right["evalkit"] += ours is row["passed"]
        right["publishing harness"] += theirs is row["passed"]
        if ours is not theirs:
            winner = "evalkit" if ours is row["passed"] else "harness"
            disagreements.append(f"  {row['id']}: evalkit {ours}, harness {theirs}, label {row['passed']} -> {winner}")
    print(f"\ncode rows: {len(rows)}; right: " + ", ".join(f"{k} {v}" for k, v in right.items()))
    print(f"disagreements evalkit vs harness: {len(disagreements)}")
    print("\n".join(disagreements))


def compare(title: str, answers: list[dict[str, Any]], qwen_python: str | None, qwen_dir: str | None) -> None:
    """Print each grader's right rows (main / held-back), agreement with evalkit and every disagreement."""
    from evalkit.grading.answers import answer_verdict
    from evalkit.verify.stage import with_finish_reason

    verdicts: dict[str, list[bool]] = {"evalkit": [], "math-verify": []}
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    for r in answers:
        verdict = answer_verdict(r["reference"], r["completion"], prompt=r["prompt"])
        verdicts["evalkit"].append(with_finish_reason(verdict, r["finish_reason"]).passed)
    seconds["evalkit"] = time.perf_counter() - started
    started = time.perf_counter()
    verdicts["math-verify"] = [math_verify_alone(r["reference"], r["completion"]) for r in answers]
    seconds["math-verify"] = time.perf_counter() - started
    if qwen_python and qwen_dir:
        started = time.perf_counter()
        verdicts["Qwen2.5-Math grader"] = qwen_grader(answers, qwen_python, qwen_dir)
        seconds["Qwen2.5-Math grader"] = time.perf_counter() - started
    print(f"\n== {title}: {len(answers)} answer rows")
    head = f"{'grader':<22}{'right (main)':>14}{'right (held-back)':>19}{'right (all)':>13}"
    print(f"{head}{'agrees w/ evalkit':>19}{'s':>7}")
    labels = [r["passed"] for r in answers]
    for name, got in verdicts.items():
        part = {
            t: [g is lab for g, lab, r in zip(got, labels, answers, strict=True) if r["table"] == t]
            for t in ("main", "held-back")
        }
        agree = sum(g is e for g, e in zip(got, verdicts["evalkit"], strict=True))
        all_right = sum(part["main"]) + sum(part["held-back"])
        print(
            f"{name:<22}{sum(part['main']):>8}/{len(part['main'])}{sum(part['held-back']):>14}/{len(part['held-back'])}"
            f"{all_right:>9}/{len(answers)}{agree:>15}/{len(answers)}{seconds[name]:>7.1f}"
        )
    for name, got in verdicts.items():
        if name == "evalkit":
            continue
        split = [(r, g) for r, g, e in zip(answers, got, verdicts["evalkit"], strict=True) if g is not e]
        ours = sum(r["passed"] is not g for r, g in split)
        print(
            f"\nevalkit vs {name}: {len(split)} disagreements, evalkit right on {ours}, {name} on {len(split) - ours}"
        )
        by_family = Counter((r["family"], "evalkit" if r["passed"] is not g else name) for r, g in split)
        print("  by family: " + ", ".join(f"{fam} {who} {n}" for (fam, who), n in sorted(by_family.items())))
        for r, g in split:
            winner = "evalkit" if r["passed"] is not g else name
            print(f"  {r['id']} [{r['kind']}] label {r['passed']}, {name} {g} -> {winner}: {r['reason'][:90]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--qwen-python", help="python of a virtual environment with the Qwen2.5-Math requirements")
    parser.add_argument("--qwen-dir", help="the evaluation/ folder of a Qwen2.5-Math checkout")
    args = parser.parse_args()
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    rows = load_rows()
    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    real = [r for r in rows if r["family"] not in ("humaneval", "bug-report")]
    compare("real model outputs", real, args.qwen_python, args.qwen_dir)
    compare("public bug reports", [r for r in rows if r["family"] == "bug-report"], args.qwen_python, args.qwen_dir)
    code_rows_report([r for r in rows if r["family"] == "humaneval"])


if __name__ == "__main__":
    main()
