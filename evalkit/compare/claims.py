"""The verdict as a list of claims: what a comparison states, on which problems, by which test, at which error rate.

Each claim is a JSON object with ``kind``, ``scope`` (``{"tasks": [...], "n": n}``: the tasks it is about, all
sampled n times per problem and model), ``k`` where it is about pass@k, ``test`` (the method), ``error_rate``
(the chance that the test makes a claim of this kind when it is false: 0.05 at 95%; 0.0 for a fact read off the
data, such as an observed count or a computed likelihood) and its numbers. The verdict prose
(:mod:`evalkit.compare.verdict`) is rendered from these claims alone.

Kinds, for each scope (a set of tasks that share n; never tasks of different n together):

* ``gain_at_k`` / ``loss_at_k``: mean pass@k of RL is above / below the base's, at k = 1 and k = n. Two-sided
  paired sign-flip test, Holm's adjustment over every delta cell of the summary (family-wise 5%).
* ``no_change_shown``: at that k neither was shown. It claims nothing (error rate None): not evidence of none.
  ``test_rejects_interval_holds_0`` is true where the test rejected but the printed interval holds 0; the verdict
  then says so (both must agree for a change to be shown).
* ``sharpened``: RL is better at k = 1 (the ``gain_at_k`` claim at k = 1, same test and error rate).
* ``frontier_counts``: how many problems only RL (only the base) solved in n samples each: observed counts, with
  the exact McNemar p-values beside them (error rate 0.0: a count of what was seen).
* ``rl_only_bounded``: the base solved none of the K RL-only problems in n samples; its per-sample rate is below
  X on every one of them, 95% family-wise over all N compared problems (one-sided Clopper-Pearson at 1 - 0.05/N
  each, Bonferroni). Bounded to the budget; never "the base cannot solve them", and never expansion by itself.
* ``base_only_excess``: more problems solved by the base and never by RL than equal per-problem rates would give
  (exact conditional test, :func:`evalkit.stats.frontier_class_test`, p <= 0.05): RL lost reach somewhere.
  Always said in the closing sentence when shown.
* ``likelihood_figures``: with ``evalkit likelihood`` files, the base's probability of RL's most likely correct
  text on the RL-only problems and RL's of the base's on the base-only problems (a computation: error rate 0.0;
  about the scored texts only).
* ``out_of_support``: RL-only problems whose scored correct RL texts all have a base probability below epsilon
  (0 where a token lies outside the base sampler's top-k / top-p set), from the likelihood files.
* ``expansion``: only with ``out_of_support`` problems on which RL's per-sample rate is shown above the base's:
  RL solved them, the base never did in n samples, the base's rate there is below X and RL's above Y > X (one-sided
  Clopper-Pearson bounds at 1 - 0.05/(2N) each, Bonferroni over both bounds of all N compared problems), and
  RL's scored correct texts lie outside the base's reach. Error rate 0.05 (the bounds'); about the scored texts
  (other correct solutions may exist). Requiring the shown separation keeps sharpening (RL's rate a few times a
  tiny base rate, solved once by chance) from being called expansion.
* ``gate``: with ``--k`` / ``--max-drop`` (compare, report): what ``evalkit gate`` says on the same runs
  (:mod:`evalkit.compare.decision`): its verdict, command, family (``multiplicity``) and the regressions on the
  scope's tasks. One-sided paired sign-flip test of a drop beyond max_drop, Holm over the gate's checks.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

KINDS = (
    "gain_at_k",
    "loss_at_k",
    "no_change_shown",
    "sharpened",
    "frontier_counts",
    "rl_only_bounded",
    "base_only_excess",
    "likelihood_figures",
    "out_of_support",
    "expansion",
    "gate",
)


def _delta_claim(section: Mapping[str, Any], k: str, scope: dict[str, Any]) -> dict[str, Any]:
    """gain_at_k, loss_at_k or no_change_shown for one k of a scope's section."""
    cell = section["delta"][k]
    direction = cell.get("direction") if cell.get("significant") else None
    kind = {"up": "gain_at_k", "down": "loss_at_k"}.get(str(direction), "no_change_shown")
    confidence = float(section.get("confidence", 0.95))
    return {
        "kind": kind,
        "scope": scope,
        "k": int(k),
        "test": "two-sided paired sign-flip test; " + str(cell.get("adjustment", "Holm over every delta cell")),
        "error_rate": None if kind == "no_change_shown" else round(1.0 - confidence, 10),
        "base": section["pass_at_k"]["base"][k],
        "rl": section["pass_at_k"]["rl"][k],
        "delta": cell["delta"],
        "ci": cell.get("ci"),
        "ci_method": cell.get("ci_method"),
        "p_value": cell.get("p_value"),
        "p_holm": cell.get("p_holm"),
        # the test rejects but the printed interval holds 0: not a shown change, and the verdict says why
        "test_rejects_interval_holds_0": kind == "no_change_shown"
        and cell.get("p_holm") is not None
        and float(cell["p_holm"]) <= 1.0 - confidence,
    }


