"""The one decision about a drop of pass@k: what ``evalkit gate``, ``evalkit compare`` and ``evalkit report``
all state, computed here and only here.

What it tests. For each task configuration and each chosen k (a *check*), the problems both runs share are
cut to the samples both runs have, and the per-problem differences d_i = candidate pass@k - baseline pass@k
are tested: a check is a REGRESSION when H0 "delta >= -max_drop" is rejected in favour of "delta < -max_drop"
(mean pass@k fell by more than the tolerance).

Which test. The paired sign-flip test of :func:`evalkit.stats.sign_flip_test`: exact (McNemar-type) where every
problem's pass@k is 0 or 1 in both runs (as at k = n), 10,000 seeded random sign vectors otherwise (a p-value
valid for any number of vectors). The paired bootstrap is not used: at 20 problems with most differences zero
its one-sided bound covered only 86%.

The family. Holm's step-down adjustment runs over the distinct checks the gate actually makes: one per
(task configuration, k) pair, each k counted once. ``multiplicity`` in the JSON names that family and its size.
The chance that two runs of one model give any REGRESSION is at most ``1 - confidence`` (measured by
``python -m evalkit.compare.calibration --gate``, reports/BENCHMARKS.md).

Power. Each check also states ``detectable_drop``: the smallest drop of mean pass@k it would catch with power
0.8 on these problems at this n, from the baseline's per-problem rates (:mod:`evalkit.compare.power`).

Comparable runs. The runs must agree in sampling configuration, prompt format, system message, prompt template
and samples per problem; otherwise :func:`decide` refuses (``mismatch="refuse"``) or warns (``"warn"``).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from evalkit.compare.power import detectable_drop
from evalkit.compare.results import RunResults
from evalkit.compare.summary import common_budget, common_problems, per_problem_table
from evalkit.errors import EvalkitError
from evalkit.stats import SignFlipResult, holm, sign_flip_test

Mismatch = Literal["refuse", "warn"]
N_FLIP = 10000
METHOD_EXACT = "exact sign-flip (McNemar-type)"
METHOD_RANDOM = f"sign-flip, {N_FLIP} random signs"
DEFAULT_KS = (1,)
DEFAULT_MAX_DROP = 0.02
DEFAULT_CONFIDENCE = 0.95
METHOD = "paired sign-flip test per check (exact where every pass@k is 0 or 1), Holm over the distinct checks"


def _identity(run: RunResults) -> dict[str, Any]:
    ident = run.manifest.get("identity", {})
    return ident if isinstance(ident, dict) else {}


def _run_n(run: RunResults, problem_ids: list[str]) -> set[int]:
    return {run.budget(pid) for pid in problem_ids}  # an --adaptive run stands for its rule's n


def comparability(
    baseline: RunResults,
    candidate: RunResults,
    problem_ids: list[str],
    labels: tuple[str, str] = ("baseline", "candidate"),
) -> list[str]:
    """What makes two runs not comparable: sampling configuration, prompt format, system message, prompt
    template, samples per problem.

    ``labels`` name the two runs in the sentences (``("base", "RL")`` for ``evalkit compare``).

    Returns one sentence per difference (empty when the runs agree). A field recorded in one run only is
    a difference too; a field neither run records is not checked. A setting an import left unknown (null:
    nobody stated it) is not a difference, in one run or both: it is unknown, and said so by
    :func:`evalkit.sampling.provenance.unknown_settings` (the ``unknown_settings`` of the JSON).
    """
    lb, lc = labels
    out = []
    ib, ic = _identity(baseline), _identity(candidate)
    sb, sc = ib.get("sampling"), ic.get("sampling")
    if sb != sc and (sb is not None or sc is not None):
        if isinstance(sb, dict) and isinstance(sc, dict):
            keys = sorted(k for k in set(sb) | set(sc) if _differ(sb.get(k), sc.get(k)))
            what = ", ".join(f"{k} {_said(sb.get(k))} vs {_said(sc.get(k))}" for k in keys)
        else:
            what = f"{sb!r} vs {sc!r}"
        if what:
            out.append(f"sampling configurations differ ({lb} vs {lc}): {what}")
    fb, fc = ib.get("prompt_format", "raw"), ic.get("prompt_format", "raw")
    if _differ(fb, fc):
        out.append(f"prompt formats differ: {lb} {_said(fb)}, {lc} {_said(fc)}")
    if ib.get("system") != ic.get("system"):
        out.append(f"system messages differ: {lb} {ib.get('system')!r}, {lc} {ic.get('system')!r}")
    tb, tc = ib.get("prompt_template"), ic.get("prompt_template")
    if tb != tc:
        out.append(f"prompt templates differ: {lb} {_template(tb)}, {lc} {_template(tc)}")
    nb, nc = _run_n(baseline, problem_ids), _run_n(candidate, problem_ids)
    if nb != nc:
        out.append(
            f"samples per problem differ: {lb} n = {_span(nb)}, {lc} n = {_span(nc)} "
            "(each problem is compared on the samples both runs have)"
        )
    return out


def _differ(a: Any, b: Any) -> bool:
    """Two recorded values of a setting differ: both known (not None: an import that did not state it) and
    unequal."""
    return a is not None and b is not None and a != b


def _said(value: Any) -> str:
    """A recorded setting in a sentence: ``unknown`` where an import did not state it (null)."""
    return "unknown" if value is None else repr(value)


def _template(recorded: Any) -> str:
    """A recorded ``--prompt-template`` in a few words: its sha256 prefix, or the tasks' own prompts."""
    if not isinstance(recorded, dict):
        return "the tasks' own"
    return f"--prompt-template sha256 {str(recorded.get('sha256', '?'))[:12]}"


