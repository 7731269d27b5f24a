"""Evidence beyond pass@k: categories, answer diversity, pass@k area on log k, the 2x2 at k, Cover@tau.

Pure functions on per-problem counts and likelihood records, plus :func:`evidence_summary`, which gathers
them into the ``evidence`` key of the comparison summary (:func:`evalkit.compare.compare_runs`).

**Categories** (after "The Invisible Leash", Wu et al. 2025, arXiv 2507.14843, at the problem level and at
the common budget of m samples per model), with the threshold ``epsilon`` on the probability of an exact
text (default 1e-6: the base would need more than a million samples on average to produce it):

- ``preservation``: both runs solved the problem.
- ``expansion``: RL solved it and the base never did in m samples (its per-sample rate is below about 3/m),
  and the base's probability of RL's most likely scored correct text is at least ``epsilon`` (or no text
  was scored): RL found a solution that the base can produce, at a budget beyond m.
- ``out_of_support``: RL solved it, the base never did, and the base gives every scored correct RL text a
  probability below ``epsilon`` (0 where a token lies outside the base sampler's top-k / top-p set): the
  strongest evidence of reach beyond the base. It is about the scored texts only: the base may produce
  other correct solutions.
- ``shrinkage``: the base solved it and RL never did (``shrinkage_out_of_support`` counts those whose
  scored base texts all have RL probability below ``epsilon``).
- ``neither``: no run solved it.

Counts come per task with two-sided 95% Clopper-Pearson intervals on the fraction of problems.

**Diversity** (as "RL squeezes", arXiv 2509.21128, and outcome-based exploration, arXiv 2509.06941, count
answers): per problem and run, the distinct correct answers by the verifier's dedup key (the extracted
answer, the program), the distinct correct texts, and the answer-level entropy in bits over all verified
samples' keys. Distinct counts grow with the number of correct samples, so a run with more correct samples
tends to show more; compare them beside c.

**pass@k area on log k**: the mean pass@k curve over every integer k in 1..m, integrated over ln k by the
trapezoid rule and divided by ln m (pass@1 when m = 1): a number in [0, 1] that weighs each doubling of k
equally. **2x2 at k**: the expected number of problems that both / only RL / only the base / neither solve
when each model draws k samples, from the unbiased pass@k of each run (the runs are independent, so the
product of two unbiased estimates is unbiased); at k = m it is the frontier class count.

**Cover@tau** (Dragoi et al. 2025, "Beyond Pass@k: Breadth-Depth Metrics for Reasoning Boundaries", arXiv
2510.08325): the fraction of problems whose success rate c/m is at least tau, on a grid of tau from 1/m (solved
at least once: pass@m) to 1 (solved by every sample). It separates "solves reliably" from "solved once in m".
The paired difference RL - base at each tau is the mean of per-problem differences of two indicators, each
-1, 0 or +1 and mostly 0, where the bootstrap is unreliable; its interval is conservative by construction:
Clopper-Pearson bounds on the shares of problems gained and lost, Bonferroni
(:func:`evalkit.stats.exact.ternary_mean_ci`). With no discordant problem it is [-u, u] (u about
1 - (alpha/4)^(1/P)), not [0, 0].
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.stats import clopper_pearson, cover_at_tau, pass_at_k, problem_mean_ci
from evalkit.stats.exact import METHOD_TERNARY, ternary_mean_ci

EPSILON = 1e-6
CATEGORIES = ("preservation", "expansion", "out_of_support", "shrinkage", "neither")
#: Cover@tau thresholds above 1/m (1/m itself is always on the grid; a tau below it counts the same problems).
COVER_TAUS = (0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


# -- diversity --------------------------------------------------------------------------------------------


# -- categories -------------------------------------------------------------------------------------------


def best_log10(record: Mapping[str, Any] | None) -> float | None:
    """log10 of the probability of the most likely scored correct text of a likelihood record (``-inf`` when
    every scored text has an unreachable token), or None when the record has no scored text. In log space:
    a long text's probability underflows a float long before its log-probability does."""
    best = (record or {}).get("best")
    if not best:
        return None
    if best.get("unreachable") or best.get("logprob") is None:
        return -math.inf
    return float(best["logprob"]) / math.log(10.0)


