"""Threats to validity in a comparison: per-completion health signals, their per-problem flags, pass@k at a token
budget and at a matched token limit, and the claims recomputed without the flagged problems (marked where they
do not survive), through the library and through ``evalkit compare``."""

from __future__ import annotations

import itertools
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from evalkit.cli.entry import main
from evalkit.compare.results import load_run
from evalkit.compare.summary import compare_runs
from evalkit.errors import EvalkitError
from evalkit.grading.extraction import loop
from evalkit.grading.health import is_fallback, loops, rule_of
from evalkit.report import render
from evalkit.stats.budget import affordable_k, pass_at_budget, passed_at_limit
from evalkit.store import RunStore
from evalkit.tasks import TaskSpec, make_problems
from evalkit.types import Completion, Verdict
from evalkit.validity.health import health_of, read_signals
from evalkit.validity.threats import load_audit, read_exclusions, validity_section

SPEC = TaskSpec.parse("add")
N = 8
LOOPING = "7\n" + "so the answer is " * 40  # ends in a loop of four words


def write_run(
    root: Path,
    rows: list[list[tuple[bool, str, str, int, str]]],
    model: str = "m",
) -> Path:
    """A run of ``add`` problems; ``rows[i][j]`` = (passed, detail, finish_reason, n_tokens, text)."""
    problems = make_problems(SPEC, 0, len(rows))
    identity = {"model": model, "tasks": [{"name": "add", "params": {}}], "backend": "replay", "seed": 0,
                "sampling": {"temperature": 1.0, "max_tokens": 64}}  # fmt: skip
    store, _ = RunStore.create_or_resume(root, identity, {"n": N}, problems)
    completions, verdicts = [], []
    for p, samples in zip(problems, rows, strict=True):
        for j, (ok, detail, finish, tokens, text) in enumerate(samples):
            completions.append(Completion(p.id, j, text, tokens, finish, j))  # type: ignore[arg-type]
            status = "empty" if not text.strip() else "ok"
            verdicts.append((p.id, j, Verdict(ok, float(ok), status, detail)))  # type: ignore[arg-type]
    store.append_completions(completions)
    store.append_verdicts(verdicts)
    return root


def sample(ok: bool, detail: str = "", finish: str = "stop", tokens: int = 10, text: str = "12") -> tuple:
    return ok, detail or ("boxed[last]: 12" if ok else "boxed[last]: 13"), finish, tokens, text


def pair(tmp: Path, problems: int = 40, gains: int = 10, rl_tokens: int = 10) -> tuple[Path, Path]:
    """Base and RL runs that agree on every problem but the first ``gains``, which RL solves 8 of 8 by the
    last-number fallback and the base never solves; the other problems are solved 4 of 8 by both (boxed)."""
    base, rl = [], []
    for i in range(problems):
        if i < gains:
            base.append([sample(False) for _ in range(N)])
            rl.append([sample(True, "last number: 12", tokens=rl_tokens) for _ in range(N)])
        else:
            row = [sample(j % 2 == 0) for j in range(N)]
            base.append(row)
            rl.append([(*s[:3], rl_tokens, s[4]) for s in row])
    return write_run(tmp / "base", base, "base"), write_run(tmp / "rl", rl, "rl")


# -- per-completion signals ------------------------------------------------------------------------------------


def test_rule_of_reads_the_rule_a_detail_names() -> None:
    assert rule_of("boxed[last] after </think>: 72") == "boxed[last]"
    assert rule_of("boxed[final 2]: 2; 3") == "boxed[final]"
    assert rule_of("answer is: 12") == "answer is"
    assert rule_of("last number after </think>: 7") == "last number"
    assert rule_of("no answer: no box found") is None
    assert rule_of("861") is None and rule_of("all tests passed") is None
    assert is_fallback("last number: 7") and is_fallback("answer is: 12") and not is_fallback("boxed[last]: 1")
    # details that also name the comparison read the same (and those stored before it still do, above)
    assert rule_of("boxed[final 2]: 2; 3 (equal as sets)") == "boxed[final]"
    assert rule_of("first line: 861 (equal as text)") == "first line"
    assert is_fallback("last number: 7 (equal as numbers) (not counted: the completion was cut at max tokens)")