def _span(values: set[int]) -> str:
    lo, hi = min(values), max(values)
    return str(lo) if lo == hi else f"{lo}..{hi}"


def gate_tests(
    differences: list[np.ndarray], max_drop: float, confidence: float, bound: bool = True
) -> list[SignFlipResult]:
    """The test of every check: one sign-flip test per task over its (problems x k) differences
    (candidate - baseline pass@k), with bounds at the simultaneous level ``1 - (1 - confidence) / m``."""
    m = sum(d.shape[1] for d in differences)
    level = 1.0 - (1.0 - confidence) / m
    return [sign_flip_test(d, max_drop, level, n_flip=N_FLIP, seed=0, bound=bound) for d in differences]


def gate_decisions(
    differences: list[np.ndarray], max_drop: float, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """(raw p-values, Holm-adjusted p-values) of every check, flattened task by task then k by k; a check
    is a regression when its adjusted p-value is <= 1 - confidence. :mod:`evalkit.compare.calibration` measures
    the gate's false alarm rate and power through this function."""
    tests = gate_tests(differences, max_drop, confidence, bound=False)
    p = np.concatenate([np.atleast_1d(t.p_value) for t in tests])
    return p, holm(p)


@dataclass
class Decision:
    """The outcome of :func:`decide`: every check, the family, notes and warnings."""

    passed: bool
    ks: list[int]
    max_drop: float
    confidence: float
    tasks: list[str]
    checks: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if c["regression"]]

    @property
    def multiplicity(self) -> dict[str, Any]:
        """The family of Holm's adjustment: which checks, how many."""
        ks = ", ".join(str(k) for k in self.ks)
        return {
            "family": f"the distinct (task, k) checks of the gate: task(s) {', '.join(self.tasks)} x k = {ks}",
            "size": len(self.checks),
            "method": "Holm",
        }


def validate_options(ks: list[int], max_drop: float, confidence: float = 0.95, mismatch: str = "refuse") -> None:
    """Check the gate's options before any work (``compare`` and ``report`` call it for their ``--k`` and
    ``--max-drop`` too, so a bad value is exit 2 there as in ``evalkit gate``).

    Raises:
        EvalkitError: no k, a k below 1, a max drop outside [0, 1], a confidence outside [0.5, 1).
    """
    if not ks:
        raise EvalkitError("gate: give at least one --k")
    if any(k < 1 for k in ks):
        raise EvalkitError("gate: every --k must be >= 1")
    if not 0 <= max_drop <= 1:
        raise EvalkitError(f"gate: --max-drop must be between 0 and 1 (got {max_drop})")
    if not 0.5 <= confidence < 1:
        raise EvalkitError(f"gate: --confidence must be in [0.5, 1) (got {confidence})")
    if mismatch not in ("refuse", "warn"):
        raise EvalkitError(f"gate: mismatch must be 'refuse' or 'warn' (got {mismatch!r})")