def categorize(c_base: int, c_rl: int, log10_base_of_rl: float | None, epsilon: float = EPSILON) -> str:
    """The category of one problem (see the module docstring).

    Args:
        c_base: Base's correct samples (of m).
        c_rl: RL's correct samples (of m).
        log10_base_of_rl: log10 of the base's probability of RL's most likely scored correct text (``-inf``:
            unreachable); None when unscored.
        epsilon: The probability below which a text counts as outside the base's reach.
    """
    if c_base and c_rl:
        return "preservation"
    if c_base:
        return "shrinkage"
    if not c_rl:
        return "neither"
    if log10_base_of_rl is not None and log10_base_of_rl < math.log10(epsilon):
        return "out_of_support"
    return "expansion"


def category_counts(categories: Sequence[str], confidence: float = 0.95) -> dict[str, Any]:
    """Counts per category with two-sided Clopper-Pearson intervals on the fraction of problems."""
    n = len(categories)
    counts = Counter(categories)
    out: dict[str, Any] = {"n_problems": n, "confidence": confidence}
    for name in CATEGORIES:
        k = counts.get(name, 0)
        lo, hi = clopper_pearson(k, n, confidence) if n else (np.nan, np.nan)
        out[name] = {"count": k, "fraction": k / n if n else None, "ci": [float(lo), float(hi)] if n else None}
    return out


# -- pass@k summaries -------------------------------------------------------------------------------------


def log_k_weights(m: int) -> np.ndarray:
    """Trapezoid weights (m,) for k = 1..m on x = ln k, normalised to sum to 1 (``[1.0]`` for m = 1)."""
    if m < 1:
        raise ValueError(f"m must be >= 1 (got {m})")
    if m == 1:
        return np.ones(1)
    widths = np.log(np.arange(2, m + 1) / np.arange(1, m))  # ln((k+1)/k), k = 1..m-1
    w = np.zeros(m)
    w[:-1] += widths / 2
    w[1:] += widths / 2
    return w / math.log(m)


def pass_at_k_auc(n: Sequence[int] | np.ndarray, c: Sequence[int] | np.ndarray, m: int) -> np.ndarray:
    """Per-problem area under pass@k on log k for k = 1..m, normalised to [0, 1] (see the module docstring).

    Args:
        n: Samples per problem (each >= m).
        c: Correct samples per problem.
        m: The largest k.

    Returns:
        (problems,) areas; their mean is the area under the mean curve (the rule is linear).
    """
    n_a, c_a = np.asarray(n), np.asarray(c)
    table = pass_at_k(n_a[:, None], c_a[:, None], np.arange(1, m + 1)[None, :])
    return np.asarray(table @ log_k_weights(m))


def auc_comparison(
    n: np.ndarray, c_base: np.ndarray, c_rl: np.ndarray, m: int, confidence: float = 0.95
) -> dict[str, Any]:
    """pass@k area on log k for both runs and their paired difference with a bootstrap interval over problems."""
    return auc_of_areas(pass_at_k_auc(n, c_base, m), pass_at_k_auc(n, c_rl, m), m, confidence)


def auc_of_areas(a_b: np.ndarray, a_r: np.ndarray, m: int, confidence: float = 0.95) -> dict[str, Any]:
    """What :func:`auc_comparison` returns, from per-problem areas (P,) of both runs computed elsewhere (by
    the adaptive estimator for an ``--adaptive`` run: the area is linear in the per-problem pass@k, so it is
    unbiased when they are)."""
    ci, ci_method = None, None
    if a_b.size >= 2:
        _est, lo, hi, ci_method = problem_mean_ci((a_r - a_b)[:, None], confidence, paired=True, seed=0)[0]
        ci = [float(lo), float(hi)]
    return {
        "k_max": m,
        "base": float(a_b.mean()),
        "rl": float(a_r.mean()),
        "delta": float((a_r - a_b).mean()),
        "delta_ci": ci,
        "delta_ci_method": ci_method,
        "confidence": confidence,
        "method": "trapezoid over every k = 1..k_max on ln k, divided by ln k_max; interval over problems",
    }


