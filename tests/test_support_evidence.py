"""Support metrics, entropy, winner-take-all and checkpoint turnover (evalkit.compare.support_metrics,
support_evidence, turnover; evalkit.stats.turnover) against their definitions: published rows of The Invisible
Leash (arXiv 2507.14843), brute-force enumeration of sample splits and outcomes, an exactly solvable toy process
for the token entropy, and hand-made runs read back through ``evalkit report``."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

from evalkit.compare.results import load_run
from evalkit.compare.support_evidence import support_evidence
from evalkit.compare.support_metrics import (
    answer_entropy,
    detection_threshold,
    support_dynamics,
    support_rates,
    token_entropy,
    winner_take_all,
)
from evalkit.compare.turnover import checkpoint_turnover
from evalkit.likelihood import results_path
from evalkit.stats.turnover import (
    discordance_probability,
    first_last_solved,
    poisson_binomial_pmf,
    turnover_step,
)
from evalkit.store import RunStore
from evalkit.types import Completion, Problem, Verdict

# (P, E, S, SRR, NDR, SDS, NSCR) as printed (3 decimals) in The Invisible Leash, Tables 3 and 4
PUBLISHED = [
    (15, 4, 4, 0.789, 0.211, 0.332, 0.000),  # AIME24, SFT
    (470, 6, 12, 0.975, 0.013, 0.025, -0.012),  # MATH500, DAPO
    (154, 28, 18, 0.895, 0.154, 0.263, 0.050),  # Minerva, SFT
    (572, 13, 22, 0.963, 0.022, 0.043, -0.015),  # Olympiad, step 30
]


@pytest.mark.parametrize(("p", "e", "s", "srr", "ndr", "sds", "nscr"), PUBLISHED)
def test_support_rates_reproduce_the_published_rows(
    p: int, e: int, s: int, srr: float, ndr: float, sds: float, nscr: float
) -> None:
    got = support_rates(p, e, s, 7)
    assert got["SRR"] == pytest.approx(srr, abs=5e-4)
    assert got["NDR"] == pytest.approx(ndr, abs=5e-4)
    assert got["SDS"] == pytest.approx(sds, abs=5e-4)
    assert got["NSCR"] == pytest.approx(nscr, abs=5e-4)
    # the paper's closed form of the harmonic mean
    assert got["SDS"] == pytest.approx(2 * p * e / (p * p + 2 * p * e + e * s), rel=1e-12)
    assert got["O"] == 7


def test_support_rates_undefined_and_edge_cases() -> None:
    assert support_rates(0, 0, 0)["SRR"] is None and support_rates(0, 0, 0)["NSCR"] is None
    none = support_rates(0, 0, 3)  # only shrinkage: SRR 0, NDR undefined
    assert none["SRR"] == 0.0 and none["NDR"] is None and none["SDS"] is None and none["NSCR"] == -1.0
    only_e = support_rates(0, 2, 3)  # SRR 0, NDR 1, harmonic mean 0
    assert only_e["SRR"] == 0.0 and only_e["NDR"] == 1.0 and only_e["SDS"] == 0.0
    no_e = support_rates(5, 0, 1)
    assert no_e["NDR"] == 0.0 and no_e["SDS"] == 0.0 and no_e["NSCR"] == pytest.approx(-1 / 6)


def test_detection_threshold_is_the_miss_probability_bound() -> None:
    for k in (1, 8, 64, 8192):
        eps = detection_threshold(k, 0.05)
        assert (1 - eps) ** k == pytest.approx(0.05, rel=1e-9)
    # the paper's 3.66e-4 at k = 8192, zeta = 0.05 is -ln(zeta) / k, from log(1 - p) <= -p: slightly larger
    assert detection_threshold(8192) == pytest.approx(3.66e-4, abs=5e-7)
    assert detection_threshold(8192) < math.log(20) / 8192 < detection_threshold(8192) * 1.001
    with pytest.raises(ValueError):
        detection_threshold(0)


def _found_probability(n: int, c: int, k: int) -> float:
    """P(at least one correct among k of the n samples drawn without replacement), by enumerating subsets."""
    outcomes = [1] * c + [0] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(1 for sub in subsets if any(outcomes[i] for i in sub)) / len(subsets)


def test_support_dynamics_counts_and_expected_counts() -> None:
    m = np.array([6, 6, 6, 6, 6, 6])
    cb = np.array([3, 0, 2, 0, 6, 1])
    cr = np.array([5, 2, 0, 0, 6, 1])
    dyn = support_dynamics(m, cb, cr, [1, 2, 4])
    at_n = dyn["at_n"]
    # by hand: both solve problems 0, 4, 5; only RL 1; only base 2; neither 3
    assert (at_n["P"], at_n["E"], at_n["S"], at_n["O"]) == (3, 1, 1, 1)
    assert at_n["SRR"] == pytest.approx(3 / 4) and at_n["NDR"] == pytest.approx(3 / 4 * 0 + 1 / 4)
    assert at_n["NSCR"] == 0.0 and at_n["epsilon"] == pytest.approx(1 - 0.05 ** (1 / 6))
    assert at_n["epsilon_paper"] == pytest.approx(math.log(20) / 6)
    for k in (1, 2, 4):
        fb = [_found_probability(6, int(c), k) for c in cb]
        fr = [_found_probability(6, int(c), k) for c in cr]
        want = {
            "P": sum(b * r for b, r in zip(fb, fr, strict=True)),
            "E": sum((1 - b) * r for b, r in zip(fb, fr, strict=True)),
            "S": sum(b * (1 - r) for b, r in zip(fb, fr, strict=True)),
            "O": sum((1 - b) * (1 - r) for b, r in zip(fb, fr, strict=True)),
        }
        got = dyn["at_k"][str(k)]
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12)
        assert got["SRR"] == pytest.approx(want["P"] / (want["P"] + want["S"]), rel=1e-9)
    # at k = n the expected counts are the counts
    assert support_dynamics(m, cb, cr, [6])["at_k"]["6"]["E"] == pytest.approx(1.0)


def test_answer_entropy_by_hand() -> None:
    assert answer_entropy([2, 1, 1]) == pytest.approx(-(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)))
    assert answer_entropy({"a": 5}) == 0.0
    assert answer_entropy([3, 0, 3]) == pytest.approx(math.log(2))
    with pytest.raises(ValueError):
        answer_entropy([])


# A toy autoregressive source: at step t (0-based) the next token is "a", "b" or the end with probabilities
# STEP[t]; the sequence ends at the end token or after len(STEP) steps (the last step always ends it).
STEP = [(0.6, 0.3, 0.1), (0.2, 0.2, 0.6), (0.45, 0.45, 0.1), (0.0, 0.0, 1.0)]


def _exact_token_weighted_entropy() -> float:
    """E[sum_t H_t] / E[T] over the toy source, by summing over the steps reached."""
    alive, entropy_sum, tokens = 1.0, 0.0, 0.0
    for probs in STEP:
        p = np.array([v for v in probs if v > 0])
        entropy_sum += alive * float(-(p * np.log(p)).sum())
        tokens += alive
        alive *= 1.0 - probs[2]
    return entropy_sum / tokens


def test_token_entropy_estimates_the_token_weighted_entropy() -> None:
    rng = np.random.default_rng(0)
    reps = 40_000
    logprobs, lengths = np.zeros(reps), np.zeros(reps)
    for i in range(reps):
        for probs in STEP:
            j = rng.choice(3, p=probs)
            logprobs[i] += math.log(probs[j])
            lengths[i] += 1
            if j == 2:
                break
    want = _exact_token_weighted_entropy()
    got = token_entropy(logprobs, lengths)
    assert got is not None
    # standard error of the ratio estimator, from the linearised per-sequence residuals
    resid = (-logprobs - want * lengths) / lengths.mean()
    se = resid.std() / math.sqrt(reps)
    assert abs(got - want) < 4 * se
    assert token_entropy([float("nan")], [3]) is None and token_entropy([], []) is None


def test_winner_take_all_is_spearman_with_unreachable_ranked_lowest() -> None:
    x = [-0.5, -2.0, float("-inf"), -1.0, -0.1, float("-inf")]
    gain = [0.4, 0.1, -0.05, 0.2, 0.3, 0.0]
    got = winner_take_all(x, gain)
    ranks = sps.rankdata(x)  # -inf ranks lowest, tied
    want = sps.pearsonr(ranks, sps.rankdata(gain))
    assert got["points"] == 6
    assert got["spearman_rho"] == pytest.approx(float(want.statistic), rel=1e-12)
    assert winner_take_all([1.0, 2.0], [0.1, 0.2])["spearman_rho"] is None
    assert winner_take_all([1.0, 1.0, 1.0], [0.1, 0.2, 0.3])["spearman_rho"] is None


# -- turnover -------------------------------------------------------------------------------------------


def _split_probability(s: int, m: int) -> float:
    """P(the first half holds none of the s successes) over every split of 2m samples into halves of m."""
    outcomes = [1] * s + [0] * (2 * m - s)
    splits = list(itertools.combinations(range(2 * m), m))
    return sum(1 for first in splits if not any(outcomes[i] for i in first)) / len(splits)


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_discordance_probability_enumerates_the_splits(m: int) -> None:
    for s in range(0, 2 * m + 1):
        want = _split_probability(s, m) if s else 0.0
        assert discordance_probability(s, m) == pytest.approx(want, abs=1e-12)


def test_poisson_binomial_enumerates_the_outcomes() -> None:
    probs = [0.1, 0.5, 0.9, 0.3, 0.0]
    want = np.zeros(len(probs) + 1)
    for outcome in itertools.product((0, 1), repeat=len(probs)):
        want[sum(outcome)] += math.prod(p if o else 1 - p for p, o in zip(probs, outcome, strict=True))
    assert poisson_binomial_pmf(probs) == pytest.approx(want, abs=1e-12)


def test_turnover_step_against_full_enumeration() -> None:
    m = np.array([2, 2, 3, 3])
    before = np.array([0, 1, 2, 0])
    after = np.array([1, 0, 0, 0])
    got = turnover_step(before, after, m)
    assert (got["gains"], got["losses"], got["net"]) == (1, 2, -1)
    # every joint split of each problem's pooled samples, equally likely under no change
    per_problem = []
    for s, mm in zip(before + after, m, strict=True):
        outcomes = [1] * int(s) + [0] * (2 * int(mm) - int(s))
        per_problem.append(
            [
                (sum(outcomes[i] for i in first), int(s) - sum(outcomes[i] for i in first))
                for first in itertools.combinations(range(2 * int(mm)), int(mm))
            ]
        )
    total = gains_ge = losses_ge = 0
    for joint in itertools.product(*per_problem):
        total += 1
        gains_ge += sum(1 for a, b in joint if a == 0 and b > 0) >= got["gains"]
        losses_ge += sum(1 for a, b in joint if a > 0 and b == 0) >= got["losses"]
    assert got["p_gains"] == pytest.approx(gains_ge / total, abs=1e-12)
    assert got["p_losses"] == pytest.approx(losses_ge / total, abs=1e-12)
    assert got["p_sign"] == pytest.approx(1.0)  # 1 gain vs 2 losses: binomial two-sided p = 1
    with pytest.raises(ValueError):
        turnover_step([3], [0], [2])


def test_turnover_reference_holds_its_level_under_no_change() -> None:
    """Two checkpoints with equal per-problem rates: 'more gains than chance' at 5% is rejected in at most ~5%
    of data sets (the test is exact and conditional, so conservative by discreteness)."""
    rng = np.random.default_rng(1)
    reps, problems, m = 600, 30, 8
    rates = rng.beta(0.3, 1.0, size=problems)
    rejected = 0
    for _ in range(reps):
        a, b = rng.binomial(m, rates), rng.binomial(m, rates)
        rejected += turnover_step(a, b, np.full(problems, m))["p_gains"] <= 0.05
    limit = 0.05 + 3 * math.sqrt(0.05 * 0.95 / reps)
    assert rejected / reps <= limit


def test_training_step_from_the_checkpoint_path() -> None:
    from types import SimpleNamespace

    from evalkit.compare.turnover import training_step

    def step(model: str) -> int | None:
        return training_step(SimpleNamespace(manifest={"identity": {"model": model}}))  # type: ignore[arg-type]

    assert step("out/checkpoints/rl/checkpoints/step-250") == 250 and step("run/global_step_40/") == 40
    assert step("out/checkpoints/base") is None and step("org/model-stepwise") is None


def test_first_last_solved_by_hand() -> None:
    solved = np.array([[0, 1, 0, 1], [1, 0, 0, 1], [0, 1, 0, 0]], dtype=bool)
    assert first_last_solved(solved) == ([1, 0, None, 0], [1, 2, None, 1])


# -- runs read back -------------------------------------------------------------------------------------

# a task no family reads: the answer key is the text itself
PROBLEMS = [Problem(f"p{i}", "toy", f"{i}+1=", str(i + 1)) for i in range(6)]
N = 4
# per checkpoint, per problem: the sample indices that pass (of N); the texts are the answers
PASSING = {
    "base": [{0, 1}, set(), {2}, set(), {0, 1, 2, 3}, {3}],
    "mid": [{0}, {1}, set(), set(), {0, 1, 2, 3}, set()],
    "final": [{0, 1, 2}, {0, 3}, set(), set(), {0, 1, 2, 3}, {1}],
}


def _write_run(root: Path, label: str, logprobs: bool, store_format: int = 2) -> tuple[Path, list[dict[str, Any]]]:
    identity = {"model": label, "model_hash": f"sha256:{label}", "sampling": {"temperature": 1.0}, "tasks": ["toy"]}
    store, _ = RunStore.create_or_resume(root, identity, {"n": N}, PROBLEMS, store_format=store_format)
    comps, verdicts, rows = [], [], []
    for p, ok in zip(PROBLEMS, PASSING[label], strict=True):
        for i in range(N):
            text = p.reference if i in ok else str(10 + i % 2)  # two distinct wrong answers
            lp, tokens = -0.3 * (i + 1), i + 2
            finish = "length" if (i == 3 and i not in ok) else "stop"
            if logprobs:
                comps.append(Completion(p.id, i, text, tokens, finish, i, lp, lp - 1, tokens))
            else:
                comps.append(Completion(p.id, i, text, tokens, finish, i))
            verdicts.append((p.id, i, Verdict(i in ok, float(i in ok), "ok")))
            rows.append({"problem_id": p.id, "text": text, "finish": finish, "lp": lp, "tokens": tokens})
    store.append_completions(comps)
    store.append_verdicts(verdicts)
    store.unlock()
    return root, rows


def _write_likelihood(rl: Path, base_hash: str) -> dict[str, float]:
    """RL's correct texts scored under the base; returns the per-token log-likelihood per problem."""
    fingerprint = RunStore.open(rl).manifest()["fingerprint"]
    header = {
        "kind": "header",
        "model_hash": base_hash,
        "run_fingerprint": fingerprint,
        "sampling": {"temperature": 1.0},
        "texts": "all",
    }
    lines, want = [json.dumps(header)], {}
    for j, (p, ok) in enumerate(zip(PROBLEMS, PASSING["final"], strict=True)):
        if not ok:
            continue
        scored = [
            {"logprob": -1.5 * (j + 1), "n_tokens": 3, "count": len(ok), "passed": True},
            {"logprob": -4.0, "n_tokens": 2, "count": N - len(ok), "passed": False},
        ]
        if j == 5:
            scored[0]["logprob"] = None  # unreachable under the base sampler
        want[p.id] = -math.inf if j == 5 else (-1.5 * (j + 1) * len(ok)) / (3 * len(ok))
        lines.append(json.dumps({"problem_id": p.id, "scored": scored}))
    path = results_path(rl, base_hash)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return want