def decide(
    baseline: RunResults,
    candidate: RunResults,
    ks: list[int],
    max_drop: float = DEFAULT_MAX_DROP,
    confidence: float = DEFAULT_CONFIDENCE,
    tasks: list[str] | None = None,
    mismatch: Mismatch = "refuse",
) -> Decision:
    """Test pass@k at each k in ``ks`` for every task configuration (or the named ``tasks``).

    Args:
        baseline: The reference run (the base, for ``compare``); candidate: the run under test (RL).
        ks: Budgets to check (each <= the samples per problem both runs share); duplicates count once.
        max_drop: Tolerated absolute drop of mean pass@k, in [0, 1].
        confidence: 1 - the family-wise false alarm rate, in [0.5, 1).
        tasks: Task names or specs to check (default: every task configuration the runs share; a plain name
            selects each of its configurations, ``add`` selects ``add@digits=2`` and ``add@digits=4``).
        mismatch: "refuse" raises when the runs are not comparable; "warn" records the differences.

    Returns:
        A :class:`Decision`; each check holds task, k, problems, baseline and candidate mean pass@k, delta,
        p_value, p_holm, upper_bound (simultaneous, Bonferroni over the checks), method, regression,
        checks_in_family and detectable_drop (None when no drop is caught with power 0.8).

    Raises:
        EvalkitError: on invalid options, an unknown task, k above the shared samples per problem, a task
            with fewer than two shared problems, or (with ``mismatch="refuse"``) runs that are not comparable.
    """
    validate_options(ks, max_drop, confidence, mismatch)
    ks = sorted(set(ks))
    problems, notes = common_problems(baseline, candidate)
    shared_tasks = sorted({p.task for p in problems})
    if tasks:
        chosen = {t: [s for s in shared_tasks if s == t or s.partition("@")[0] == t] for t in tasks}
        unknown = sorted(t for t, scopes in chosen.items() if not scopes)
        if unknown:
            raise EvalkitError(
                f"gate: task(s) {', '.join(unknown)} not shared by the two runs; shared: {', '.join(shared_tasks)}"
            )
        selected = {s for scopes in chosen.values() for s in scopes}
        problems = [p for p in problems if p.task in selected]
    differences = comparability(baseline, candidate, [p.id for p in problems])
    if differences and mismatch == "refuse":
        raise EvalkitError(
            "gate: the runs are not comparable: " + "; ".join(differences) + ". Sample both alike, or pass "
            "--allow-mismatch to gate anyway with a warning."
        )
    upto = common_budget(baseline, candidate, problems)  # an --adaptive run: its rule's n, estimator unbiased
    smallest = min(upto.values())
    if max(ks) > smallest:
        raise EvalkitError(
            f"gate: --k {max(ks)} exceeds the samples per problem the runs share (n = {smallest}); "
            "use a smaller --k or sample more"
        )
    gated = sorted({p.task for p in problems})
    per_task = []
    for task in gated:
        probs = [p for p in problems if p.task == task]
        if len(probs) < 2:
            raise EvalkitError(f"gate: task {task} has {len(probs)} shared problem; the test needs at least 2")
        per_task.append(
            (task, probs, per_problem_table(baseline, probs, ks, upto), per_problem_table(candidate, probs, ks, upto))
        )
    warnings = [f"WARNING: {d}; the gate's verdict compares unlike runs" for d in differences]
    result = Decision(True, ks, max_drop, confidence, gated, notes=notes, warnings=warnings)
    m = len(per_task) * len(ks)
    tests = gate_tests([cand_t - base_t for *_, base_t, cand_t in per_task], max_drop, confidence)
    for (task, probs, base_t, cand_t), test in zip(per_task, tests, strict=True):
        # per-sample rates for the power figure (S / T of the rule for an --adaptive baseline: a plug-in guess)
        rates = np.array([baseline.hits(p.id, upto[p.id]) / baseline.trials(p.id, upto[p.id]) for p in probs])
        n_task = min(upto[p.id] for p in probs)
        for j, k in enumerate(ks):
            result.checks.append(
                {
                    "task": task,
                    "k": k,
                    "problems": len(probs),
                    "baseline": float(base_t[:, j].mean()),
                    "candidate": float(cand_t[:, j].mean()),
                    "delta": float(test.estimate[j]),
                    "p_value": float(test.p_value[j]),
                    "upper_bound": float(test.upper[j]),
                    "method": METHOD_EXACT if bool(test.exact[j]) else METHOD_RANDOM,
                    "confidence": confidence,
                    "max_drop": max_drop,
                    "detectable_drop": detectable_drop(rates, n_task, k, max_drop, confidence, m),
                }
            )
    adjusted = holm([c["p_value"] for c in result.checks])
    for check, p_adj in zip(result.checks, adjusted, strict=True):
        check["p_holm"] = float(p_adj)
        check["checks_in_family"] = m
        check["regression"] = bool(p_adj <= 1.0 - confidence)
        result.passed = result.passed and not check["regression"]
    return result


