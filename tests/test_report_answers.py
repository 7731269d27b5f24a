"""The answers view: verdict details read back, distinct answers tallied from a run store, chosen completions
with the answer marked, rendered as text (HTML and Jinja2 syntax shown as written); the Holm mark."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from evalkit.compare import compare_runs
from evalkit.compare.answers import (
    DetailReading,
    attach_answers,
    excerpt,
    mark_of,
    problem_answers,
    read_detail,
)
from evalkit.compare.results import load_run
from evalkit.grading.answers import answer_verdict
from evalkit.grading.equivalence import COMPARISON_RULES
from evalkit.grading.extraction import extract
from evalkit.report import answers as report_answers
from evalkit.report import render, write_report
from evalkit.report.overview import headline_context
from evalkit.report.values import HOLM_MARK, delta_ci_cell
from evalkit.store import RunStore
from evalkit.types import Completion, Problem, Verdict

# ------------------------------------------------------------------------------------------ read_detail

CUT = "not counted: the completion was cut at max tokens"


@pytest.mark.parametrize(
    ("detail", "want"),
    [
        ("boxed[last] after </think>: 72", DetailReading("72", "boxed[last]", "after </think>")),
        ("boxed[last] after </THINKING>: x: y", DetailReading("x: y", "boxed[last]", "after </THINKING>")),
        ("boxed[final 2]: 2; 3", DetailReading("2; 3", "boxed[final 2]")),
        ("boxed[unclosed]: 12", DetailReading("12", "boxed[unclosed]")),
        ("answer is: 12 (twelve)", DetailReading("12 (twelve)", "answer is")),
        (
            "answer is: 17 + 25 (restated question: the question's expression, unevaluated)",
            DetailReading("17 + 25", "answer is", note="restated question: the question's expression, unevaluated"),
        ),
        (
            "last number: 7 (not counted: the completion was cut at max tokens)",
            DetailReading("7", "last number", note="not counted: the completion was cut at max tokens"),
        ),
        (
            "no answer: the last \\boxed{} is cut off",
            DetailReading(None, "no answer", note="the last \\boxed{} is cut off"),
        ),
        ("no answer after </think>: nothing", DetailReading(None, "no answer", "after </think>", "nothing")),
        ("empty completion", DetailReading(None, "empty")),
        ("3/5 tests passed: assert f(2) == 4", DetailReading(None, "", note="3/5 tests passed: assert f(2) == 4")),
        ("42", DetailReading(None, "", note="42")),  # an exact-answer task's first line
        # details that name the comparison that decided; those stored before (above) read the same
        ("boxed[last]: 72 (equal as numbers)", DetailReading("72", "boxed[last]", compared="equal as numbers")),
        (
            "boxed[last] after </think>: (1, 2) (not equal as vectors)",
            DetailReading("(1, 2)", "boxed[last]", "after </think>", compared="not equal as vectors"),
        ),
        ("boxed[final 2]: 2; 3 (equal as sets)", DetailReading("2; 3", "boxed[final 2]", compared="equal as sets")),
        (
            "answer is: twelve (= 12) (equal as text)",
            DetailReading("twelve (= 12)", "answer is", compared="equal as text"),
        ),
        (
            "boxed[last]: \\frac{7}{0} (not equal: division by zero)",
            DetailReading("\\frac{7}{0}", "boxed[last]", compared="not equal: division by zero"),
        ),
        (
            "last number: 7 (equal as numbers) (not counted: the completion was cut at max tokens)",
            DetailReading("7", "last number", note=CUT, compared="equal as numbers"),
        ),
        ("answer is: 12 (equal as nothing known)", DetailReading("12", "answer is", compared="equal as nothing known")),
        ("", DetailReading(None, "", note="")),
    ],
)
def test_read_detail(detail: str, want: DetailReading) -> None:
    assert read_detail(detail) == want


def test_read_detail_reads_what_the_verifier_wrote() -> None:
    """Against the real producer: for random completions, the parsed answer and rule are the extraction's."""
    rng = random.Random(3)
    pieces = ["\\boxed{%s}", "The answer is %s.", "so %s", "<think>\\boxed{9}</think> \\boxed{%s}", "Answer: %s",
              "x = \\boxed{%s} or x = \\boxed{4}", "\\boxed{%s", "<think>never closed %s", "%s apples"]  # fmt: skip
    values = ["7", "-3", "1/2", "\\frac{1}{2}", "x: y", "(1, 2)", "a (b)", "12" * 50]
    for _ in range(300):
        text = " ".join(rng.choice(pieces) % rng.choice(values) for _ in range(rng.randint(1, 3)))
        reference = rng.choice(values)
        verdict = answer_verdict(reference, text, prompt="What is it?")
        reading = read_detail(verdict.detail)
        found = extract(text, "auto", "strip", False)
        if found.answer is None:
            assert reading.rule == "no answer" and reading.answer is None, verdict.detail
            continue
        assert reading.rule in (found.rule, f"boxed[final {len(found.group)}]"), verdict.detail
        assert reading.region == found.region
        if "restated question" not in reading.note:
            verdict_word = "equal" if verdict.passed else "not equal"
            assert reading.compared.split(" as ")[0].split(":")[0] == verdict_word, verdict.detail
            assert reading.compared.split(" as ")[-1].split(": ")[-1] in COMPARISON_RULES, verdict.detail
        if reading.rule == found.rule:
            assert reading.answer == found.answer[:80], (verdict.detail, found)