@pytest.fixture(scope="module")
def hand_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Base, mid (no log-probabilities) and final runs of PASSING, and RL's correct texts scored under the base."""
    root = tmp_path_factory.mktemp("support")
    base_dir, base_rows = _write_run(root / "base", "base", logprobs=True)
    mid_dir, _ = _write_run(root / "mid", "mid", logprobs=False)
    rl_dir, rl_rows = _write_run(root / "final", "final", logprobs=True)
    want_x = _write_likelihood(rl_dir, "sha256:base")
    return {"dirs": [base_dir, mid_dir, rl_dir], "rows": {"base": base_rows, "rl": rl_rows}, "want_x": want_x}


def test_support_evidence_and_turnover_on_hand_made_runs(hand_runs: dict[str, Any]) -> None:
    base, mid, rl = (load_run(d) for d in hand_runs["dirs"])
    base_rows, rl_rows, want_x = hand_runs["rows"]["base"], hand_runs["rows"]["rl"], hand_runs["want_x"]
    got = support_evidence(base, rl)
    at_n = got["dynamics"]["overall"]["at_n"]
    assert (at_n["P"], at_n["E"], at_n["S"], at_n["O"]) == (3, 1, 1, 1)  # p0 p4 p5 | p1 | p2 | p3
    # token-level: pooled surprisal over every sample
    for side, rows in (("base", base_rows), ("rl", rl_rows)):
        want = sum(-r["lp"] for r in rows) / sum(r["tokens"] for r in rows)
        assert got["entropy"]["token"][side]["nats_per_token"] == pytest.approx(want, rel=1e-12)
    # answer-level: per problem over the answers ("NA" for a sample cut at the token limit), mean over problems
    for side, rows in (("base", base_rows), ("rl", rl_rows)):
        per = []
        for p in PROBLEMS:
            answers = [("NA" if r["finish"] == "length" else r["text"]) for r in rows if r["problem_id"] == p.id]
            shares = np.array([answers.count(a) for a in set(answers)]) / len(answers)
            per.append(float(-(shares * np.log(shares)).sum()))
        assert got["entropy"]["answer"][side] == pytest.approx(np.mean(per), rel=1e-12)
    wta = got["winner_take_all"]
    assert {pt["problem_id"]: pt["x"] for pt in wta["points"]} == pytest.approx(want_x)
    gains = {pt["problem_id"]: pt["gain"] for pt in wta["points"]}
    assert gains == pytest.approx({"p0": 0.25, "p1": 0.5, "p4": 0.0, "p5": 0.0})
    turnover = checkpoint_turnover([base, mid, rl])
    assert [s["gains"] for s in turnover["steps"]] == [1, 1] and [s["losses"] for s in turnover["steps"]] == [2, 0]
    patterns = {p["problem_id"]: p["pattern"] for p in turnover["problems"]}
    assert patterns == {"p0": "111", "p1": "011", "p2": "100", "p3": "000", "p4": "111", "p5": "101"}
    firsts = {p["problem_id"]: (p["first_solved"], p["last_solved"]) for p in turnover["problems"]}
    assert firsts["p1"] == (1, 2) and firsts["p2"] == (0, 0) and firsts["p3"] == (None, None)
    assert turnover["lost_by_final"] == 1 and turnover["always_solved"] == 2 and turnover["ever_solved"] == 5