def check_line(check: dict[str, Any]) -> str:
    """One check in words, starting with REGRESSION or ok."""
    verdict = "REGRESSION" if check["regression"] else "ok"
    alpha = 1.0 - check["confidence"]
    return (
        f"{verdict:10s} task {check['task']}: pass@{check['k']} {check['baseline']:.4f} -> "
        f"{check['candidate']:.4f} (change {check['delta']:+.4f}; p = {check['p_value']:.3g} for a drop beyond "
        f"{check['max_drop']:.4f}, Holm-adjusted over {check['checks_in_family']} check(s) {check['p_holm']:.3g} vs "
        f"{alpha:.3g}; simultaneous {check['confidence']:.0%} upper bound {check['upper_bound']:+.4f}; "
        f"{check['method']}; {check['problems']} problems)"
    )


def _detectable_text(check: dict[str, Any]) -> str:
    drop = check["detectable_drop"]
    where = f"pass@{check['k']} on {check['task']}"
    if drop is None:
        return f"{where}: none (even a fall to 0 would be missed more than 20% of the time)"
    return f"{where}: {drop:.4f}"


def decision_lines(result: Decision) -> list[str]:
    """The gate's text: warnings, notes, one line per check, the family and the detectable drops."""
    m = len(result.checks)
    alpha = 1.0 - result.confidence
    return [
        *result.warnings,
        *result.notes,
        *(check_line(c) for c in result.checks),
        f"The gate's false alarm rate on identical models is at most {alpha:.0%} over all its {m} check(s) "
        "(paired sign-flip tests, Holm adjustment).",
        "Smallest drop these runs detect with power 0.8 (from the baseline's per-problem rates): "
        + "; ".join(_detectable_text(c) for c in result.checks)
        + ".",
    ]


def gate_command(
    baseline: Path | str,
    candidate: Path | str,
    ks: list[int],
    max_drop: float,
    confidence: float = DEFAULT_CONFIDENCE,
    tasks: list[str] | None = None,
) -> str:
    """The ``evalkit gate`` command line that gives this decision."""
    parts = ["evalkit", "gate", shlex.quote(str(baseline)), shlex.quote(str(candidate))]
    parts += [f"--k {k}" for k in sorted(set(ks))]
    parts.append(f"--max-drop {max_drop:g}")
    if confidence != DEFAULT_CONFIDENCE:
        parts.append(f"--confidence {confidence:g}")
    parts += [f"--task {shlex.quote(t)}" for t in tasks or []]
    return " ".join(parts)


def decision_summary(result: Decision, command: str | None = None) -> dict[str, Any]:
    """The JSON form (``evalkit gate --json``, and ``summary["gate"]`` of compare and report)."""
    drops = [c["detectable_drop"] for c in result.checks]
    out: dict[str, Any] = {
        "passed": result.passed,
        "verdict": "PASS" if result.passed else "REGRESSION",
        "regressions": result.regressions,
        "checks": result.checks,
        "ks": result.ks,
        "max_drop": result.max_drop,
        "confidence": result.confidence,
        "multiplicity": result.multiplicity,
        # the drop every check catches with power 0.8 (None when some check catches none)
        "detectable_drop": None if any(d is None for d in drops) else max(drops),
        "warnings": result.warnings,
        "lines": decision_lines(result),
        "method": METHOD,
    }
    if command is not None:
        out["command"] = command
    return out


