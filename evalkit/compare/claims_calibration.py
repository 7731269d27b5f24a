"""How often each kind of claim of the verdict is false, by simulation through :func:`compare_runs`.

Each simulated data set is a pair of runs (base, RL) on P problems of one task with known per-sample success
rates, n samples each, built in memory as :class:`evalkit.compare.results.RunResults` and compared by exactly
the code ``evalkit compare`` runs (:func:`evalkit.compare.compare_runs`, then its ``claims``). Where a truth
says so, a likelihood file is written for the RL run as ``evalkit likelihood`` would: on every RL-only problem,
the base's probability of RL's most likely correct text is the base's rate times 10^-U, U ~ Uniform(0, 2) (that
text carries between 1% and all of the base's success there), and 0 (a token the base cannot draw) where the
base's rate is 0.

Truths (``TRUTHS``, 20 to 1,000 problems, n from 8 to 1,024): identical models; pure sharpening (RL rate =
min(1, s x base rate) on the same problems, s = 2, 4, 8: nothing the base cannot reach); true expansion (base rate
exactly 0 on some problems RL solves); a band of rare-but-reachable problems (base rates 0.002-0.008, n = 1024);
mixed n (a task at n = 64 sharpened beside a task at n = 8 that loses reach: each claim is scored on its own
scope's problems).

A claim is false when (the truth is the mean over the data set's own problems and their true rates):

* ``gain_at_k`` / ``sharpened``: RL's true mean pass@k is not above the base's; ``loss_at_k``: not below;
* ``rl_only_bounded``: some problem it names has a true base rate at or above the bound X;
* ``expansion``: some problem it names has a true base rate above 0 (the base can reach it);
* ``base_only_excess``: no problem has a base rate above RL's;
* ``out_of_support``: some problem it names has a base text probability at or above epsilon (never, by
  construction: it is a computation on the texts), reported for completeness.

``frontier_counts``, ``likelihood_figures`` and ``no_change_shown`` state observed facts or nothing; they are
not scored. For each truth and kind the table gives how often a data set made such a claim and how often at
least one of them was false (to be <= 0.05); for true expansion the share with an ``expansion`` claim is its
power. Run ``python -m evalkit.compare.calibration --claims``.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.compare.results import RunResults
from evalkit.compare.summary import compare_runs
from evalkit.types import Problem

Rates = tuple[np.ndarray, np.ndarray]
SCORED = ("gain_at_k", "loss_at_k", "sharpened", "rl_only_bounded", "base_only_excess", "out_of_support", "expansion")


@dataclass(frozen=True)
class Truth:
    """A simulated truth: ``rates(rng)`` gives per-problem (base, RL) success rates; n samples per problem."""

    name: str
    rates: Callable[[np.random.Generator], Rates]
    n: int
    likelihood: bool = True
    #: (problems, n2): the last ``problems`` problems form a second task sampled n2 times each (mixed n)
    mixed: tuple[int, int] | None = None


def _sharpening(strength: float, problems: int) -> Callable[[np.random.Generator], Rates]:
    def rates(rng: np.random.Generator) -> Rates:
        p = rng.beta(0.3, 2.0, size=problems)
        return p, np.minimum(1.0, strength * p)

    return rates


def _identical(problems: int) -> Callable[[np.random.Generator], Rates]:
    def rates(rng: np.random.Generator) -> Rates:
        p = rng.beta(0.3, 2.0, size=problems)
        return p, p.copy()

    return rates


def _expansion(problems: int, unreachable: int) -> Callable[[np.random.Generator], Rates]:
    """``unreachable`` problems with base rate exactly 0 and RL rate Uniform(0.02, 0.3); the rest identical."""

    def rates(rng: np.random.Generator) -> Rates:
        p = rng.beta(0.3, 2.0, size=problems)
        q = p.copy()
        p[:unreachable] = 0.0
        q[:unreachable] = rng.uniform(0.02, 0.3, size=unreachable)
        return p, q

    return rates


def _rare_band(rng: np.random.Generator) -> Rates:
    """30 problems: 12 at base rates 0.002-0.008 (RL 4x), 18 at Beta(1, 1) (RL the same)."""
    p = np.concatenate([np.linspace(0.002, 0.008, 12), rng.beta(1.0, 1.0, size=18)])
    q = p.copy()
    q[:12] *= 4.0
    return p, q


def _mixed(rng: np.random.Generator) -> Rates:
    """120 problems: the first 60 (a task at n = 64) sharpened x4, the last 60 (a task at n = 8) lose reach:
    RL's rate is half the base's."""
    p = rng.beta(0.3, 2.0, size=120)
    return p, np.concatenate([np.minimum(1.0, 4.0 * p[:60]), 0.5 * p[60:]])


TRUTHS: tuple[Truth, ...] = (
    Truth("identical P=200 n=64", _identical(200), 64),
    Truth("identical P=20 n=1024", _identical(20), 1024),
    Truth("sharpening x2 P=200 n=64", _sharpening(2.0, 200), 64),
    Truth("sharpening x4 P=200 n=64", _sharpening(4.0, 200), 64),
    Truth("sharpening x8 P=200 n=64", _sharpening(8.0, 200), 64),
    Truth("sharpening x4 P=50 n=1024", _sharpening(4.0, 50), 1024),
    Truth("sharpening x8 P=50 n=1024", _sharpening(8.0, 50), 1024),
    Truth("expansion 20 of 200 at base 0 n=64", _expansion(200, 20), 64),
    Truth("expansion 5 of 50 at base 0 n=1024", _expansion(50, 5), 1024),
    Truth("rare band 12 of 30 at .002-.008 n=1024", _rare_band, 1024),
    Truth("mixed n: 60 at n=64 x4, 60 at n=8 halved", _mixed, 64, mixed=(60, 8)),
    Truth("identical P=1000 n=8", _identical(1000), 8),
)


def _run(root: Path, name: str, problems: list[Problem], passed: dict[str, np.ndarray], n: int) -> RunResults:
    manifest = {
        "fingerprint": f"sim-{name}",
        "identity": {"model_hash": f"sim-{name}", "sampling": {"temperature": 1.0, "top_p": 1.0, "top_k": -1}},
        "info": {"n": n},
    }
    return RunResults(root / name, manifest, problems, passed, {}, 0, {})


def _write_likelihood(run: RunResults, base_hash: str, log10: dict[str, float]) -> None:
    from evalkit.likelihood import results_path

    path = results_path(run.root, base_hash)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"kind": "header", "model_hash": base_hash, "run_fingerprint": run.manifest["fingerprint"],
              "sampling": run.manifest["identity"]["sampling"]}  # fmt: skip
    lines = [json.dumps(header)]
    for pid, value in log10.items():
        best = {"logprob": None if value == -math.inf else value * math.log(10.0), "unreachable": value == -math.inf}
        lines.append(json.dumps({"problem_id": pid, "best": best}))
    path.write_text("\n".join(lines) + "\n", encoding="ascii")


def _pass_at_k_true(rate: np.ndarray, k: int) -> float:
    """Mean over problems of the true pass@k, 1 - (1 - p)^k."""
    with np.errstate(divide="ignore"):
        return float(np.mean(-np.expm1(k * np.log1p(-rate))))


def _false(claim: dict[str, Any], base: np.ndarray, rl: np.ndarray, named: dict[str, Any], scope: np.ndarray) -> bool:
    """Whether a claim is false under the true rates of the problems of its scope (see the module docstring)."""
    kind = claim["kind"]
    if kind in ("gain_at_k", "sharpened", "loss_at_k"):
        k = int(claim["k"])
        delta = _pass_at_k_true(rl[scope], k) - _pass_at_k_true(base[scope], k)
        return bool(delta <= 0.0) if kind != "loss_at_k" else bool(delta >= 0.0)
    if kind == "rl_only_bounded":
        return bool(np.any(base[named["rl_only"] & scope] >= claim["base_rate_below"]))
    if kind == "expansion":  # the base can reach some problem it names: not expansion, whatever the texts
        return bool(np.any(base[[named["index"][pid] for pid in claim["problem_ids"]]] > 0.0))
    if kind == "base_only_excess":
        return not bool(np.any(base[scope] > rl[scope]))
    if kind == "out_of_support":
        return bool(np.any(named["text_log10"][named["out_of_support"] & scope] >= math.log10(claim["epsilon"])))
    return False


@dataclass(frozen=True)
class ClaimRow:
    """One (truth, claim kind) over ``reps`` simulated data sets."""

    truth: str
    kind: str
    reps: int
    made: float  # share of data sets with a claim of this kind
    false: float  # share of data sets with at least one false claim of this kind


def claim_error_rates(truth: Truth, reps: int = 200, seed: int = 0) -> list[ClaimRow]:
    """Simulate ``reps`` data sets of ``truth``, compare each through :func:`compare_runs`, score its claims."""
    made = dict.fromkeys(SCORED, 0)
    false = dict.fromkeys(SCORED, 0)
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(reps):
            rng = np.random.default_rng([seed, r])
            base_rate, rl_rate = truth.rates(rng)
            size = base_rate.size
            ids = [f"sim:{i}" for i in range(size)]
            second = size - truth.mixed[0] if truth.mixed else size  # first problem of the second task
            problems = [Problem(pid, "sim" if i < second else "sim2", "", "") for i, pid in enumerate(ids)]
            draws_b = rng.random((size, truth.n)) < base_rate[:, None]
            draws_r = rng.random((size, truth.n)) < rl_rate[:, None]
            if truth.mixed:  # the second task keeps its first n2 samples of each problem
                draws_b[second:, truth.mixed[1] :] = False
                draws_r[second:, truth.mixed[1] :] = False
            sizes = (
                [truth.n if i < second else truth.mixed[1] for i in range(size)] if truth.mixed else [truth.n] * size
            )
            root = Path(tmp) / str(r)
            base = _run(
                root, "base", problems, {p: d[:m] for p, d, m in zip(ids, draws_b, sizes, strict=True)}, truth.n
            )
            rl = _run(root, "rl", problems, {p: d[:m] for p, d, m in zip(ids, draws_r, sizes, strict=True)}, truth.n)
            rl_only = ~draws_b.any(axis=1) & draws_r.any(axis=1)
            with np.errstate(divide="ignore"):
                text_log10 = np.where(base_rate > 0, np.log10(base_rate) - rng.uniform(0.0, 2.0, size), -np.inf)
            if truth.likelihood:
                _write_likelihood(rl, str(base.manifest["identity"]["model_hash"]),
                                  {ids[i]: float(text_log10[i]) for i in np.flatnonzero(rl_only)})  # fmt: skip
            summary = compare_runs(base, rl)
            category = {pid: row.get("category") for pid, row in (summary["evidence"].get("problems") or {}).items()}
            named = {
                "rl_only": rl_only,
                "out_of_support": np.array([category.get(pid) == "out_of_support" for pid in ids]),
                "text_log10": text_log10,
                "index": {pid: i for i, pid in enumerate(ids)},
            }
            seen_made: set[str] = set()
            seen_false: set[str] = set()
            for claim in summary["claims"]:
                if claim["kind"] not in made:
                    continue
                seen_made.add(claim["kind"])
                scope = np.array([p.task in claim["scope"]["tasks"] for p in problems])
                if _false(claim, base_rate, rl_rate, named, scope):
                    seen_false.add(claim["kind"])
            for kind in seen_made:
                made[kind] += 1
            for kind in seen_false:
                false[kind] += 1
    return [ClaimRow(truth.name, kind, reps, made[kind] / reps, false[kind] / reps) for kind in SCORED]


def format_claim_table(rows: Sequence[ClaimRow], nominal: float = 0.05) -> str:
    """A plain-text table, the false-claim rate beside its nominal; a kind false in more than nominal + 2 binomial
    standard errors of the data sets is flagged."""
    head = f"{'truth':42} {'claim kind':17} {'reps':>5} {'made':>6} {'false':>6} {'nominal':>7}"
    lines = [head, "-" * len(head)]
    for row in rows:
        limit = nominal + 2.0 * math.sqrt(nominal * (1.0 - nominal) / row.reps)
        flag = f"  <-- above {limit:.3f}" if row.false > limit else ""
        lines.append(
            f"{row.truth:42} {row.kind:17} {row.reps:5d} {row.made:6.3f} {row.false:6.3f} {nominal:7.3f}{flag}"
        )
    return "\n".join(lines)