# ------------------------------------------------------------------------------------------ marks, excerpts


def test_mark_is_the_last_occurrence_after_the_reasoning() -> None:
    text = "<think>is it 7? 7</think> so \\boxed{7} hmm"
    at = mark_of(text, "7", "after </think>")
    assert at is not None and text[at[0] : at[1]] == "7" and at[0] == text.rindex("7")
    assert mark_of("<think>7</think> nothing", "7", "after </think>") is None
    assert mark_of("1,234", "1234") is None and mark_of("abc", None) is None


def test_excerpt_keeps_a_window_around_the_answer() -> None:
    text = "a" * 5000 + "ANSWER" + "b" * 3000
    start = text.index("ANSWER")
    got = excerpt(text, (start, start + 6))
    assert len(got["text"]) == 2000 and got["chars"] == len(text)
    m = got["mark"]
    assert got["text"][m[0] : m[1]] == "ANSWER" and got["offset"] + m[0] == start
    assert got["offset"] + len(got["text"]) == start + 6 + 400  # 400 characters after the answer
    short = excerpt("so 7", (3, 4))
    assert short == {"text": "so 7", "offset": 0, "chars": 4, "mark": [3, 4]}
    tail = excerpt("z" * 3000 + "END", None)  # no answer: the end of the text
    assert tail["text"].endswith("END") and tail["mark"] is None and tail["offset"] == 1003


# ------------------------------------------------------------------------------------------ from a run store

HOSTILE = "{{ 7*7 }} {% for x in y %}<script>alert(1)</script>{# c #}"


def _write(root: Path, model: str, problems: list[Problem], outcomes: dict[str, list[tuple[str, bool, str]]]) -> Path:
    """A run whose sample j of problem p has (text, passed, detail) = outcomes[p][j]."""
    identity = {"model": model, "tasks": ["t"], "backend": "replay", "seed": 0, "sampling": {"temperature": 1.0}}
    store, _ = RunStore.create_or_resume(root, identity, {"n": 8}, problems)
    comps, verds = [], []
    for p in problems:
        for j, (text, ok, detail) in enumerate(outcomes[p.id]):
            comps.append(Completion(p.id, j, text, 3, "stop", j))
            verds.append((p.id, j, Verdict(ok, float(ok), "ok", detail)))
    store.append_completions(comps)
    store.append_verdicts(verds)
    store.unlock()
    return root


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[Problem]]:
    root = tmp_path_factory.mktemp("answers")
    problems = [Problem(f"p{i}", "t" if i % 2 else "u", f"What is {i}?", str(i), {}) for i in range(6)]

    def right(i: int) -> tuple[str, bool, str]:
        return f"so \\boxed{{{i}}}", True, f"boxed[last]: {i}"

    def wrong(a: str) -> tuple[str, bool, str]:
        return f"I think {a}", False, f"last number: {a}"

    nothing = ("hmm", False, "no answer: no \\boxed{}, no answer phrase and no number")
    base = {
        "p0": [right(0)] * 2 + [wrong("9")] * 4 + [nothing] * 2,
        "p1": [wrong("5")] * 3 + [wrong("6")] * 5,  # RL-only
        "p2": [right(2)] * 8,
        "p3": [(f"<think>{HOSTILE}</think> The answer is {HOSTILE}.", False, f"answer is after </think>: {HOSTILE}")]
        * 8,
        "p4": [right(4)] + [nothing] * 7,
        "p5": [wrong("1")] * 8,
    }
    rl = {
        "p0": [right(0)] * 6 + [wrong("8")] * 2,
        "p1": [wrong("6")] * 7 + [right(1)],
        "p2": [right(2)] * 8,
        "p3": [right(3)] + [wrong("7")] * 7,
        "p4": [nothing] * 8,  # base-only
        "p5": [nothing] * 8,
    }
    b = _write(root / "base", "base-model", problems, base)
    r = _write(root / "rl", "rl-model", problems, rl)
    # a later verdict of a key replaces the earlier one (a rescore): p5's base sample 0 is now "2"
    store = RunStore.open(b)
    store.append_verdicts([("p5", 0, Verdict(False, 0.0, "ok", "last number: 2"))])
    store.unlock()
    return b, r, problems