@pytest.mark.parametrize("store_format", [1, 2])
def test_answer_entropy_reads_the_first_samples_only(
    hand_runs: dict[str, Any], monkeypatch: Any, tmp_path: Path, store_format: int
) -> None:
    import evalkit.compare.support_evidence as module

    monkeypatch.setattr(module, "ENTROPY_SAMPLES", 2)
    dirs = [_write_run(tmp_path / name, name, True, store_format)[0] for name in ("base", "final")]
    base, rl = load_run(dirs[0]), load_run(dirs[1])
    got = support_evidence(base, rl)["entropy"]["answer"]
    assert got["samples_per_problem"] == 2
    for side, rows in (("base", hand_runs["rows"]["base"]), ("rl", hand_runs["rows"]["rl"])):
        per = []
        for p in PROBLEMS:
            answers = [r["text"] for r in rows if r["problem_id"] == p.id][:2]  # samples 0 and 1 (none cut)
            per.append(answer_entropy([answers.count(a) for a in set(answers)]))
        assert got[side] == pytest.approx(np.mean(per), rel=1e-12)


@pytest.mark.slow
def test_report_shows_support_and_turnover(hand_runs: dict[str, Any], tmp_path: Path) -> None:
    """``evalkit report BASE MID FINAL`` through the command line: every support view and the turnover plot."""
    base_dir, mid_dir, rl_dir = hand_runs["dirs"]
    out = tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "-m", "evalkit", "report", str(base_dir), str(mid_dir), str(rl_dir), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    page = (out / "report.html").read_text()
    for anchor in (
        'id="support-perplexity"',
        'id="support-dynamics"',
        'id="support-entropy"',
        'id="support-wta"',
        'id="turnover"',
    ):
        assert anchor in page, anchor
    support_html = page[page.index('<section id="support">') : page.index('<section id="trajectory">')]
    turnover_html = page[page.index('<section id="turnover">') :]
    assert "<svg" in support_html and "<svg" in turnover_html[: turnover_html.index("</section>")]
    data = json.loads((out / "report.json").read_text())
    assert data["support"]["dynamics"]["overall"]["at_n"]["SRR"] == pytest.approx(3 / 4)
    assert data["turnover"]["steps"][0]["losses"] == 2