def test_loops_agrees_with_the_extraction_rule_on_random_texts() -> None:
    """The cheap pre-checks of ``loops`` never change the answer of ``extraction.loop`` (independent reference)."""
    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(12)]
    seen = 0
    for _ in range(3000):
        words = [rng.choice(vocab[: rng.randint(1, 12)]) for _ in range(rng.randint(0, 60))]
        if words and rng.random() < 0.5:
            block = rng.randint(1, 6)
            words += words[-block:] * rng.randint(0, 8)
        text = " ".join(words)
        assert loops(text) == (loop(text) is not None), text
        seen += loops(text)
    assert seen > 100  # both outcomes were exercised
    assert loops(LOOPING) and not loops("7\nso the answer is 12 because 5 and 7 make 12")


# -- per-problem and per-run health ------------------------------------------------------------------------------


def test_health_counts_and_flags_each_signal(tmp_path: Path) -> None:
    rows = [
        [sample(False, finish="length") for _ in range(5)] + [sample(False) for _ in range(3)],  # 5/8 cut: flagged
        [sample(False, finish="length") for _ in range(3)] + [sample(False) for _ in range(5)],  # 3/8: not flagged
        [sample(False, finish="length", text=LOOPING) for _ in range(4)] + [sample(False) for _ in range(4)],
        [sample(False, text=" ") for _ in range(4)] + [sample(True) for _ in range(4)],  # 4/8 empty: flagged
        [sample(True, "last number: 12") for _ in range(2)] + [sample(True) for _ in range(2)] + [sample(False)] * 4,
        [sample(True, "last number: 12")] + [sample(True) for _ in range(2)] + [sample(False)] * 5,  # 1 of 3
    ]
    health = health_of(write_run(tmp_path / "run", rows))
    probs = list(health["problems"].values())
    assert [p["flags"] for p in probs] == [["truncated"], [], ["truncated", "loops"], ["empty"], ["fallback"], []]
    assert probs[2]["truncated"] == 4 and probs[2]["loops"] == 4
    assert probs[4]["fallback_passes"] == 2 and probs[4]["passes"] == 4
    assert health["rates"]["truncated"] == pytest.approx(12 / 48)
    assert health["rates"]["loops"] == pytest.approx(4 / 48)
    assert health["rates"]["empty"] == pytest.approx(4 / 48)
    assert health["fallback_share"] == pytest.approx(3 / 11)
    assert health["passes_by_rule"] == {"boxed[last]": 8, "last number": 3}
    assert health["tokens"]["mean"] == 10.0
    assert health["texts_read"] == 12  # only the completions cut at the limit were read for loops


def test_loop_check_reads_only_suspect_texts_unless_told(tmp_path: Path) -> None:
    rows = [[sample(False, text=LOOPING) for _ in range(N)]]  # loops, but stopped by itself
    run = write_run(tmp_path / "run", rows)
    assert health_of(run)["rates"]["loops"] == 0.0 and health_of(run)["texts_read"] == 0
    assert health_of(run, "all")["rates"]["loops"] == 1.0
    assert health_of(run, "none")["rates"]["loops"] is None


def test_unknown_finish_reasons_leave_truncation_and_tokens_unknown(tmp_path: Path) -> None:
    rows = [[sample(True, finish="unknown", tokens=0) for _ in range(N)] for _ in range(3)]
    health = health_of(write_run(tmp_path / "run", rows))
    assert health["rates"]["truncated"] is None and health["rates"]["finish_unknown"] == 1.0
    assert health["tokens"] is None
    assert not health["flagged"]  # an unknown finish reason never flags a problem
    assert any("finish reason unknown" in w for w in health["warnings"])


# -- pass@k at a budget and at a matched limit ---------------------------------------------------------------------


def _brute_pass(n: int, c: int, k: int) -> float:
    """pass@k by enumerating every k-subset of n samples (independent of the product formula)."""
    if k == 0:
        return 0.0
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(i < c for i in s) for s in subsets) / len(subsets)


def test_pass_at_budget_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        p = int(rng.integers(1, 6))
        n = rng.integers(1, 9, size=p)
        c = np.array([rng.integers(0, x + 1) for x in n])
        t = rng.uniform(1, 50, size=p)
        budgets = rng.uniform(0, 400, size=4)
        got, capped = pass_at_budget(n, c, t, budgets)
        for j, b in enumerate(budgets):
            ks = [min(int(x), math.floor(b / ti)) for x, ti in zip(n, t, strict=True)]
            want = np.mean([_brute_pass(int(x), int(cc), k) for x, cc, k in zip(n, c, ks, strict=True)])
            assert got[j] == pytest.approx(want, abs=1e-12)
            assert capped[j] == pytest.approx(np.mean([math.floor(b / ti) > x for x, ti in zip(n, t, strict=True)]))


