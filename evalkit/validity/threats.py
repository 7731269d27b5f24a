"""The validity section of a comparison: each threat's per-problem flags, and the verdict without them.

Threats, each a set of flagged problems among the compared ones:

* ``health`` (always): problems flagged by :mod:`evalkit.validity.health` in the base or the RL run
  (truncated, looping or empty samples, passes read by fallback rules);
* ``contamination`` (with an audit): problems the partial-prompt audit flagged as likely memorised
  (:mod:`evalkit.validity.contamination`);
* ``guess`` (with an audit): problems of a guessability audit (:mod:`evalkit.validity.guess`) that are within
  reach of guessing *and* were solved at least once: a pass there may be a guess (a problem never solved holds
  no pass that a guess could explain);
* ``excluded`` (with ``--exclude FILE``): the user's own list of problem ids.

The comparison is then recomputed without every flagged problem through the same code,
:func:`evalkit.compare.summary.compare_runs` on the runs restricted to the other problems, and its claims
are set beside the original ones: a shown claim (a gain or loss at k, sharpening, the bound on the base's
rate on RL-only problems, a base-only excess, expansion) that is not made again without the flagged problems
is marked ``only_with_flagged``. With token counts, budget parity (:mod:`evalkit.validity.budget`) is added,
and when one model's completions are much longer, the comparison at a matched token limit, through the same
code, with its claims marked ``only_at_unequal_lengths`` where they do not survive it.

Not covered: a recomputation per threat (one, without all flagged problems), and any correction for having
looked (the flags are fixed by stated rules before the recomputation, never chosen from its outcome).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evalkit.compare.results import RunResults
from evalkit.compare.summary import compare_runs
from evalkit.errors import EvalkitError
from evalkit.validity.budget import budget_section, limited
from evalkit.validity.health import LoopTexts, RunSignals, flag_rule, problem_health, read_signals, run_health

#: Claim kinds that state something shown at an error rate (the others are counts or "nothing shown").
SHOWN = ("gain_at_k", "loss_at_k", "sharpened", "rl_only_bounded", "base_only_excess", "out_of_support", "expansion")
GUESS_RULE = "within reach of guessing (not shown above it, Holm over the run's problems) and solved at least once"


def read_exclusions(path: Path, compared: Sequence[str]) -> dict[str, str]:
    """Problem ids listed in ``path`` (one a line; blank lines and ``#`` comments skipped) -> why.

    Raises:
        EvalkitError: a missing or unreadable file, or an id that is not among the compared problems (naming
            the file and line).
    """
    known = set(compared)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise EvalkitError(f"--exclude {path}: no such file (one problem id a line)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalkitError(f"--exclude {path}: cannot read it ({exc})") from None
    out: dict[str, str] = {}
    for lineno, line in enumerate(lines, 1):
        pid = line.split("#", 1)[0].strip()
        if not pid:
            continue
        if pid not in known:
            raise EvalkitError(
                f"{path}:{lineno}: problem id {pid!r} is not among the {len(known)} compared problems "
                "(ids both runs hold; see report.json's problems)"
            )
        out[pid] = f"listed in {path.name} line {lineno}"
    return out


def load_audit(path: Path) -> dict[str, Any]:
    """An audit result: a contamination audit's run directory, or the JSON printed by ``evalkit audit
    contamination --json`` or ``evalkit audit guess --json``.

    Returns:
        ``{"kind": "contamination" | "guess", "source", "rule", "flagged": {problem_id: reason},
        "audited": [problem ids], "tasks": [task names]}``.

    Raises:
        EvalkitError: a missing path, or a file or folder that is not an audit result.
    """
    from evalkit.validity.contamination import contamination_report

    if path.is_dir():
        data = contamination_report(path)  # refuses a run that is not a contamination audit
    elif path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EvalkitError(f"--audit {path}: not an audit result ({exc})") from None
    else:
        raise EvalkitError(f"--audit {path}: no such file or folder")
    rows = data.get("problems") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "problem_id" in r for r in rows):
        raise EvalkitError(
            f"--audit {path}: not an audit result (give a contamination audit's run folder, or the JSON of "
            "`evalkit audit contamination --json` or `evalkit audit guess --json`)"
        )
    tasks = sorted({str(r.get("task")) for r in rows})
    audited = [str(r["problem_id"]) for r in rows]
    if "flag_rule" in data:
        flagged = {str(r["problem_id"]): str(r.get("reason") or "flagged") for r in rows if r.get("flagged")}
        return {"kind": "contamination", "source": str(path), "rule": data["flag_rule"], "flagged": flagged,
                "audited": audited, "tasks": tasks}  # fmt: skip
    if all("within_reach" in r for r in rows):
        flagged = {
            str(r["problem_id"]): f"{r.get('c')} of {r.get('n')} passes; p above guessing {r.get('p_above_guess'):.3g}"
            for r in rows
            if r["within_reach"] and int(r.get("c") or 0) > 0
        }
        return {"kind": "guess", "source": str(path), "rule": GUESS_RULE, "flagged": flagged,
                "audited": audited, "tasks": tasks}  # fmt: skip
    raise EvalkitError(f"--audit {path}: not an audit result (no flag_rule and no within_reach per problem)")


def _check_audit_scope(audit: dict[str, Any], compared: Sequence[str], run_tasks: Sequence[str]) -> None:
    if not set(audit["audited"]) & set(compared):
        raise EvalkitError(
            f"--audit {audit['source']}: it audited task(s) {', '.join(audit['tasks'])}, but no problem of the "
            f"compared runs (task(s) {', '.join(run_tasks)}); audit the same task and problems"
        )


def _claim_key(claim: dict[str, Any]) -> tuple[str, tuple[str, ...], int | None]:
    return str(claim["kind"]), tuple(claim.get("scope", {}).get("tasks") or []), claim.get("k")


LABELS = {
    "gain_at_k": "RL gains",
    "loss_at_k": "RL loses",
    "sharpened": "sharpened",
    "rl_only_bounded": "base's rate bounded on RL-only problems",
    "base_only_excess": "base-only excess",
    "out_of_support": "RL-only solutions out of the base's support",
    "expansion": "expansion",
}


def _label(claim: dict[str, Any]) -> str:
    tasks = ", ".join(claim.get("scope", {}).get("tasks") or [])
    at = f" at k = {claim['k']}" if claim.get("k") is not None else ""
    return f"{LABELS.get(claim['kind'], claim['kind'])}{at} ({tasks})"


def claims_beside(original: dict[str, Any], other: dict[str, Any] | None, mark: str) -> list[dict[str, Any]]:
    """The original summary's shown claims, each with whether ``other`` makes it again; ``mark`` is set on the
    ones it does not make (with ``other`` None, no claim can be checked: ``holds`` is None)."""
    again = {_claim_key(c): c for c in (other or {}).get("claims", [])}
    # the delta at the same scope and k, whatever the other summary claims about it (also "no change shown")
    deltas = {_claim_key(c)[1:]: c["delta"] for c in (other or {}).get("claims", []) if c.get("delta") is not None}
    out = []
    for claim in original.get("claims", []):
        if claim["kind"] not in SHOWN:
            continue
        twin = again.get(_claim_key(claim)) if other is not None else None
        holds = None if other is None else twin is not None
        out.append({
            "claim": _label(claim), "kind": claim["kind"], "scope": claim.get("scope"), "k": claim.get("k"),
            "delta": claim.get("delta"),
            "delta_after": None if claim.get("delta") is None else deltas.get(_claim_key(claim)[1:]),
            "holds": holds, "mark": mark if holds is False else None,
        })  # fmt: skip
    return out


def deltas_beside(original: dict[str, Any], other: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Per task and k: RL - base mean pass@k and whether the change is shown, in both summaries."""
    rows = []
    for task, sec in original.get("tasks", {}).items():
        twin = ((other or {}).get("tasks") or {}).get(task)
        for k, cell in sec["delta"].items():
            after = None if twin is None else twin["delta"].get(k)
            rows.append({
                "task": task, "k": int(k), "delta": cell["delta"], "shown": bool(cell.get("significant")),
                "delta_after": None if after is None else after["delta"],
                "shown_after": None if after is None else bool(after.get("significant")),
                "problems_after": None if twin is None else twin["n_problems"], "problems": sec["n_problems"],
            })  # fmt: skip
    return rows


def frontier_beside(original: dict[str, Any], other: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Per task: RL-only and base-only problem counts in both summaries (None where the task is gone)."""
    rows = []
    for task, sec in original.get("tasks", {}).items():
        twin = ((other or {}).get("tasks") or {}).get(task)
        rows.append({
            "task": task, "rl_only": sec["classes"]["rl_only"], "base_only": sec["classes"]["base_only"],
            "rl_only_after": None if twin is None else twin["classes"]["rl_only"],
            "base_only_after": None if twin is None else twin["classes"]["base_only"],
        })  # fmt: skip
    return rows


def _without(results: RunResults, dropped: set[str]) -> RunResults:
    return dataclasses.replace(results, problems=[p for p in results.problems if p.id not in dropped])


def _health_threat(signals: dict[str, RunSignals], compared: set[str]) -> dict[str, Any]:
    flagged: dict[str, list[str]] = {}
    runs = {}
    for model, sig in signals.items():
        rows = problem_health(sig)
        runs[model] = run_health(sig, rows)
        for pid, row in rows.items():
            if pid in compared and row["flags"]:
                flagged.setdefault(pid, []).extend(f"{model}: {flag}" for flag in row["flags"])
    return {"rule": flag_rule(), "flagged": {p: "; ".join(v) for p, v in sorted(flagged.items())}, "runs": runs}


def validity_section(
    base: RunResults,
    rl: RunResults,
    summary: dict[str, Any],
    audits: Sequence[Path] = (),
    exclude: Path | None = None,
    loop_texts: LoopTexts = "suspect",
) -> dict[str, Any]:
    """The ``validity`` section of ``summary`` (the :func:`compare_runs` summary of ``base`` vs ``rl``).

    Raises:
        EvalkitError: an exclusion file with an unknown id, an audit that is not one or is of other problems.
    """
    title = str(summary.get("title") or "")
    confidence = float((summary.get("overall") or next(iter(summary["tasks"].values()))).get("confidence", 0.95))
    compared = [row["problem_id"] for row in summary["problems"]]
    run_tasks = sorted({row["task"] for row in summary["problems"]})
    threats: dict[str, Any] = {}
    excluded = read_exclusions(exclude, compared) if exclude is not None else None
    loaded = [load_audit(p) for p in audits]
    for audit in loaded:
        _check_audit_scope(audit, compared, run_tasks)
    signals = {"base": read_signals(base.root, loop_texts), "rl": read_signals(rl.root, loop_texts)}
    threats["health"] = _health_threat(signals, set(compared))
    for audit in loaded:
        mine = {p: r for p, r in audit["flagged"].items() if p in set(compared)}
        entry = threats.setdefault(audit["kind"], {"rule": audit["rule"], "flagged": {}, "sources": []})
        entry["flagged"].update(mine)
        entry["sources"].append(audit["source"])
        entry["not_audited"] = len(set(compared) - set(audit["audited"]))
    if excluded is not None:
        threats["excluded"] = {"rule": f"problem ids listed in {exclude}", "flagged": excluded}
    flagged: dict[str, list[str]] = {}
    for name, entry in threats.items():
        for pid in entry["flagged"]:
            flagged.setdefault(pid, []).append(name)
    dropped = set(flagged)
    left = len(compared) - len(dropped)
    without = None
    if left and dropped:
        without = compare_runs(_without(base, dropped), _without(rl, dropped), title, confidence)
    section: dict[str, Any] = {
        "threats": {name: {**entry, "count": len(entry["flagged"])} for name, entry in threats.items()},
        "flagged": dict(sorted(flagged.items())),
        "problems": len(compared),
        "without_flagged": {
            "problems": left,
            "dropped": len(dropped),
            "reason": None if left else "every compared problem is flagged: nothing left to compare",
            "claims": claims_beside(summary, without if dropped else summary, "only_with_flagged"),
            "deltas": deltas_beside(summary, without if dropped else summary),
            "frontier": frontier_beside(summary, without if dropped else summary),
            "verdict": None if without is None else without.get("verdict"),
        },
    }
    upto = {row["problem_id"]: int(row["n"]) for row in summary["problems"]}
    budget = budget_section({"base": base, "rl": rl}, signals, compared, upto, list(summary.get("ks") or [1]))
    matched = budget.get("matched_limit")
    if matched is not None:
        at_limit = compare_runs(
            limited(base, signals["base"], matched["limit"]), limited(rl, signals["rl"], matched["limit"]),
            title, confidence,
        )  # fmt: skip
        matched["claims"] = claims_beside(summary, at_limit, "only_at_unequal_lengths")
        matched["deltas"] = deltas_beside(summary, at_limit)
    section["budget"] = budget
    section["marked"] = sum(1 for c in section["without_flagged"]["claims"] if c["mark"]) + sum(
        1 for c in (matched or {}).get("claims", []) if c["mark"]
    )
    return section
