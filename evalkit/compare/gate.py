"""The CI regression gate: candidate vs baseline pass@k at chosen k, per task, with a family-wise error rate.

What it tests. For each task and each chosen k (a *check*), evalkit takes the problems both runs share,
cuts each problem to the samples both runs have, and computes the per-problem differences
d_i = candidate pass@k - baseline pass@k. A check is a regression when the data show, at the chosen
confidence, that mean pass@k fell by more than the tolerance: H0 "delta >= -max_drop" is rejected in
favour of "delta < -max_drop".

Which test. Every check uses the paired sign-flip test of :func:`evalkit.stats.sign_flip_test`:

- at k = n, or wherever every problem's pass@k is 0 or 1 in both runs, the exact randomisation
  distribution (with ``max_drop = 0`` this is the exact sign / McNemar test on the problems solved by one
  run only: "2 problems lost, 0 gained" has p = 0.25, not a regression);
- elsewhere (e.g. k = 1) the same test with 10,000 random sign vectors (seeded, so a gate is
  reproducible), whose p-value is valid for any number of vectors.

It is exact, whatever the number of problems and however many differences are zero, when both runs
sample the same model, and asymptotically valid for the mean difference otherwise. The paired bootstrap
is not used here: at 20 problems with most differences zero its one-sided bound covered only 86%.

The family. Holm's step-down adjustment runs over every check of the gate (all tasks x all k), so the
chance that a gate comparing two runs of one model declares any regression is at most
``1 - confidence``. Measured by ``python -m evalkit.compare.calibration --gate`` (identical models; 20 to 1,000
problems, n = 16 to 1,024, dense and sparse rates, one and three tasks, k = 1 and k = n, 500-1,000 runs
each): 0.1-4.2% at nominal 5% over all 26 settings recorded in ``reports/BENCHMARKS.md``; power to catch
a true pass@1 drop of 0.05 at 500 problems, n = 64, ``max_drop = 0.02``: 1,000 of 1,000 runs (0.944 for
a drop of 0.03).

Each check also reports an upper bound on delta that holds for all checks at once (Bonferroni over the
m checks, so slightly wider than what Holm's decision needs).

Comparable runs. The runs must agree in sampling configuration, prompt format and samples per problem;
otherwise the gate refuses (``mismatch="refuse"``, exit 2) or warns on the console (``"warn"``). Exit codes
(CLI): 0 no regression, 1 regression, 2 usage or input error (unknown run or task, k larger than the
samples per problem, fewer than two shared problems, runs that are not comparable).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from evalkit.compare.results import RunResults
from evalkit.compare.summary import common_problems, per_problem_table
from evalkit.errors import EvalkitError
from evalkit.stats import SignFlipResult, holm, sign_flip_test

Mismatch = Literal["refuse", "warn"]
N_FLIP = 10000
METHOD_EXACT = "exact sign-flip (McNemar-type)"
METHOD_RANDOM = f"sign-flip, {N_FLIP} random signs"


@dataclass
class GateResult:
    passed: bool
    lines: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if c["regression"]]


def _identity(run: RunResults) -> dict[str, Any]:
    ident = run.manifest.get("identity", {})
    return ident if isinstance(ident, dict) else {}


def _run_n(run: RunResults, problem_ids: list[str]) -> set[int]:
    return {run.n(pid) for pid in problem_ids}


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
    a difference too; a field neither run records is not checked.
    """
    lb, lc = labels
    out = []
    ib, ic = _identity(baseline), _identity(candidate)
    sb, sc = ib.get("sampling"), ic.get("sampling")
    if sb != sc and (sb is not None or sc is not None):
        if isinstance(sb, dict) and isinstance(sc, dict):
            keys = sorted(k for k in set(sb) | set(sc) if sb.get(k) != sc.get(k))
            what = ", ".join(f"{k} {_said(sb.get(k))} vs {_said(sc.get(k))}" for k in keys)
        else:
            what = f"{sb!r} vs {sc!r}"
        out.append(f"sampling configurations differ ({lb} vs {lc}): {what}")
    fb, fc = ib.get("prompt_format", "raw"), ic.get("prompt_format", "raw")
    if fb != fc:
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
    """The gate's test of every check: one sign-flip test per task over its (problems x k) differences
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


def run_gate(
    baseline: RunResults,
    candidate: RunResults,
    ks: list[int],
    max_drop: float,
    confidence: float = 0.95,
    tasks: list[str] | None = None,
    mismatch: Mismatch = "refuse",
) -> GateResult:
    """Check pass@k at each k in ``ks`` for every task (or the named ``tasks``); see the module docstring.

    Args:
        baseline: The reference run.
        candidate: The run under test.
        ks: Budgets to check (each <= the samples per problem both runs share).
        max_drop: Tolerated absolute drop of mean pass@k, in [0, 1].
        confidence: 1 - the gate's family-wise false alarm rate, in [0.5, 1).
        tasks: Task names to gate (default: every task the runs share).
        mismatch: "refuse" raises when the runs differ in sampling configuration, prompt format or n;
            "warn" records the differences in ``warnings`` and at the top of ``lines``.

    Returns:
        A :class:`GateResult`; each check holds delta, its p-value, the Holm-adjusted p-value, the
        simultaneous upper bound, the method and the verdict.

    Raises:
        EvalkitError: on invalid options, an unknown task, k above the shared samples per problem, a
            task with fewer than two shared problems, or (with ``mismatch="refuse"``) runs that differ.
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
    ks = sorted(set(ks))
    problems, notes = common_problems(baseline, candidate)
    shared_tasks = sorted({p.task for p in problems})
    if tasks:
        # a task held in several configurations is gated per configuration (add@digits=2, add@digits=4);
        # its plain name selects all of them
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
    upto = {p.id: min(baseline.n(p.id), candidate.n(p.id)) for p in problems}
    smallest = min(upto.values())
    if max(ks) > smallest:
        raise EvalkitError(
            f"gate: --k {max(ks)} exceeds the samples per problem the runs share (n = {smallest}); "
            "use a smaller --k or sample more"
        )
    warnings = [f"WARNING: {d}; the gate's verdict compares unlike runs" for d in differences]
    result = GateResult(passed=True, lines=[*warnings, *notes], warnings=warnings)
    alpha = 1.0 - confidence
    gated = sorted({p.task for p in problems})
    per_task = []
    for task in gated:
        probs = [p for p in problems if p.task == task]
        if len(probs) < 2:
            raise EvalkitError(f"gate: task {task} has {len(probs)} shared problem; the test needs at least 2")
        base_t = per_problem_table(baseline, probs, ks, upto)
        cand_t = per_problem_table(candidate, probs, ks, upto)
        per_task.append((task, probs, base_t, cand_t))
    m = len(per_task) * len(ks)  # the family: every check of this gate
    tests = gate_tests([cand_t - base_t for _, _, base_t, cand_t in per_task], max_drop, confidence)
    for (task, probs, base_t, cand_t), test in zip(per_task, tests, strict=True):
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
                }
            )
    adjusted = holm([c["p_value"] for c in result.checks])
    for check, p_adj in zip(result.checks, adjusted, strict=True):
        check["p_holm"] = float(p_adj)
        check["checks_in_family"] = m
        check["regression"] = bool(p_adj <= alpha)
        verdict = "REGRESSION" if check["regression"] else "ok"
        result.lines.append(
            f"{verdict:10s} task {check['task']}: pass@{check['k']} {check['baseline']:.4f} -> "
            f"{check['candidate']:.4f} (change {check['delta']:+.4f}; p = {check['p_value']:.3g} for a drop beyond "
            f"{max_drop:.4f}, Holm-adjusted over {m} check(s) {check['p_holm']:.3g} vs {alpha:.3g}; "
            f"simultaneous {confidence:.0%} upper bound {check['upper_bound']:+.4f}; {check['method']}; "
            f"{check['problems']} problems)"
        )
        result.passed = result.passed and not check["regression"]
    result.lines.append(
        f"The gate's false alarm rate on identical models is at most {alpha:.0%} over all its {m} check(s) "
        "(paired sign-flip tests, Holm adjustment)."
    )
    return result


def gate_summary(result: GateResult) -> dict[str, Any]:
    """The JSON form of a gate result (``evalkit gate --json``)."""
    return {
        "passed": result.passed,
        "regressions": result.regressions,
        "checks": result.checks,
        "warnings": result.warnings,
        "lines": result.lines,
        "method": "paired sign-flip test per check (exact where every pass@k is 0 or 1), Holm over all checks",
    }


__all__ = ["GateResult", "comparability", "gate_summary", "run_gate"]