def matrix_at_k(n: np.ndarray, c_base: np.ndarray, c_rl: np.ndarray, k: int) -> dict[str, float]:
    """Expected problems in each cell of the per-problem 2x2 when each model draws k samples.

    Args:
        n: Samples per problem in both runs (each >= k).
        c_base: Base's correct samples per problem.
        c_rl: RL's correct samples per problem.
        k: The budget.
    """
    return matrix_of(pass_at_k(n, c_base, k), pass_at_k(n, c_rl, k))


def matrix_of(pb: np.ndarray, pr: np.ndarray) -> dict[str, float]:
    """The 2x2 of :func:`matrix_at_k` from per-problem pass@k of both runs (P,): products of estimates of
    independent runs, so unbiased when each is (the adaptive estimator included)."""
    return {
        "both": float((pb * pr).sum()),
        "rl_only": float(((1 - pb) * pr).sum()),
        "base_only": float((pb * (1 - pr)).sum()),
        "neither": float(((1 - pb) * (1 - pr)).sum()),
    }


def cover_grid(m: int) -> list[float]:
    """The tau grid of :func:`cover_comparison` for m samples per problem: 1/m, then every COVER_TAUS above it.

    Raises:
        ValueError: for m < 1.
    """
    if m < 1:
        raise ValueError(f"m must be >= 1 (got {m})")
    return [1.0 / m, *(t for t in COVER_TAUS if t > 1.0 / m)]


def cover_comparison(
    n: np.ndarray, c_base: np.ndarray, c_rl: np.ndarray, m: int, confidence: float = 0.95
) -> dict[str, Any]:
    """Cover@tau of both runs on :func:`cover_grid` and the paired difference with an exact interval.

    Args:
        n: Samples per problem (P,), each m (the problems are cut to the common budget).
        c_base: Base's correct samples per problem (P,).
        c_rl: RL's correct samples per problem (P,).
        m: The common sample count (sets the grid's first tau, 1/m).
        confidence: Two-sided level of each tau's interval on RL - base.

    Returns:
        ``tau``, ``base``, ``rl``, ``delta`` (lists parallel to ``tau``, fractions of problems in [0, 1]),
        ``delta_ci`` (a ``[lo, hi]`` per tau), ``k_max`` (m), ``confidence`` and ``method``.

    Raises:
        ValueError: on invalid counts or no problems (from :func:`evalkit.stats.cover_at_tau`).
    """
    taus = np.asarray(cover_grid(m))
    n_a, cb, cr = np.asarray(n), np.asarray(c_base), np.asarray(c_rl)
    base, rl = cover_at_tau(n_a, cb, taus), cover_at_tau(n_a, cr, taus)
    # the same comparison as cover_at_tau (c/n as a correctly rounded quotient against tau), per problem
    ind_b = (cb / n_a)[:, None] >= taus[None, :]
    ind_r = (cr / n_a)[:, None] >= taus[None, :]
    d = ind_r.astype(np.float64) - ind_b.astype(np.float64)  # (P, tau): -1, 0 or +1
    cis = [ternary_mean_ci(d[:, j], confidence) for j in range(d.shape[1])]
    return {
        "k_max": m,
        "tau": [float(t) for t in taus],
        "base": [float(v) for v in base],
        "rl": [float(v) for v in rl],
        "delta": [float(v) for v in d.mean(axis=0)],
        "delta_ci": [[float(lo), float(hi)] for _est, lo, hi in cis],
        "delta_ci_method": METHOD_TERNARY,
        "confidence": confidence,
        "method": "share of problems with c/m >= tau; " + METHOD_TERNARY,
    }


# -- the summary's ``evidence`` key ----------------------------------------------------------------------


