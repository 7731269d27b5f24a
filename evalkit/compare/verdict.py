"""The verdict in plain words, rendered from the comparison's claims alone (:mod:`evalkit.compare.claims`).

Every sentence is read off the ``claims`` of the comparison summary (:func:`evalkit.compare.compare_runs`), never
computed anew, so the report's verdict paragraph, ``evalkit demo``'s closing lines and the JSON say the same
thing. Per scope (tasks sharing n; tasks of different n are never pooled):

1. pass@1, base -> RL, with the change, its 95% interval (and the interval's method) and whether the change is
   shown (a ``gain_at_k`` / ``loss_at_k`` claim: two-sided paired sign-flip test, Holm-adjusted over every delta
   cell of the summary) or not (``no_change_shown``).
2. pass@n, likewise, at the scope's n.
3. RL-only and base-only problems (``frontier_counts``) and, with RL-only problems, the ``rl_only_bounded`` claim:
   the base's per-sample rate is below X on every one of them, 95% family-wise over all compared problems. It
   says "below X", never "cannot".
4. Only with a ``likelihood_figures`` claim (``evalkit likelihood`` files): how likely the base's sampler is to
   produce RL's most likely correct text on the RL-only problems, and RL's of the base's on the base-only ones.
   About those texts only: other correct solutions may exist.
5. The closing sentence, whose words follow the claims: "sharpened" needs a shown gain at k = 1, "fewer
   problems" a shown loss at k = n; "expansion" appears only with an ``expansion`` claim (RL-only problems whose
   scored correct texts the base's sampler gives a probability below epsilon); RL-only problems alone are said
   to be bounded to the budget; a shown base-only excess (``base_only_excess``) is always said. Otherwise the
   sentence says that no change was shown, which is not evidence of none. Where the test rejects but the printed
   interval holds 0 the change is not called shown, and the sentence says that the two disagree.
6. Only with a ``gate`` claim (``compare`` / ``report`` with ``--k`` and ``--max-drop``, their defaults those of
   ``evalkit gate``): the gate's verdict and command, just before the closing sentence. Where the gate calls
   a REGRESSION at k = 1 or k = n and the two-sided test did not show a loss there, the pass@k sentence says
   so, and when every task of the scope regressed the closing sentence says RL is worse there: the text never
   says "no change" beside the gate's REGRESSION.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _change(claim: Mapping[str, Any]) -> tuple[str, str | None]:
    """The sentence for a gain_at_k / loss_at_k / no_change_shown claim and its direction (None: no change)."""
    k, ci = claim["k"], claim.get("ci")
    # the method's name only (the claim holds it in full): "exact", "conservative", "betting confidence set", ...
    name = str(claim.get("ci_method") or "").split(":")[0].split(" (")[0]
    method = f" ({name})" if name else ""
    interval = f", 95% interval {ci[0]:+.3f} to {ci[1]:+.3f}{method}" if ci else ""
    direction = {"gain_at_k": "up", "loss_at_k": "down"}.get(claim["kind"])
    shown = {"up": "a gain shown at 95%", "down": "a loss shown at 95%"}.get(str(direction), "no change shown at 95%")
    if claim.get("test_rejects_interval_holds_0"):
        shown += " (the sign-flip test rejects, but the interval holds 0)"
    p = claim.get("p_holm", claim.get("p_value"))
    p_text = f", Holm-adjusted p = {p:.2g}" if p is not None else ""
    sentence = (
        f"pass@{k}: base {claim['base']:.3f} -> RL {claim['rl']:.3f} ({claim['delta']:+.3f}{interval}): "
        f"{shown}{p_text}."
    )
    return sentence, direction


def _frontier(counts: Mapping[str, Any], bounded: Mapping[str, Any] | None) -> str:
    n = counts["k"]
    rl_only, base_only = counts["rl_only"], counts["base_only"]
    if rl_only == 0:
        text = f"No problem was solved by RL and never by the base in {n} samples each"
    else:
        text = f"{rl_only} problem(s) were solved by RL and never by the base in {n} samples each"
        if bounded:
            text += (
                f"; the base's per-sample success rate is below {bounded['base_rate_below']:.4f} on every one of "
                f"them ({1 - bounded['error_rate']:.0%} family-wise over all {bounded['family']} compared problems), "
                "which bounds its reach there but does not say it cannot solve them"
            )
    text += f"; {base_only} problem(s) were solved by the base and never by RL"
    if (rl_only or base_only) and counts.get("p_rl_solves_more") is not None:
        text += (
            f" (exact McNemar test: p = {counts['p_rl_solves_more']:.2g} that RL solves more problems, "
            f"p = {counts['p_base_solves_more']:.2g} that the base does)"
        )
    return text + "."


def _changes(up1: str | None, upn: str | None, n: int) -> str:
    """The first half of the closing sentence: what changed at k = 1 and k = n."""
    if up1 == "up":
        tail = {"up": f" and solves more problems at k = {n}", "down": f" and reaches fewer problems at k = {n}"}
        return "RL sharpened (better at k = 1)" + tail.get(str(upn), f"; no change at k = {n} was shown")
    if upn == "down":
        return f"RL reaches fewer problems at k = {n}" + (
            "; it is also worse at k = 1" if up1 == "down" else "; no gain at k = 1 was shown"
        )
    if upn == "up":
        return f"RL solves more problems at k = {n}" + (
            "; it is worse at k = 1" if up1 == "down" else "; no change at k = 1 was shown"
        )
    if up1 == "down":
        return f"RL is worse at k = 1; no change at k = {n} was shown"
    return f"no change at k = 1 or k = {n} was shown on these problems (which is not evidence that nothing changed)"


def _closing(claims: Sequence[Mapping[str, Any]], up1: str | None, upn: str | None, n: int) -> str:
    """The closing sentence: the changes, then what the RL-only problems support, then a shown base-only excess.

    "Expansion" appears only with an ``expansion`` claim (likelihood evidence); RL-only problems alone are
    said to be bounded to the budget. A ``base_only_excess`` claim is always said."""
    by_kind = {c["kind"]: c for c in claims}
    text = "In sum: " + _changes(up1, upn, n)
    expansion, bounded = by_kind.get("expansion"), by_kind.get("rl_only_bounded")
    if expansion:
        text += (
            f"; on {expansion['problems']} problem(s) the base never solved in {n} samples (its rate there below "
            f"{expansion['base_rate_below']:.4f} and RL's above {expansion.get('rl_rate_above', 0.0):.4f}, "
            f"{1 - expansion['error_rate']:.0%} family-wise), RL's scored correct "
            f"texts lie outside the base's reach (probability below {expansion['epsilon']:g} under its sampler): "
            "evidence of expansion there, about those texts (other correct solutions may exist)"
        )
    elif bounded:
        text += (
            f"; the {bounded['problems']} problem(s) solved only by RL are bounded to this budget (the base's rate "
            f"there below {bounded['base_rate_below']:.4f}), which does not show that the base cannot reach them"
        )
    split = sorted(c["k"] for c in claims if c.get("test_rejects_interval_holds_0"))
    # a k whose direction is still set here was decided by the gate's one-sided test (a REGRESSION there)
    by_gate = [k for k in split if (up1 if k == 1 else upn if k == n else None) is not None]
    undecided = [k for k in split if k not in by_gate]
    if undecided:
        ks = " and ".join(f"k = {k}" for k in undecided)
        text += (
            f"; at {ks} the sign-flip test rejects but the 95% interval holds 0, so no change there is claimed "
            "(the two disagree)"
        )
    if by_gate:
        ks = " and ".join(f"k = {k}" for k in by_gate)
        text += (
            f"; at {ks} the two-sided 95% interval holds 0 and the drop is the gate's (its one-sided test of a drop "
            "beyond the tolerance)"
        )
    excess = by_kind.get("base_only_excess")
    if excess:
        text += (
            f"; the base solved {excess['problems']} problem(s) that RL never did, more than equal per-problem rates "
            f"would give (about {excess['expected_under_null']:.1f} expected, exact p = {excess['p_value']:.2g}): "
            "RL lost reach on some problems"
        )
    return text + "."


def _power(log10: float) -> str:
    return f"10^{log10:.1f}"


def _likelihood(claim: Mapping[str, Any] | None) -> str:
    """The sentence of a likelihood_figures claim ("" without one)."""
    if not claim:
        return ""
    rl_only, base_only = claim["rl_only_under_base"], claim["base_only_under_rl"]
    eps = claim.get("epsilon", 1e-6)
    parts = []
    if rl_only["scored"]:
        n = rl_only["scored"]
        if rl_only["max_log10_prob"] is None:
            parts.append(
                f"on all {n} scored RL-only problems, every scored correct RL text has a token the base's sampler "
                "cannot draw (top-k / top-p)"
            )
        else:
            parts.append(
                f"on the {n} scored RL-only problems, the base's sampler gives RL's most likely correct text a "
                f"probability of at most {_power(rl_only['max_log10_prob'])} (median "
                f"{_power(rl_only['median_log10_prob'])}); {rl_only['below_epsilon']} lie below {eps:g} and "
                f"{rl_only['unreachable']} have a token it cannot draw"
            )
    if base_only["scored"] and base_only["max_log10_prob"] is not None:
        parts.append(
            f"RL gives the base's most likely correct text on the {base_only['scored']} scored base-only problems "
            f"a probability of at most {_power(base_only['max_log10_prob'])}"
        )
    elif base_only["scored"]:
        parts.append(
            f"RL's sampler cannot draw the base's texts on the {base_only['scored']} scored base-only problems"
        )
    if not parts:
        return ""
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + " (about these texts only: other correct solutions may exist)."


def _gate_at(gate: Mapping[str, Any] | None, k: int) -> list[Mapping[str, Any]]:
    """The gate's regressions at k on the scope's tasks."""
    return [r for r in (gate or {}).get("regressions", []) if int(r["k"]) == k]


def _gate_change(
    sentence: str, direction: str | None, gate: Mapping[str, Any] | None, k: int, tasks: Sequence[str]
) -> tuple[str, str | None]:
    """A pass@k sentence that said no loss while the gate calls a REGRESSION at k: the gate's finding is added,
    and where every task of the scope regressed the direction becomes "down" (so "In sum" cannot say "no
    change" beside the gate's REGRESSION)."""
    found = _gate_at(gate, k)
    if not found or direction == "down" or gate is None:
        return sentence, direction
    size = (gate.get("multiplicity") or {}).get("size", "?")
    sentence = sentence.replace("no change shown at 95%", "no change shown by the two-sided test over every delta cell")
    names = ", ".join(f"{r['task']} (change {r['delta']:+.3f}, Holm-adjusted p = {r['p_holm']:.2g})" for r in found)
    sentence += (
        f" The gate's one-sided test shows a drop beyond {gate['max_drop']:g} at pass@{k} on {names}, Holm over "
        f"its {size} check(s): REGRESSION."
    )
    whole = {str(r["task"]) for r in found} >= set(tasks)
    return sentence, ("down" if whole else direction)


def _gate_sentence(gate: Mapping[str, Any] | None) -> str:
    """What ``evalkit gate`` says on these runs (a ``gate`` claim), with its command."""
    if not gate:
        return ""
    command = f" (`{gate['command']}`)" if gate.get("command") else ""
    if gate["verdict"] == "refused":
        reason = str(gate.get("refused")).rstrip(".")
        return f"The gate{command} refuses these runs: {reason}."
    size = (gate.get("multiplicity") or {}).get("size", "?")
    ks = ", ".join(f"pass@{k}" for k in gate.get("ks") or [])
    if gate["verdict"] == "REGRESSION":
        where = "; ".join(f"pass@{r['k']} on {r['task']}" for r in gate["regressions"]) or "another task"
        return (
            f"The gate{command}: REGRESSION, a drop beyond {gate['max_drop']:g} shown at {where} (one-sided paired "
            f"sign-flip tests, Holm over {size} check(s), {1 - gate['error_rate']:.0%} family-wise)."
        )
    drop = gate.get("detectable_drop")
    power = (
        f"; the smallest drop these runs detect with power 0.8 is {drop:.3f}"
        if drop is not None
        else "; no drop is detected with power 0.8 on these runs"
    )
    return (
        f"The gate{command}: PASS, no drop of {ks} beyond {gate['max_drop']:g} shown (one-sided paired sign-flip "
        f"tests, Holm over {size} check(s)){power}."
    )


def scope_sentences(claims: Sequence[Mapping[str, Any]]) -> list[str]:
    """The sentences of one scope's claims (pass@1, pass@n, the frontier, likelihood, the closing sentence,
    and, with a ``gate`` claim, what the gate says)."""
    deltas = {c["k"]: c for c in claims if c["kind"] in ("gain_at_k", "loss_at_k", "no_change_shown")}
    by_kind = {c["kind"]: c for c in claims}
    n = int(claims[0]["scope"]["n"])
    tasks = list(claims[0]["scope"]["tasks"])
    gate = by_kind.get("gate")
    first, up1 = _gate_change(*_change(deltas[1]), gate, 1, tasks)
    if n == 1:
        last, upn = "", up1
    else:
        last, upn = _gate_change(*_change(deltas[n]), gate, n, tasks)
    sentences = [
        first,
        last,
        _frontier(by_kind["frontier_counts"], by_kind.get("rl_only_bounded")),
        _likelihood(by_kind.get("likelihood_figures")),
        _gate_sentence(gate),
        _closing(claims, up1, upn, n),
    ]
    return [s for s in sentences if s]


def verdict_sentences(summary: Mapping[str, Any]) -> list[str]:
    """The verdict of a comparison summary, as a few plain sentences per scope, rendered from its claims alone.

    Args:
        summary: What :func:`evalkit.compare.compare_runs` returns; only its ``claims`` are read.

    Returns:
        Per scope: four sentences (pass@1, pass@n, the frontier classes, the closing sentence), one more with
        likelihood evidence and one more (before the closing sentence) with the gate's decision. With several
        scopes (tasks sampled at different n) each sentence of a scope is prefixed with its tasks and n.
    """
    scopes: list[tuple[tuple[str, ...], int]] = []
    grouped: dict[tuple[tuple[str, ...], int], list[Mapping[str, Any]]] = {}
    for claim in summary["claims"]:
        key = (tuple(claim["scope"]["tasks"]), int(claim["scope"]["n"]))
        if key not in grouped:
            scopes.append(key)
            grouped[key] = []
        grouped[key].append(claim)
    if len(scopes) == 1:
        return scope_sentences(grouped[scopes[0]])
    out = []
    for key in scopes:
        tasks, n = key
        label = f"Task{'s' if len(tasks) > 1 else ''} {', '.join(tasks)} (n = {n}): "
        out += [label + s for s in scope_sentences(grouped[key])]
    return out