def test_problem_answers_tally(pair: tuple[Path, Path, list[Problem]]) -> None:
    base = load_run(pair[0])
    got = problem_answers(base, {p.id: 8 for p in pair[2]})
    p0 = got["p0"]
    assert p0["samples"] == 8 and p0["distinct"] == 3 and p0["more"] == {"distinct": 0, "samples": 0}
    assert [(r["answer"], r["passed"], r["count"]) for r in p0["rows"]] == [("9", False, 4), ("0", True, 2),
                                                                            (None, False, 2)]  # fmt: skip
    assert p0["rows"][0]["rules"] == {"last number": 4}
    assert p0["rows"][2]["detail"] == "no \\boxed{}, no answer phrase and no number"
    assert p0["rows"][2]["rules"] == {"no answer": 2}
    assert [(r["answer"], r["count"]) for r in got["p5"]["rows"]] == [("1", 7), ("2", 1)]  # the rescore counts
    # only the first n samples count
    first3 = problem_answers(base, {"p0": 3})["p0"]["rows"]
    assert [(r["answer"], r["passed"], r["count"]) for r in first3] == [("0", True, 2), ("9", False, 1)]


def test_compare_attaches_answers_and_samples(pair: tuple[Path, Path, list[Problem]]) -> None:
    summary = compare_runs(load_run(pair[0]), load_run(pair[1]))
    rows = {r["problem_id"]: r for r in summary["problems"]}
    for r in rows.values():
        for model, c in (("base", r["c_base"]), ("rl", r["c_rl"])):
            assert sum(a["count"] for a in r["answers"][model]["rows"] if a["passed"]) == c
            assert r["answers"][model]["samples"] == r["n"]
    assert summary["answers"]["detail_problems"] == 6
    p1 = rows["p1"]["samples"]  # RL-only: RL's correct sample 7, the base's most frequent wrong answer "6"
    got = [(s["model"], s["passed"], s["sample_idx"], s["answer"]) for s in p1]
    assert got == [("rl", True, 7, "1"), ("base", False, 3, "6")]
    assert p1[0]["text"][p1[0]["mark"][0] : p1[0]["mark"][1]] == "1" and p1[0]["rule"] == "boxed[last]"
    p4 = rows["p4"]["samples"]  # base-only: the base's correct one, RL's wrong one without an answer
    got4 = [(s["model"], s["passed"], s["answer"], s["mark"]) for s in p4]
    assert got4 == [("base", True, "4", [10, 11]), ("rl", False, None, None)]
    assert [s["passed"] for s in rows["p5"]["samples"]] == [False]  # neither: a wrong one only
    # frontier problems come first when the detail is capped
    capped = compare_runs(load_run(pair[0]), load_run(pair[1]))
    for r in capped["problems"]:
        r.pop("samples", None)
    attach_answers(capped, load_run(pair[0]), load_run(pair[1]), cap=2)
    assert sorted(r["problem_id"] for r in capped["problems"] if "samples" in r) == ["p1", "p3"]  # RL-only both
    assert capped["answers"]["detail_problems"] == 2 and capped["answers"]["detail_cap"] == 2


