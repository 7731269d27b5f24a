"""The verdict in plain words: what RL gained at k = 1, what it gained or lost at k = n, and RL-only problems.

Every sentence is read off the comparison summary (:func:`evalkit.compare.compare_runs`), never computed
anew, so the report's verdict paragraph and ``evalkit demo``'s closing lines say the same thing:

1. pass@1, base -> RL, with the change, its 95% paired bootstrap interval and whether the change is shown
   (two-sided paired sign-flip test, Holm-adjusted over every delta cell of the summary, as in the report).
2. pass@n, likewise, at the largest k both runs share.
3. RL-only problems (solved by RL, never by the base in n samples): how many, and the family-wise bound on
   the base's per-sample rate across them. This is the only statement that speaks to expansion, and it says
   "below X", never "cannot". Base-only problems are counted beside them.
4. Only where ``evalkit likelihood`` files were found (``evidence.overall.likelihood``): how likely the base's
   sampler is to produce RL's most likely correct text on the RL-only problems (the largest and median
   probability, how many lie below the out-of-support threshold or have a token the sampler cannot draw),
   and RL's probability of the base's texts on the base-only problems. About those texts only: other
   correct solutions may exist.
5. One summary sentence whose words follow the evidence: "sharpened" needs a shown gain at k = 1,
   "shrank" a shown loss at k = n, and evidence of expansion needs both RL-only problems and a shown
   gain at k = n. Otherwise the sentence says that no change was shown, which is not evidence of none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _change(section: Mapping[str, Any], k: str) -> tuple[str, str | None]:
    """The sentence for pass@k and its direction ("up", "down" or None when no change was shown)."""
    base, rl = section["pass_at_k"]["base"][k], section["pass_at_k"]["rl"][k]
    cell = section["delta"][k]
    ci = cell.get("ci")
    interval = f", 95% interval {ci[0]:+.3f} to {ci[1]:+.3f}" if ci else ""
    direction = cell.get("direction") if cell.get("significant") else None
    if direction == "up":
        shown = "a gain shown at 95%"
    elif direction == "down":
        shown = "a loss shown at 95%"
    else:
        shown = "no change shown at 95%"
    p = cell.get("p_holm", cell.get("p_value"))
    p_text = f", Holm-adjusted p = {p:.2g}" if p is not None else ""
    sentence = f"pass@{k}: base {base:.3f} -> RL {rl:.3f} ({cell['delta']:+.3f}{interval}): {shown}{p_text}."
    return sentence, direction


def _frontier(section: Mapping[str, Any]) -> str:
    n = section["n"]
    cls = section["classes"]
    frontier = section.get("frontier") or {}
    rl_only, base_only = cls["rl_only"], cls["base_only"]
    if rl_only == 0:
        text = f"No problem was solved by RL and never by the base in {n} samples each"
    else:
        text = f"{rl_only} problem(s) were solved by RL and never by the base in {n} samples each"
        simultaneous = frontier.get("simultaneous")
        if simultaneous:
            text += (
                f"; the base's per-sample success rate is below {simultaneous['base_rate_below']:.4f} on every "
                f"one of them ({frontier.get('confidence', 0.95):.0%} family-wise over all "
                f"{simultaneous.get('family', section.get('n_problems'))} compared problems), which bounds its reach "
                "there but does not say it cannot solve them"
            )
    text += f"; {base_only} problem(s) were solved by the base and never by RL"
    mcnemar = frontier.get("mcnemar")
    if mcnemar and (rl_only or base_only):
        text += (
            f" (exact McNemar test: p = {mcnemar['p_rl_solves_more']:.2g} that RL solves more problems, "
            f"p = {mcnemar['p_base_solves_more']:.2g} that the base does)"
        )
    return text + "."


def _overall(up1: str | None, upn: str | None, rl_only: int, n: int) -> str:
    if upn == "up" and rl_only:
        return (
            f"In sum: RL solves more problems at k = {n}, including problems the base never solved: evidence of "
            "expansion on this problem set, within the bounds above."
        )
    if up1 == "up" and upn == "down":
        return f"In sum: RL sharpened (better at k = 1) and reaches fewer problems at k = {n}."
    if up1 == "up":
        return f"In sum: RL sharpened (better at k = 1); no change at k = {n} was shown."
    if upn == "down":
        return f"In sum: RL reaches fewer problems at k = {n}" + (
            "; it is also worse at k = 1." if up1 == "down" else "; no gain at k = 1 was shown."
        )
    if up1 == "down" or upn == "up":
        parts = [s for s, d in (("worse at k = 1", up1 == "down"), (f"better at k = {n}", upn == "up")) if d]
        return "In sum: RL is " + " and ".join(parts) + "."
    return (
        f"In sum: no change at k = 1 or k = {n} was shown on these problems (which is not evidence that "
        "nothing changed)."
    )


def _power(log10: float) -> str:
    return f"10^{log10:.1f}"


def _likelihood(summary: Mapping[str, Any]) -> str:
    """The sentence on the base's probability of RL's RL-only solutions ("" without likelihood evidence)."""
    evidence = summary.get("evidence") or {}
    lk = (evidence.get("overall") or {}).get("likelihood")
    if not lk:
        return ""
    rl_only, base_only = lk["rl_only_under_base"], lk["base_only_under_rl"]
    eps = evidence.get("epsilon", 1e-6)
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


def verdict_sentences(summary: Mapping[str, Any]) -> list[str]:
    """The verdict of a comparison summary over all its problems, as a few plain sentences.

    Args:
        summary: What :func:`evalkit.compare.compare_runs` returns (``overall`` with ``pass_at_k``,
            ``delta`` cells carrying ``ci``, ``significant`` and ``direction``, ``classes`` and
            ``frontier``).

    Returns:
        Four sentences (pass@1, pass@n, the frontier classes, the summary sentence), five with likelihood
        evidence (before the summary sentence).
    """
    ov = summary["overall"]
    n = str(ov["n"])
    first, up1 = _change(ov, "1")
    if n == "1":
        last, upn = "", up1
    else:
        last, upn = _change(ov, n)
    summing_up = _overall(up1, upn, ov["classes"]["rl_only"], ov["n"])
    sentences = [first, last, _frontier(ov), _likelihood(summary), summing_up]
    return [s for s in sentences if s]