def test_budget_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown"):
        affordable_k([0.0, 3.0], 10, [4, 4])
    with pytest.raises(ValueError, match="unknown"):
        passed_at_limit([True], [0], 5)
    assert passed_at_limit([True, True, False], [3, 9, 2], 5).tolist() == [True, False, False]


# -- the validity section -------------------------------------------------------------------------------------------


def test_a_gain_carried_by_flagged_problems_is_marked(tmp_path: Path) -> None:
    base, rl = (load_run(p) for p in pair(tmp_path))
    summary = compare_runs(base, rl)
    section = validity_section(base, rl, summary)
    health = section["threats"]["health"]
    assert health["count"] == 10 and all(v == "rl: fallback" for v in health["flagged"].values())
    without = section["without_flagged"]
    assert without["problems"] == 30 and without["dropped"] == 10
    gains = [c for c in without["claims"] if c["kind"] == "gain_at_k" and c["k"] == 1]
    assert gains and gains[0]["holds"] is False and gains[0]["mark"] == "only_with_flagged"
    assert gains[0]["delta_after"] == pytest.approx(0.0)  # the delta at k = 1 without them, no change shown
    cell = next(d for d in without["deltas"] if d["k"] == 1)
    assert cell["shown"] and cell["delta"] == pytest.approx(0.25) and cell["delta_after"] == pytest.approx(0.0)
    assert not cell["shown_after"]
    assert without["frontier"] == [
        {"task": "add", "rl_only": 10, "base_only": 0, "rl_only_after": 0, "base_only_after": 0}
    ]
    assert section["budget"]["tokens_known"] and section["budget"]["matched_limit"] is None


def test_much_longer_completions_get_a_matched_limit(tmp_path: Path) -> None:
    base, rl = (load_run(p) for p in pair(tmp_path, rl_tokens=40))
    summary = compare_runs(base, rl)
    budget = validity_section(base, rl, summary)["budget"]
    assert budget["tokens_per_completion"]["ratio_rl_to_base"] == pytest.approx(4.0)
    matched = budget["matched_limit"]
    assert matched["limit"] == 10 and matched["shorter"] == "base" and matched["cut_share"]["rl"] == 1.0
    # cut at 10 tokens, none of RL's 40-token passes stands: its gain holds only at unequal lengths
    gains = [c for c in matched["claims"] if c["kind"] == "gain_at_k"]
    assert gains and all(c["mark"] == "only_at_unequal_lengths" for c in gains)
    by_b = budget["by_budget"]
    assert by_b["budgets"][0] <= 10 and len(by_b["base"]) == len(by_b["budgets"])
    j = by_b["budgets"].index(32.0)  # 32 tokens: 3 base samples, no RL sample per problem
    assert by_b["base"][j] == pytest.approx(30 / 40 * (1 - math.comb(4, 3) / math.comb(8, 3)))
    assert by_b["rl"][j] == 0.0
    j = by_b["budgets"].index(64.0)  # 6 base samples (every problem with a pass is solved), 1 RL sample
    assert by_b["base"][j] == pytest.approx(30 / 40)
    assert by_b["rl"][j] == pytest.approx((10 + 30 * 0.5) / 40)


def test_exclusions_and_their_bad_inputs(tmp_path: Path) -> None:
    base, rl = (load_run(p) for p in pair(tmp_path, gains=0))
    summary = compare_runs(base, rl)
    ids = [row["problem_id"] for row in summary["problems"]]
    listed = tmp_path / "exclude.txt"
    listed.write_text(f"# mine\n{ids[3]}\n\n{ids[5]}  # duplicate statement\n")
    assert set(read_exclusions(listed, ids)) == {ids[3], ids[5]}
    section = validity_section(base, rl, summary, exclude=listed)
    assert section["threats"]["excluded"]["count"] == 2 and section["without_flagged"]["problems"] == 38
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{ids[0]}\nnot-a-problem\n")
    with pytest.raises(EvalkitError, match=r"bad\.txt:2: problem id 'not-a-problem' is not among the 40"):
        read_exclusions(bad, ids)
    with pytest.raises(EvalkitError, match="no such file"):
        read_exclusions(tmp_path / "missing.txt", ids)