def test_exact_answer_details_are_marked(tmp_path: Path) -> None:
    """An exact-answer task's detail names its rule (``first line``); the completion marks the first line's answer."""
    from evalkit.tasks import exact_answer_verdict

    problems = [Problem("e0", "t", "1 + 1?", "2", {})]
    texts = ["  2\nbecause 1 + 1 = 2", "3\nso 2 is wrong"]
    outcomes = {"e0": [(t, (v := exact_answer_verdict("2", t)).passed, v.detail) for t in texts]}
    b = _write(tmp_path / "b", "b", problems, outcomes)
    r = _write(tmp_path / "r", "r", problems, outcomes)
    summary = compare_runs(load_run(b), load_run(r))
    row = summary["problems"][0]
    assert [(a["answer"], a["passed"], a["rules"]) for a in row["answers"]["rl"]["rows"]] == [
        ("2", True, {"first line, equal as text": 1}),
        ("3", False, {"first line, not equal as text": 1}),
    ]
    for s in row["samples"]:
        assert s["rule"] == "first line" and s["text"][s["mark"][0] : s["mark"][1]] == s["answer"]
    assert row["samples"][0]["mark"] == [2, 3]  # the first line's 2, not the later one


def test_summary_in_memory_has_no_answers(tmp_path: Path, pair: tuple[Path, Path, list[Problem]]) -> None:
    base, rl = load_run(pair[0]), load_run(pair[1])
    base.root = tmp_path / "gone"  # not a run store: nothing to read
    summary = compare_runs(base, rl)
    assert "answers" not in summary and all("answers" not in r for r in summary["problems"])


# ------------------------------------------------------------------------------------------ rendering


def _answers_section(page: str) -> str:
    start = page.index('<section id="answers">')
    return page[start : page.index("</section>", start)]


def test_rendered_view_shows_completions_as_written(pair: tuple[Path, Path, list[Problem]], tmp_path: Path) -> None:
    summary = compare_runs(load_run(pair[0]), load_run(pair[1]))
    html_path = write_report(summary, tmp_path / "report.html")
    page = html_path.read_text(encoding="utf-8")
    view = _answers_section(page)
    assert "49" not in view and "<script>alert" not in page and "{# c #}" in view
    escaped = "{{ 7*7 }} {% for x in y %}&lt;script&gt;alert(1)&lt;/script&gt;{# c #}"
    assert f"<mark>{escaped}</mark>" in view  # the base's wrong answer on p3, marked after </think>
    assert f'<code class="answer">{escaped}</code>' in view
    assert view.count('<details class="an-item"') == 6 and "Showing 6 of 6 problems" in view
    assert "<mark>1</mark>" in view and "last number (4)" in view and "no \\boxed{}, no answer phrase" in view
    for cls in ("rl_only", "base_only", "both", "neither"):
        assert f'<input type="checkbox" class="an-cls" value="{cls}" checked>' in view
    assert '<option value="t">t</option>' in view and '<option value="u">u</option>' in view
    data = json.loads(html_path.with_suffix(".json").read_text(encoding="utf-8"))
    assert data["problems"][3]["samples"][-1]["answer"] == HOSTILE  # the JSON keeps it as written


def test_view_is_capped_and_says_so(pair: tuple[Path, Path, list[Problem]], monkeypatch: pytest.MonkeyPatch) -> None:
    summary = compare_runs(load_run(pair[0]), load_run(pair[1]))
    monkeypatch.setattr(report_answers, "MAX_ANSWER_PROBLEMS", 2)
    view = _answers_section(render(summary))
    assert view.count('<details class="an-item"') == 2
    assert "Showing 2 of 6 problems (the page holds at most 2" in view


def test_no_view_without_answers(pair: tuple[Path, Path, list[Problem]]) -> None:
    summary = compare_runs(load_run(pair[0]), load_run(pair[1]))
    for r in summary["problems"]:
        r.pop("answers")
    assert '<section id="answers">' not in render(summary)