def compare_decision(
    base: RunResults,
    rl: RunResults,
    ks: list[int],
    max_drop: float,
    confidence: float = DEFAULT_CONFIDENCE,
    mismatch: Mismatch = "refuse",
    allow_partial: bool = False,
    truncate_n: bool = False,
) -> dict[str, Any]:
    """``summary["gate"]`` for ``compare`` / ``report``: the gate's decision on (base, RL) with its command,
    or, where the gate would refuse (exit 2), ``{"refused": message, "command": ...}``. ``mismatch`` is
    "warn" where the comparison itself went on despite unlike runs (the gate would need --allow-mismatch);
    ``allow_partial``: the comparison was of partial runs (--allow-partial), and so is the gate command;
    ``truncate_n``: the runs were cut to one n per task (--truncate-n, :mod:`evalkit.compare.common_n`), and
    so is the gate command."""
    command = gate_command(base.root, rl.root, ks, max_drop, confidence)
    if mismatch == "warn":
        command += " --allow-mismatch"
    if allow_partial:
        command += " --allow-partial"
    if truncate_n:
        command += " --truncate-n"
    try:
        result = decide(base, rl, ks, max_drop, confidence, mismatch=mismatch)
    except EvalkitError as exc:
        return {"passed": None, "verdict": "refused", "refused": str(exc), "command": command,
                "lines": [f"The gate refuses these runs (exit 2): {exc}"]}  # fmt: skip
    return decision_summary(result, command)


def gate_claims(summary: dict[str, Any], gate: dict[str, Any]) -> list[dict[str, Any]]:
    """One ``gate`` claim per scope of the summary's claims: the gate's verdict, and its regressions on the
    scope's tasks (a plain task name of a check matches each configuration of it)."""
    scopes: list[dict[str, Any]] = []
    for claim in summary.get("claims", []):
        if claim["scope"] not in scopes:
            scopes.append(claim["scope"])
    out = []
    for scope in scopes:
        tasks = set(scope["tasks"])
        regressions = [
            {key: c[key] for key in ("task", "k", "delta", "p_value", "p_holm", "upper_bound")}
            for c in gate.get("regressions", [])
            if c["task"] in tasks
        ]
        out.append(
            {
                "kind": "gate",
                "scope": scope,
                "test": gate.get("method", METHOD),
                "error_rate": None if gate.get("passed") is None else round(1.0 - float(gate["confidence"]), 10),
                "verdict": gate["verdict"],
                "command": gate.get("command"),
                "ks": gate.get("ks"),
                "max_drop": gate.get("max_drop"),
                "multiplicity": gate.get("multiplicity"),
                "regressions": regressions,
                "detectable_drop": gate.get("detectable_drop"),
                "refused": gate.get("refused"),
            }
        )
    return out


def attach_decision(
    summary: dict[str, Any],
    base: RunResults,
    rl: RunResults,
    ks: list[int],
    max_drop: float,
    confidence: float = DEFAULT_CONFIDENCE,
    allow_partial: bool = False,
    truncate_n: bool = False,
) -> dict[str, Any]:
    """Record the gate's decision in a comparison summary (``summary["gate"]``), add its ``gate`` claims and
    render the verdict again, so that the verdict, the terminal and the report say what ``evalkit gate``
    says. Returns ``summary["gate"]``."""
    from evalkit.compare.verdict import verdict_sentences

    gate = compare_decision(base, rl, ks, max_drop, confidence, allow_partial=allow_partial, truncate_n=truncate_n)
    summary["gate"] = gate
    summary["claims"] = [c for c in summary.get("claims", []) if c["kind"] != "gate"] + gate_claims(summary, gate)
    summary["verdict"] = verdict_sentences(summary)
    return gate


__all__ = [
    "Decision",
    "attach_decision",
    "comparability",
    "compare_decision",
    "decide",
    "decision_lines",
    "decision_summary",
    "gate_claims",
    "gate_command",
    "gate_decisions",
    "gate_tests",
]