def _likelihood_rows(
    evidence: Mapping[str, Any] | None, problem_rows: Sequence[Mapping[str, Any]], tasks: Sequence[str]
) -> list[dict[str, Any]] | None:
    """The scope's problems with their likelihood category and best-text probabilities (None without files)."""
    if not evidence or "likelihood_files" not in evidence:
        return None
    by_id = evidence.get("problems") or {}
    out = []
    for row in problem_rows:
        if row["task"] not in tasks:
            continue
        ev = by_id.get(row["problem_id"]) or {}
        out.append({"problem_id": row["problem_id"], "class": row["class"], "category": ev.get("category"),
                    "rl_best_under_base": ev.get("rl_best_under_base"),
                    "base_best_under_rl": ev.get("base_best_under_rl")})  # fmt: skip
    return out


def _side(rows: list[dict[str, Any]], cls: str, key: str, epsilon: float) -> dict[str, Any]:
    scored = [r[key] for r in rows if r["class"] == cls and r.get(key)]
    log10 = [float(s["log10_prob"]) for s in scored if not s.get("unreachable") and s.get("log10_prob") is not None]
    below = sum(1 for s in scored if s.get("unreachable") or (s.get("log10_prob") or 0.0) < math.log10(epsilon))
    return {
        "problems": sum(1 for r in rows if r["class"] == cls),
        "scored": len(scored),
        "unreachable": len(scored) - len(log10),
        "below_epsilon": below,
        "max_log10_prob": max(log10) if log10 else None,
        "median_log10_prob": statistics.median(log10) if log10 else None,
    }