def test_audit_results_flag_problems_and_another_tasks_audit_is_refused(tmp_path: Path) -> None:
    base, rl = (load_run(p) for p in pair(tmp_path, gains=0))
    summary = compare_runs(base, rl)
    ids = [row["problem_id"] for row in summary["problems"]]
    contamination = tmp_path / "contamination.json"
    rows = [{"problem_id": pid, "task": "add", "flagged": i < 3, "reason": "ROUGE-L 0.95"} for i, pid in enumerate(ids)]
    contamination.write_text(json.dumps({"flag_rule": "ROUGE-L >= 0.7 at prefix 0.6", "problems": rows}))
    guess = tmp_path / "guess.json"
    grows = [{"problem_id": pid, "task": "add", "n": 8, "c": 4 if i >= 38 else 0, "within_reach": i >= 37,
              "p_above_guess": 0.5} for i, pid in enumerate(ids)]  # fmt: skip
    guess.write_text(json.dumps({"test": "exact binomial", "problems": grows}))
    section = validity_section(base, rl, summary, audits=[contamination, guess])
    assert set(section["threats"]["contamination"]["flagged"]) == set(ids[:3])
    assert set(section["threats"]["guess"]["flagged"]) == set(ids[38:])  # within reach and solved
    assert section["without_flagged"]["problems"] == 35
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"flag_rule": "r", "problems": [{"problem_id": "aime24-1", "task": "aime24"}]}))
    with pytest.raises(EvalkitError, match=r"audited task\(s\) aime24, but no problem of the compared runs"):
        validity_section(base, rl, summary, audits=[other])
    junk = tmp_path / "junk.json"
    junk.write_text(json.dumps({"rows": []}))
    with pytest.raises(EvalkitError, match="not an audit result"):
        load_audit(junk)
    with pytest.raises(EvalkitError, match="not a contamination audit run"):
        load_audit(tmp_path / "base")


def test_compare_cli_writes_the_validity_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, rl = pair(tmp_path)
    out = tmp_path / "cmp"
    assert main(["compare", str(base), str(rl), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "validity   10 of 40 problems flagged (health 10)" in printed
    assert "RL gains at k = 1 (add): only with flagged" in printed
    summary = json.loads((out / "report.json").read_text())
    assert summary["validity"]["threats"]["health"]["count"] == 10
    page = (out / "report.html").read_text()
    assert 'id="validity"' in page and "only with the flagged problems" in page
    listed = tmp_path / "ex.txt"
    listed.write_text("nope\n")
    assert main(["compare", str(base), str(rl), "--out", str(out), "--exclude", str(listed)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ex.txt:1: problem id 'nope' is not among the 40 compared problems" in err[0]
    assert main(["compare", str(base), str(rl), "--out", str(out), "--audit", "nowhere"]) == 2
    assert capsys.readouterr().err.strip() == "error: --audit nowhere: no such file or folder"
    assert main(["report", str(base), str(rl), "--out", str(tmp_path / "rep")]) == 0  # `report` has it too
    assert json.loads((tmp_path / "rep" / "report.json").read_text())["validity"]["threats"]["health"]["count"] == 10


def test_imported_runs_show_the_section_with_unknowns(tmp_path: Path) -> None:
    rows = [[sample(j < 4, finish="unknown", tokens=0) for j in range(N)] for _ in range(6)]
    base = load_run(write_run(tmp_path / "base", rows, "base"))
    rl = load_run(write_run(tmp_path / "rl", rows, "rl"))
    summary = compare_runs(base, rl)
    summary["validity"] = validity_section(base, rl, summary)
    assert summary["validity"]["budget"]["tokens_known"] is False
    assert read_signals(base.root).tokens_known is False
    page = render(summary)
    assert 'id="validity"' in page and "imported without n_tokens" in page
    assert "finish reason unknown for 100.0% of completions" in page


def test_summary_shows_the_runs_health(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [[sample(False, finish="length") for _ in range(N)], [sample(True, "last number: 12") for _ in range(N)]]
    run = write_run(tmp_path / "run", rows)
    assert main(["summary", str(run)]) == 0
    out = capsys.readouterr().out
    assert "health     cut at the limit 50.0%, loops 0.0%, empty 0.0%, finish unknown 0.0%" in out
    assert "passes by a fallback rule 100.0%, tokens per completion mean 10, median 10" in out
    assert "health     2 problems flagged" in out
    assert main(["summary", str(run), "--json"]) == 0
    health = json.loads(capsys.readouterr().out)["health"]
    assert health["rates"]["truncated"] == 0.5 and len(health["flagged"]) == 2
