"""One decision: compare, report and gate give the same answer on the same runs, k and tolerance; the power
behind ``evalkit plan`` and the gate's detectable drop."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_compare_gate import make_run

from evalkit.compare import compare_runs
from evalkit.compare.decision import attach_decision
from evalkit.compare.gate import run_gate
from evalkit.compare.power import (
    estimator_variance,
    gate_power,
    samples_for_bound,
    shrink_factor,
    simulated_power,
)
from evalkit.compare.results import load_run
from evalkit.stats import pass_at_k


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, timeout=300)


def _lost_reach(seed: int = 0, problems: int = 40, n: int = 16) -> tuple[list[list[bool]], list[list[bool]]]:
    """8 problems the base solves once and RL never, 1 the reverse, the rest alike: a loss at k = n that the
    two-sided test over every delta cell does not show and the gate's one-sided test does."""
    rng = np.random.default_rng(seed)
    base, rl = [], []
    for i in range(problems):
        if i < 8:
            b, r = [j == 3 for j in range(n)], [False] * n
        elif i < 9:
            b, r = [False] * n, [j == 5 for j in range(n)]
        elif i < problems // 2:
            b, r = list(rng.random(n) < 0.5), list(rng.random(n) < 0.5)
        else:
            b, r = [False] * n, [False] * n
        base.append(b)
        rl.append(r)
    return base, rl


@pytest.mark.slow
def test_compare_report_and_gate_agree_where_compare_said_no_change(tmp_path: Path) -> None:
    base_rows, rl_rows = _lost_reach()
    base, rl = make_run(tmp_path, "base", base_rows), make_run(tmp_path, "rl", rl_rows)
    # without the gate's decision the verdict said "no change at k = 16" (the reported contradiction)
    plain = compare_runs(load_run(base), load_run(rl))
    assert not plain["tasks"]["add"]["delta"]["16"]["significant"] and plain["tasks"]["add"]["delta"]["16"]["delta"] < 0
    gate = _cli("gate", str(base), str(rl), "--k", "1", "--k", "16", "--json")
    assert gate.returncode == 1, gate.stderr
    gate_json = json.loads(gate.stdout)
    cmp = _cli("compare", str(base), str(rl), "--k", "1", "--k", "16", "--out", str(tmp_path / "cmp"))
    assert cmp.returncode == 0, cmp.stderr
    summary = json.loads((tmp_path / "cmp" / "report.json").read_text())
    rep = _cli("report", str(base), str(rl), "--k", "1", "--k", "16", "--out", str(tmp_path / "rep"))
    assert rep.returncode == 0, rep.stderr
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    for recorded in (summary["gate"], report["gate"]):
        assert recorded["verdict"] == "REGRESSION" and recorded["passed"] is False
        assert recorded["multiplicity"]["size"] == 2 and "k = 1, 16" in recorded["multiplicity"]["family"]
        assert recorded["command"].endswith("--k 1 --k 16 --max-drop 0.02")
        assert [(c["task"], c["k"], c["regression"], c["p_holm"]) for c in recorded["checks"]] == [
            (c["task"], c["k"], c["regression"], c["p_holm"]) for c in gate_json["checks"]
        ]
    # the terminal and the verdict say the gate's answer, never "no change" at k = 16
    for out in (cmp.stdout, rep.stdout):
        assert "-> REGRESSION" in out and "gate: evalkit gate" in out
        assert "no change at k = 1 or k = 16" not in out and "no change at k = 16" not in out
        assert "In sum: RL reaches fewer problems at k = 16" in out
    assert any("REGRESSION" in s for s in summary["verdict"])
    assert any(c["kind"] == "gate" and c["regressions"] for c in summary["claims"])
    html = (tmp_path / "cmp" / "report.html").read_text()
    assert ("FAILED" in html and "Holm&#39;s family" in html) or "Holm's family" in html