def test_long_and_unmarked_samples() -> None:
    """A window into a long text says what was cut on each side; an answer not in the text is said."""
    problem: dict[str, Any] = {
        "problem_id": "q", "task": "t", "class": "both", "n": 4, "c_base": 1, "c_rl": 1, "reference": "5",
        "answers": {"base": {"rows": [], "samples": 0}, "rl": {"rows": [], "samples": 0}},
        "samples": [
            {"model": "rl", "passed": True, "sample_idx": 0, "status": "ok", "answer": "5", "rule": "boxed[last]",
             "detail": "boxed[last]: 5", "text": "xx5yy", "offset": 100, "chars": 150, "mark": [2, 3]},
            {"model": "base", "passed": False, "sample_idx": 2, "status": "truncated", "answer": "1234",
             "rule": "last number", "detail": "last number: 1234", "text": "1,234", "offset": 0, "chars": 5,
             "mark": None},
        ],
    }  # fmt: skip
    ctx = report_answers.answers_context({}, [problem])
    assert ctx is not None
    first, second = ctx["entries"][0]["samples"]
    assert (first["before"], first["mark"], first["after"], first["cut_after"]) == ("xx", "5", "yy", 45)
    assert second["mark"] is None and second["before"] == "1,234"
    assert [m for m, _ in ctx["entries"][0]["models"]] == ["base", "RL"]


# ------------------------------------------------------------------------------------------ Holm mark


@pytest.mark.parametrize(
    ("info", "marked", "colour"),
    [
        ({"delta": 0.1, "ci": [0.01, 0.2], "significant": False}, True, ""),
        ({"delta": -0.1, "ci": [-0.2, -0.01], "significant": False}, True, ""),
        ({"delta": 0.1, "ci": [0.01, 0.2], "significant": True, "direction": "up"}, False, "pos"),
        ({"delta": 0.1, "ci": [-0.01, 0.2], "significant": False}, False, ""),
        ({"delta": 0.1, "ci": [0.01, 0.2]}, False, "pos"),  # an older summary: no Holm decision, no mark
    ],
)
def test_holm_mark(info: dict[str, Any], marked: bool, colour: str) -> None:
    cell = delta_ci_cell(0.2, 0.3, info)
    assert (HOLM_MARK in cell.text) == marked == ("holm-only" in cell.cls)
    assert (colour in cell.cls) if colour else ("pos" not in cell.cls and "neg" not in cell.cls)


def test_every_delta_cell_records_its_family(pair: tuple[Path, Path, list[Problem]]) -> None:
    summary = compare_runs(load_run(pair[0]), load_run(pair[1]))
    sections = [*summary["groups"], *summary["tasks"].values()]
    cells = [c for sec in sections for c in sec["delta"].values()]
    distinct = {id(c): c for c in cells}
    sizes = {c["holm_family"]["size"] for c in distinct.values()}
    assert len(sizes) == 1 and sizes.pop() == sizes_expected(summary) == 12  # 2 tasks and overall, k = 1..8
    for c in cells:
        assert c["interval_excludes_0"] == (c["ci"] is not None and (c["ci"][0] > 0 or c["ci"][1] < 0))
        assert c["significant"] == (c["p_holm"] <= 0.05 and c["interval_excludes_0"])
    legend = headline_context(summary)["holm"]
    assert legend["mark"] == HOLM_MARK and legend["size"] == sizes_expected(summary)


def sizes_expected(summary: dict[str, Any]) -> int:
    """The distinct delta cells: every task's, plus those of groups that are not one task's section again."""
    tasks = summary["tasks"]
    cells = sum(len(sec["delta"]) for sec in tasks.values())
    for sec in summary["groups"]:
        names = sec["scope"]["tasks"]
        if not (len(names) == 1 and names[0] in tasks):
            cells += len(sec["delta"])
    return cells


def test_headline_marks_the_cell_the_json_marks(pair: tuple[Path, Path, list[Problem]]) -> None:
    """A cell recorded as excluding 0 but not significant after Holm is the one cell the headline marks."""
    summary = compare_runs(load_run(pair[0]), load_run(pair[1]))
    for sec in [*summary["groups"], *summary["tasks"].values()]:
        for cell in sec["delta"].values():
            cell.update(significant=False, direction=None)
    cell = summary["tasks"]["t"]["delta"]["1"]
    cell.update(ci=[0.01, 0.2], interval_excludes_0=True)
    page = render(summary)
    headline = page[page.index('<section id="headline">') : page.index('id="holm-legend"')]
    assert headline.count(HOLM_MARK) == 1 and headline.count("holm-only") == 1
    assert "1 headline cell marked" in page and "over the 12 distinct Δ cells" in page