def _diversity_block(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for side in ("base", "rl"):
        have = [r[f"diversity_{side}"] for r in rows if r.get(f"diversity_{side}")]
        solved = [d for d in have if d["distinct_correct"]]
        out[side] = {
            "problems": len(have),
            "mean_distinct_correct": float(np.mean([d["distinct_correct"] for d in solved])) if solved else None,
            "mean_correct_entropy_bits": float(np.mean([d["correct_entropy_bits"] for d in solved]))
            if solved
            else None,
            "mean_answer_entropy_bits": float(np.mean([d["answer_entropy_bits"] for d in have])) if have else None,
        }
    both = [r for r in rows if r.get("diversity_base") and r.get("diversity_rl")]
    both = [r for r in both if r["diversity_base"]["distinct_correct"] and r["diversity_rl"]["distinct_correct"]]
    fewer = sum(1 for r in both if r["diversity_rl"]["distinct_correct"] < r["diversity_base"]["distinct_correct"])
    more = sum(1 for r in both if r["diversity_rl"]["distinct_correct"] > r["diversity_base"]["distinct_correct"])
    collapsed = sum(
        1 for r in both if r["diversity_rl"]["distinct_correct"] == 1 and r["diversity_base"]["distinct_correct"] >= 2
    )
    out["both_solved"] = {"problems": len(both), "rl_fewer_correct_answers": fewer, "rl_more_correct_answers": more,
                          "rl_collapsed_to_one": collapsed}  # fmt: skip
    return out


def _likelihood_block(rows: list[dict[str, Any]], epsilon: float) -> dict[str, Any]:
    def side(cls: str, key: str) -> dict[str, Any]:
        scored = [r[key] for r in rows if r["class"] == cls and r.get(key) is not None]
        log10 = [v for v in scored if v > -math.inf]
        return {
            "problems": sum(1 for r in rows if r["class"] == cls),
            "scored": len(scored),
            "unreachable": len(scored) - len(log10),
            "below_epsilon": sum(1 for v in scored if v < math.log10(epsilon)),
            "max_log10_prob": max(log10) if log10 else None,
            "median_log10_prob": float(np.median(log10)) if log10 else None,
            "min_log10_prob": min(log10) if log10 else None,
        }

    return {
        "rl_only_under_base": side("rl_only", "log10_base_of_rl"),
        "base_only_under_rl": side("base_only", "log10_rl_of_base"),
        "both_under_base": side("both", "log10_base_of_rl"),
    }


def evidence_summary(
    base: Any, rl: Any, problems: Sequence[Any], upto: Mapping[str, int], confidence: float = 0.95,
    epsilon: float = EPSILON, notes: list[str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The ``evidence`` key of the comparison summary: pass@k area, the 2x2 at each power-of-two k and Cover@tau
    for every task and every group of tasks sharing n, and, where likelihood files exist (``evalkit likelihood``),
    the categories, the likelihood figures and the diversity, per task and per group.

    ``groups`` holds one block per n (largest n first), each with ``scope`` = ``{"tasks", "n"}``; ``overall`` is
    that block when every task shares n and None otherwise: tasks compared at different n are never pooled.

    Args:
        base: The base run (:class:`evalkit.compare.results.RunResults`).
        rl: The RL run.
        problems: The compared problems.
        upto: Problem id -> the common sample count m.
        confidence: Interval level.
        epsilon: The category threshold on a text's probability.
        notes: Where to say that a likelihood file was ignored (made for an earlier run in the same directory)
            or was scored under other sampling settings than the scoring model's run.
    """
    from evalkit.likelihood import results_path
    from evalkit.stats import powers_of_two

    base_hash = base.manifest.get("identity", {}).get("model_hash")
    rl_hash = rl.manifest.get("identity", {}).get("model_hash")
    rl_file = results_path(rl.root, str(base_hash)) if base_hash else None
    base_file = results_path(base.root, str(rl_hash)) if rl_hash else None
    rl_header, rl_records = _usable(rl_file, rl, base, notes)
    base_header, base_records = _usable(base_file, base, rl, notes)
    have_likelihood = bool(rl_records or base_records)
    rows = []
    for p in problems:
        m = upto[p.id]
        cb, cr = base.hits(p.id, m), rl.hits(p.id, m)  # >= 1 exactly when solved within m (--adaptive too)
        cls = "both" if cb and cr else "rl_only" if cr else "base_only" if cb else "neither"
        rec_rl, rec_b = rl_records.get(p.id), base_records.get(p.id)
        rows.append({
            "problem_id": p.id, "task": p.task, "m": m, "c_base": cb, "c_rl": cr, "class": cls,
            "log10_base_of_rl": best_log10(rec_rl), "log10_rl_of_base": best_log10(rec_b),
            "diversity_rl": (rec_rl or {}).get("diversity"), "diversity_base": (rec_b or {}).get("diversity"),
        })  # fmt: skip
    for r in rows:
        r["category"] = categorize(r["c_base"], r["c_rl"], r["log10_base_of_rl"], epsilon)
        r["shrinkage_out_of_support"] = (
            r["category"] == "shrinkage"
            and r["log10_rl_of_base"] is not None
            and r["log10_rl_of_base"] < math.log10(epsilon)
        )
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(f"task:{r['task']}", []).append(r)

    def block(rs: list[dict[str, Any]]) -> dict[str, Any]:
        m = min(r["m"] for r in rs)
        n = np.full(len(rs), m)
        cb = np.array([base.c(r["problem_id"], m) for r in rs])  # each problem cut to the group's common m
        cr = np.array([rl.c(r["problem_id"], m) for r in rs])
        if base.rule is not None or rl.rule is not None:
            out: dict[str, Any] = _adaptive_block(base, rl, [r["problem_id"] for r in rs], m, confidence)
        else:
            out = {
                "pass_at_k_auc": auc_comparison(n, cb, cr, m, confidence),
                "matrix_at_k": {str(k): matrix_at_k(n, cb, cr, k) for k in powers_of_two(m)},
                "cover_at_tau": cover_comparison(n, cb, cr, m, confidence),
            }
        if have_likelihood:
            out["categories"] = category_counts([r["category"] for r in rs], confidence)
            out["categories"]["shrinkage_out_of_support"] = sum(1 for r in rs if r["shrinkage_out_of_support"])
            out["likelihood"] = _likelihood_block(rs, epsilon)
            out["diversity"] = _diversity_block(rs)
        return out

    # one block per n: tasks whose problems were compared at different n are never pooled at one k
    task_n: dict[str, int] = {}
    for r in rows:
        task_n[r["task"]] = min(task_n.get(r["task"], r["m"]), r["m"])
    by_n: dict[int, list[str]] = {}
    for task in sorted(task_n):
        by_n.setdefault(task_n[task], []).append(task)
    scoped = []
    for n_group, names in sorted(by_n.items(), key=lambda item: -item[0]):
        sec = block([r for r in rows if r["task"] in names])
        sec["scope"] = {"tasks": names, "n": n_group}
        scoped.append(sec)
    summary: dict[str, Any] = {
        # pooled over every problem only when every task shares n (then it is the one group)
        "overall": scoped[0] if len(scoped) == 1 else None,
        "groups": scoped,
        "tasks": {name[5:]: block(rs) for name, rs in sorted(groups.items()) if name.startswith("task:")},
    }
    if have_likelihood:
        summary["likelihood_files"] = {
            "rl_under_base": str(rl_file) if rl_records else None,
            "base_under_rl": str(base_file) if base_records else None,
            "sampling": {"base": (rl_header or {}).get("sampling"), "rl": (base_header or {}).get("sampling")},
            # scored under the sampler each model's own run used? (False: another temperature / top-p / top-k)
            "sampling_matches_runs": {
                "base": _same_sampler((rl_header or {}).get("sampling"), base) if rl_records else None,
                "rl": _same_sampler((base_header or {}).get("sampling"), rl) if base_records else None,
            },
        }
        summary["epsilon"] = epsilon
        summary["thresholds"] = (
            f"out_of_support: RL-only and the base gives RL's most likely scored correct text a probability "
            f"below {epsilon:g} (more than {1 / epsilon:,.0f} base samples on average to produce it; 0 when a "
            "token is outside the base sampler's top-k / top-p set); expansion: RL-only otherwise; shrinkage: "
            "base-only; preservation: both solved; neither: none did. At the budget of m samples per model; "
            "about the scored texts only (other correct solutions may exist)."
        )
        summary["problems"] = {
            r["problem_id"]: {
                "category": r["category"],
                "rl_best_under_base": _likely(r["log10_base_of_rl"]),
                "base_best_under_rl": _likely(r["log10_rl_of_base"]),
                "diversity_base": r["diversity_base"],
                "diversity_rl": r["diversity_rl"],
            }
            for r in rows
            if r["log10_base_of_rl"] is not None
            or r["log10_rl_of_base"] is not None
            or r["diversity_rl"]
            or r["diversity_base"]
        }
    return summary


def _adaptive_block(base: Any, rl: Any, ids: list[str], m: int, confidence: float) -> dict[str, Any]:
    """pass@k area and the 2x2 of an evidence block where a run was sampled with ``--adaptive``: from the
    unbiased per-problem pass@k of each run (:func:`evalkit.compare.results.pass_table`) at the common m.
    Cover@tau is not computed (None): it thresholds each problem's rate c/m, which a run that stops at R
    successes does not estimate without bias."""
    from evalkit.compare.results import pass_table
    from evalkit.stats import powers_of_two

    by_id = {p.id: p for p in base.problems}
    probs = [by_id[pid] for pid in ids]
    upto = dict.fromkeys(ids, m)
    ks = list(range(1, m + 1))
    tb, tr = pass_table(base, probs, ks, upto), pass_table(rl, probs, ks, upto)
    weights = log_k_weights(m)
    return {
        "pass_at_k_auc": auc_of_areas(tb @ weights, tr @ weights, m, confidence),
        "matrix_at_k": {str(k): matrix_of(tb[:, k - 1], tr[:, k - 1]) for k in powers_of_two(m)},
        "cover_at_tau": None,
    }


def _usable(
    path: Path | None, scored_run: Any, model_run: Any, notes: list[str] | None
) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    """A likelihood file's header and records when they belong to ``scored_run`` as it is now and were scored under
    the sampler of ``model_run`` (the run sampled from the scoring model); otherwise nothing, or the records with a
    note, saying why and what to run.

    A file made for an earlier run in the same directory (another fingerprint: the run was sampled again with
    ``--force``) would attach old texts' probabilities to the new run's problems: it is ignored. A file scored
    under other sampling settings than ``model_run``'s is used, with a note: its categories answer another
    question (how likely under that sampler).
    """
    from evalkit.errors import EvalkitError
    from evalkit.likelihood import read_results

    if path is None:
        return None, {}
    say = notes.append if notes is not None else (lambda _line: None)
    try:
        header, records = read_results(path)
    except EvalkitError as exc:  # a damaged file: the comparison goes on without it
        say(f"{exc}; the likelihood file is ignored (run `evalkit likelihood ... --force` to score again).")
        return None, {}
    if header is None:
        return None, {}
    if header.get("run_fingerprint") != scored_run.manifest.get("fingerprint"):
        say(
            f"Likelihood file {path} was made for another run in {scored_run.root} (its fingerprint differs: the run "
            "was sampled again); it is ignored. Run `evalkit likelihood` again to score this run."
        )
        return None, {}
    if records and not _same_sampler(header.get("sampling"), model_run):
        say(
            f"Likelihood file {path} was scored under sampling {header.get('sampling')}, not the settings "
            f"{model_run.root} was sampled with; its categories say how likely the texts are under that sampler."
        )
    return header, records


def _same_sampler(scored: Any, run: Any) -> bool:
    """Whether a likelihood file's temperature, top-p and top-k are those of the run sampled from its model."""
    used = run.manifest.get("identity", {}).get("sampling") or {}
    keys = ("temperature", "top_p", "top_k")
    return isinstance(scored, Mapping) and all(scored.get(k) == used.get(k) for k in keys)


def _likely(log10: float | None) -> dict[str, Any] | None:
    """JSON for a best text's probability: its log10 (null when unreachable) and whether it is unreachable."""
    if log10 is None:
        return None
    return {"log10_prob": log10 if log10 > -math.inf else None, "unreachable": log10 == -math.inf}