@pytest.mark.slow
def test_compare_records_a_refusal_where_the_gate_refuses(tmp_path: Path) -> None:
    rows = [[True] * 4 + [False] * 4 for _ in range(6)]
    base = make_run(tmp_path, "base", rows)
    gate = _cli("gate", str(base), str(base), "--k", "16")
    assert gate.returncode == 2 and "exceeds" in gate.stderr
    cmp = _cli("compare", str(base), str(base), "--k", "16", "--out", str(tmp_path / "cmp"))
    assert cmp.returncode == 0, cmp.stderr
    summary = json.loads((tmp_path / "cmp" / "report.json").read_text())
    assert summary["gate"]["verdict"] == "refused" and "exceeds" in summary["gate"]["refused"]
    assert "refused (exit 2)" in cmp.stdout
    # the default: the gate's own defaults (k = 1, max drop 0.02), a PASS on identical runs
    same = _cli("compare", str(base), str(base), "--out", str(tmp_path / "same"))
    recorded = json.loads((tmp_path / "same" / "report.json").read_text())["gate"]
    assert recorded["verdict"] == "PASS" and recorded["ks"] == [1] and recorded["max_drop"] == 0.02
    assert "--k 1 --max-drop 0.02 -> PASS" in same.stdout


@pytest.mark.slow
def test_compare_and_gate_agree_on_random_run_pairs(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    for i, (shift, problems) in enumerate(((0.0, 30), (-0.15, 40), (-0.3, 25), (0.2, 30))):
        rates = rng.beta(0.6, 1.2, problems)
        base_rows = [list(rng.random(8) < p) for p in rates]
        rl_rows = [list(rng.random(8) < min(1.0, max(0.0, p + shift))) for p in rates]
        base = load_run(make_run(tmp_path, f"b{i}", base_rows))
        rl = load_run(make_run(tmp_path, f"r{i}", rl_rows))
        ks = [1, 8] if i % 2 else [1, 2, 8]
        summary = compare_runs(base, rl)
        recorded = attach_decision(summary, base, rl, ks, 0.02)
        gate = run_gate(base, rl, ks, 0.02)
        assert recorded["passed"] == gate.passed
        assert [(c["k"], c["regression"], c["p_holm"]) for c in recorded["checks"]] == [
            (c["k"], c["regression"], c["p_holm"]) for c in gate.checks
        ]
        assert recorded["multiplicity"]["size"] == len(ks)
        n_claims = [c for c in summary["claims"] if c["kind"] == "gate"]
        assert len(n_claims) == 1 and n_claims[0]["verdict"] == ("PASS" if gate.passed else "REGRESSION")
        # a REGRESSION at k = 1 or k = n is never beside "no change" at that k
        text = " ".join(summary["verdict"])
        for c in gate.regressions:
            if c["k"] in (1, 8):
                assert "REGRESSION" in text and f"no change at k = {c['k']} was shown" not in text


def test_estimator_variance_matches_simulation() -> None:
    rng = np.random.default_rng(1)
    p, n, k = np.array([0.0, 0.05, 0.3, 0.9]), 16, 4
    est = pass_at_k(n, rng.binomial(n, p[:, None].repeat(40000, axis=1)), k)
    assert np.allclose(est.var(axis=1), estimator_variance(p, n, k), rtol=0.05, atol=1e-6)


def test_power_rises_with_problems_and_drop_and_matches_a_quick_simulation() -> None:
    rates = np.random.default_rng(0).beta(0.5, 1.5, 2000)
    low = simulated_power(rates, 16, 1, 0.05, 0.02, 50)
    high = simulated_power(rates, 16, 1, 0.05, 0.02, 400)
    assert low < high and simulated_power(rates, 16, 1, 0.08, 0.02, 50) > low
    # the normal approximation agrees where the differences are nearly symmetric (dense rates, many problems)
    dense = np.random.default_rng(0).beta(2, 2, 2000)
    assert abs(gate_power(dense, 16, 1, 0.04, 0.02, 300) - simulated_power(dense, 16, 1, 0.04, 0.02, 300)) < 0.05
    f = shrink_factor(rates, 4, 0.05)
    assert f is not None
    assert np.mean(1 - (1 - f * rates) ** 4) == pytest.approx(np.mean(1 - (1 - rates) ** 4) - 0.05, abs=1e-9)
    assert shrink_factor(rates, 1, 0.9) is None


def test_samples_for_bound_is_the_smallest_n() -> None:
    for bound, problems in ((0.01, 500), (0.05, 30), (0.001, 1)):
        n = samples_for_bound(bound, problems)
        assert 1 - (0.05 / problems) ** (1 / n) <= bound < 1 - (0.05 / problems) ** (1 / (n - 1))


def test_gate_states_its_detectable_drop(tmp_path: Path) -> None:
    rows = [[j < (i % 8) for j in range(8)] for i in range(40)]
    base = make_run(tmp_path, "base", rows)
    out = _cli("gate", str(base), str(base), "--k", "1", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    drop = result["detectable_drop"]
    assert drop is not None and 0.02 < drop < 0.44 and result["checks"][0]["detectable_drop"] == drop
    text = _cli("gate", str(base), str(base), "--k", "1")
    assert "Smallest drop these runs detect with power 0.8" in text.stdout
    assert f"pass@1 on add: {drop:.4f}" in text.stdout


def test_plan_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from test_cli_inputs import run_main

    code, out, err = run_main(
        ["plan", "--prior", "0.5,1.5", "--drop", "0.1", "--k", "1", "--n-max", "4", "--json"], capsys
    )
    assert code == 0, err
    plan = json.loads(out)["plans"][0]
    best = plan["best"]
    assert best["power"] >= 0.8 and best["completions"] == 2 * best["problems"] * best["n"]
    assert [o["n"] for o in plan["options"]] == [1, 2, 4]
    code, out, _err = run_main(["plan", "--rates", "0.2", "--rl-only-bound", "0.01", "--problems", "500"], capsys)
    assert code == 0 and "n = 917 samples per problem" in out
    pilot = make_run(tmp_path, "pilot", [[j < (i % 4) for j in range(8)] for i in range(20)])
    code, out, err = run_main(["plan", str(pilot), "--drop", "0.2", "--k", "2", "--n-max", "4"], capsys)
    assert code == 0, err
    assert "rates from pilot" in out and "tokens" in out
    for args, words in (
        (["--rates", "0.3", "--drop", "0.01"], "above --max-drop"),
        (["--rates", "0.01", "--drop", "0.5"], "cannot drop"),
        (["--rates", "0.3", "--drop", "0.03", "--max-problems", "10", "--n-max", "4"], "no design"),
        (["--rates", "0.3", "--rl-only-bound", "1.5", "--problems", "3"], "strictly between"),
        (["--drop", "0.1"], "exactly one of"),
        (["--rates", "0.3"], "give a target"),
    ):
        code, _out, err = run_main(["plan", *args], capsys)
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err


def test_forecast_crossover_says_none_for_equal_curves_and_skips_one_problem(tmp_path: Path) -> None:
    from evalkit.compare.forecast import attach_forecasts, crossover

    def rows(values: list[float]) -> list[dict[str, object]]:
        return [
            {"task": "add", "k": 2**i, "estimate": v, "ci_low": v - 0.05, "ci_high": v + 0.05}
            for i, v in enumerate(values)
        ]

    same = crossover(rows([0.2, 0.4, 0.6]), rows([0.2, 0.4, 0.6]))["add"]
    assert same["k"] is None and same["text"] == "no crossover: the two curves are equal up to k = 4"
    above = crossover(rows([0.3, 0.5, 0.7]), rows([0.2, 0.4, 0.6]))["add"]
    assert above["k"] is None and "not below RL at k = 1" in above["text"]
    catches = crossover(rows([0.1, 0.4, 0.7]), rows([0.2, 0.45, 0.6]))["add"]
    assert catches["k"] == 4 and "catches up at k = 4" in catches["text"]
    one_b = load_run(make_run(tmp_path, "b1", [[True, False] * 4]))
    one_r = load_run(make_run(tmp_path, "r1", [[True, True] * 4]))
    summary = compare_runs(one_b, one_r)
    attach_forecasts(summary, one_b, one_r)
    assert "at least 2 problems" in summary["forecast"]["skipped"]


def test_summary_refuses_a_partial_run_unless_allowed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from test_cli_inputs import add_unsampled_problems, run_main

    run = make_run(tmp_path, "r", [[True, False] * 4 for _ in range(6)])
    add_unsampled_problems(run, 2)
    for extra in ([], ["--json"], ["--csv"]):
        code, _out, err = run_main(["summary", str(run), *extra], capsys)
        assert code == 2 and "2 of 8 problems have no samples" in err and "--allow-partial" in err
    code, out, _err = run_main(["summary", str(run), "--allow-partial", "--json"], capsys)
    summary = json.loads(out)
    assert code == 0 and summary["partial"]["runs"][0]["unsampled"] == 2
    assert summary["tasks"]["add"]["n_problems"] == 6
    code, out, _err = run_main(["summary", str(run), "--allow-partial"], capsys)
    assert code == 0 and out.startswith("partial input (--allow-partial): ")