def scope_claims(
    section: Mapping[str, Any],
    problem_rows: Sequence[Mapping[str, Any]],
    evidence: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The claims about one scope (a set of tasks sharing n), from its comparison section.

    Args:
        section: One section of :func:`evalkit.compare.compare_runs` (``pass_at_k``, ``delta`` cells carrying
            ``significant`` and ``direction``, ``classes``, ``frontier``, ``frontier_test``, ``n``, ``scope``).
        problem_rows: The summary's per-problem rows (``problem_id``, ``task``, ``class``).
        evidence: The summary's ``evidence`` (its ``problems`` and ``likelihood_files`` when likelihood ran).

    Returns:
        The claims, in the order the verdict says them.
    """
    tasks = [str(t) for t in section["scope"]["tasks"]]
    scope: dict[str, Any] = {"tasks": tasks, "n": int(section["scope"]["n"])}
    confidence = float(section.get("confidence", 0.95))
    alpha = round(1.0 - confidence, 10)
    n = str(section["n"])
    claims = [_delta_claim(section, "1", scope)]
    if n != "1":
        claims.append(_delta_claim(section, n, scope))
    if claims[0]["kind"] == "gain_at_k":
        claims.append({**claims[0], "kind": "sharpened"})
    cls = section["classes"]
    frontier = section.get("frontier") or {}
    mcnemar = frontier.get("mcnemar") or {}
    claims.append({
        "kind": "frontier_counts", "scope": scope, "k": int(n), "test": "observed counts at n samples per model",
        "error_rate": 0.0, "rl_only": cls["rl_only"], "base_only": cls["base_only"], "both": cls["both"],
        "neither": cls["neither"], "n_problems": section["n_problems"],
        "p_rl_solves_more": mcnemar.get("p_rl_solves_more"), "p_base_solves_more": mcnemar.get("p_base_solves_more"),
        "mcnemar_test": mcnemar.get("method"),
    })  # fmt: skip
    simultaneous = frontier.get("simultaneous")
    if cls["rl_only"] and simultaneous:
        claims.append({
            "kind": "rl_only_bounded", "scope": scope, "k": int(n), "test": simultaneous.get("method"),
            "error_rate": alpha, "problems": cls["rl_only"], "base_rate_below": simultaneous["base_rate_below"],
            "family": simultaneous.get("family", section["n_problems"]),
        })  # fmt: skip
    test = section.get("frontier_test") or {}
    p_base = test.get("p_base_only_exact")
    if cls["base_only"] and p_base is not None and p_base <= alpha:
        claims.append({
            "kind": "base_only_excess", "scope": scope, "k": int(n),
            "test": test.get("method") or "exact conditional test of the base-only count under equal per-problem "
            "rates (Poisson-binomial tail)", "error_rate": alpha, "problems": cls["base_only"],
            "expected_under_null": test.get("expected_under_null"), "p_value": p_base,
        })  # fmt: skip
    rows = _likelihood_rows(evidence, problem_rows, tasks)
    if rows is not None and evidence is not None:
        epsilon = float(evidence.get("epsilon", 1e-6))
        exact = "teacher-forced probability of the stored texts under the other model's sampler (evalkit likelihood)"
        rl_side = _side(rows, "rl_only", "rl_best_under_base", epsilon)
        base_side = _side(rows, "base_only", "base_best_under_rl", epsilon)
        if rl_side["scored"] or base_side["scored"]:
            claims.append({"kind": "likelihood_figures", "scope": scope, "k": int(n), "test": exact,
                           "error_rate": 0.0, "epsilon": epsilon, "rl_only_under_base": rl_side,
                           "base_only_under_rl": base_side})  # fmt: skip
        outside = sum(1 for r in rows if r["category"] == "out_of_support")
        if outside:
            claims.append({"kind": "out_of_support", "scope": scope, "k": int(n), "test": exact, "error_rate": 0.0,
                           "problems": outside, "epsilon": epsilon})  # fmt: skip
            outside_ids = {r["problem_id"] for r in rows if r["category"] == "out_of_support"}
            separated = _separated(problem_rows, outside_ids, int(section["n_problems"]), alpha)
            if separated is not None:
                claims.append({
                    "kind": "expansion", "scope": scope, "k": int(n),
                    "test": f"out_of_support (likelihood < {epsilon:g}) and {separated['method']}",
                    "error_rate": alpha, "epsilon": epsilon, **separated,
                })  # fmt: skip
    return claims


def _separated(
    problem_rows: Sequence[Mapping[str, Any]], outside: set[str], family: int, alpha: float
) -> dict[str, Any] | None:
    """The out-of-support problems on which RL's per-sample rate is shown above the base's, family-wise.

    On each problem the base's rate gets a one-sided Clopper-Pearson upper bound (0 of m) and RL's a lower
    bound (c of m), each at 1 - alpha / (2 N), Bonferroni over both bounds of all N compared problems, so that
    every bound holds at once with probability >= 1 - alpha. A problem counts only where RL's lower bound lies
    above the base's upper bound: RL's rate there is shown to exceed the base's. Sharpening (RL's rate a few
    times the base's) rarely gives this together with a text the base gives a probability below epsilon (the
    base's rate is at least that text's probability), while RL solving a problem the base cannot reach at a
    rate of a few per cent does. None when no problem qualifies."""
    from evalkit.stats import clopper_pearson, zero_success_upper_bound

    level = 1.0 - alpha / (2.0 * family)
    kept = []
    for row in problem_rows:
        if row["problem_id"] not in outside or row.get("c_base"):
            continue
        # an --adaptive RL run read T <= n samples (``n_rl``), stopping at its R-th success: the Clopper-Pearson
        # lower bound on (R, T) is exact under that inverse sampling (P(T <= t) = P(Binomial(t, p) >= R)); the
        # base, never solved, read all m samples either way
        m, c = int(row["n"]), int(row["c_rl"])
        base_high = zero_success_upper_bound(int(row.get("n_base", m)), level)
        m = int(row.get("n_rl", m))
        rl_low = float(clopper_pearson(c, m, level, "greater")[0])
        if rl_low > base_high:
            kept.append((base_high, rl_low, str(row["problem_id"])))
    if not kept:
        return None
    return {
        "problems": len(kept),
        "problem_ids": [pid for *_, pid in kept],
        "base_rate_below": max(b for b, *_ in kept),
        "rl_rate_above": min(r for _, r, _ in kept),
        "family": family,
        "method": f"one-sided Clopper-Pearson bounds on the base's rate (0 of m) and RL's (c of m) at 1 - "
        f"{alpha:g}/(2 x {family}) each, Bonferroni over both bounds of all {family} compared problems; RL's lower "
        "bound above the base's upper bound",
    }
