"""Tests for evalkit.report: one self-contained, escaped, valid-UTF-8 HTML page plus its JSON summary."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import math
import random
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from evalkit.compare.evidence import auc_comparison, cover_comparison
from evalkit.errors import EvalkitError
from evalkit.report import (
    MAX_PROBLEM_ROWS,
    MAX_TABLE_ROWS,
    TABLE_SCRIPT,
    clean_text,
    esc,
    moving_average,
    write_report,
)

N = 64
KS = [1, 2, 4, 8, 16, 32, 64]
MEGA = "x" * 1_000_000 + "<script>alert('tail-marker-q7')</script>"
HOSTILE = {
    "script": "<script>alert(1)</script>",
    "table": "</table><h1>x",
    "nul": "a\x00b",
    "surrogate": "bad \udcff byte",
    "mega": MEGA,
}


def _pass_at_k(n: int, c: int, k: int) -> float:
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def _mean_curve(counts: list[int], n: int) -> dict[str, float]:
    return {str(k): sum(_pass_at_k(n, c, k) for c in counts) / len(counts) for k in KS if k <= n}


def _classify(cb: int, cr: int) -> str:
    if cb and cr:
        return "both"
    if cr:
        return "rl_only"
    return "base_only" if cb else "neither"


def _band(curve: dict[str, float], half: float = 0.05) -> dict[str, list[float]]:
    return {k: [max(0.0, v - half), min(1.0, v + half)] for k, v in curve.items()}


def _task_summary(problems: list[dict[str, Any]], task_level: bool = True) -> dict[str, Any]:
    classes = {c: sum(p["class"] == c for p in problems) for c in ("both", "rl_only", "base_only", "neither")}
    buckets: dict[str, Any] = {}
    for b in sorted({p["bucket"] for p in problems}):
        ps = [p for p in problems if p["bucket"] == b]
        buckets[b] = {
            "n_problems": len(ps),
            "pass_at_k": {
                "base": _mean_curve([p["c_base"] for p in ps], N),
                "rl": _mean_curve([p["c_rl"] for p in ps], N),
            },
        }
    base = _mean_curve([p["c_base"] for p in problems], N)
    rl = _mean_curve([p["c_rl"] for p in problems], N)
    frontier = {
        "rl_only": classes["rl_only"],
        "base_only": classes["base_only"],
        "expected_under_null": 1.25,
        "p_rl_only_exact": 0.00042,
        "p_base_only_exact": 0.31,
    }
    if task_level:  # BH q-values exist per task only
        frontier.update(q_rl_only=0.0009, q_base_only=0.5)
    return {
        "n_problems": len(problems),
        "n": N,
        "pass_at_k": {"base": base, "rl": rl},
        "pass_at_k_ci": {"base": _band(base), "rl": _band(rl)},
        "delta": {k: {"delta": rl[k] - base[k], "ci": [rl[k] - base[k] - 0.03, rl[k] - base[k] + 0.03]} for k in base},
        "confidence": 0.95,
        "classes": classes,
        "frontier_test": frontier,
        "buckets": buckets,
    }


def _trajectory(tasks: list[str]) -> dict[str, Any]:
    runs = ["runs/base", "runs/mid <script>x</script>", "runs/rl"]
    rows = {}
    for t, regime in zip(tasks, ["plateau", "diminish"], strict=True):
        checkpoints = [
            {"run": r, "pass@1": 0.2 + 0.1 * i, f"pass@{N}": 0.6 + 0.05 * i, "halfwidth@1": 0.02}
            | {f"halfwidth@{N}": 0.04}
            for i, r in enumerate(runs)
        ]
        rows[t] = {"n": N, "n_problems": 25, "checkpoints": checkpoints, "regime": regime}
    return {
        "tasks": rows,
        "gain_correlation": {"spearman_rho": None, "p_value": None, "tasks": 2, "reason": "needs at least three tasks"},
        "confidence": 0.95,
    }


def make_summary(n_problems: int = 50, seed: int = 0) -> dict[str, Any]:
    """A realistic summary: 2 tasks, every frontier class, and hostile texts in rl-only and base-only rows."""
    rng = random.Random(seed)
    tasks = ["arith", "count $x$ <b>"]  # '$' would trip matplotlib's mathtext, '<b>' the HTML
    problems: list[dict[str, Any]] = []
    hostile = list(HOSTILE.values())
    n_hostile = 0
    for i in range(n_problems):
        task = tasks[i % 2]
        # Cycle through the classes so each one is well represented.
        kind = ["both", "rl_only", "both", "base_only", "neither", "both", "rl_only"][i % 7]
        cb = rng.randint(1, N) if kind in ("both", "base_only") else 0
        cr = rng.randint(1, N) if kind in ("both", "rl_only") else 0
        text = f"answer {i}"
        if kind in ("rl_only", "base_only"):
            text = hostile[n_hostile % len(hostile)]
            n_hostile += 1
        problems.append(
            {
                "problem_id": f"{task.split()[0]}-{i:04d}",
                "task": task,
                "prompt": f"What is {i} + {i}?" if i % 7 != 1 else hostile[(i // 7) % len(hostile)],
                "reference": str(2 * i),
                "bucket": "easy" if i < n_problems // 2 else "hard",
                "n": N,
                "c_base": cb,
                "c_rl": cr,
                "class": _classify(cb, cr),
                "example_base": text if cb else None,
                "example_rl": text if cr else None,
            }
        )
    run = {
        "dir": "runs/base",
        "model": "tiny-base <img src=x onerror=alert(1)>",
        "fingerprint": "sha256:" + "ab" * 32,
        "n": N,
        "sampling": {"temperature": 1.0, "top_p": 1.0, "max_tokens": 256, "stop": ["</s>"]},
        "seed": 1234,
        "backend": "replay",
        "git": "0123abcd",
        "versions": {"evalkit": "0.1.0", "numpy": "2.4.6"},
    }
    rl_run = {**run, "dir": "runs/rl", "model": "tiny-rl", "git": None, "seed": 99}
    return {
        "title": "base vs RL <on> arith & count",
        "created": "2026-11-27T17:00:00Z",
        "evalkit_version": "0.1.0",
        "runs": {"base": run, "rl": rl_run},
        "ks": KS,
        "overall": _task_summary(problems, task_level=False),
        "tasks": {t: _task_summary([p for p in problems if p["task"] == t]) for t in tasks},
        "problems": problems,
        "rates": {
            "base": {"truncated": 0.05, "empty": 0.01, "timeout": 0.0, "error": 0.002},
            "rl": {"truncated": 0.02, "empty": 0.0, "timeout": 0.001, "error": 0.0},
        },
        "training": [
            {"step": s, "reward_mean": 0.1 + 0.002 * s + 0.1 * rng.random(), "kl": 0.001 * s} for s in range(200)
        ],
        "training_eval": [
            {"step": s, "eval_problems": 24, "eval_n": N, "pass@1": 0.2 + s / 1000, f"pass@{N}": 0.6 + s / 2000}
            for s in range(0, 200, 50)
        ],
        "trajectory": _trajectory(tasks),
        "gate": {"passed": False, "lines": ["pass@64 delta -0.2 pp < 0 <fail>"]},
        "notes": ["RL expands arith by 3 problems", HOSTILE["script"]],
    }


def _render(tmp_path: Path, summary: dict[str, Any], name: str = "report.html") -> str:
    out = write_report(summary, tmp_path / name)
    assert out == tmp_path / name
    return out.read_bytes().decode("utf-8")  # strict: raises on invalid UTF-8


def _section(page: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}">(.*?)</section>', page, re.S)
    assert m, f"section {sid} missing"
    return m.group(1)


class _NestingChecker(HTMLParser):
    """Fails on any end tag that does not close the innermost open element."""

    VOID: ClassVar[set[str]] = {"meta", "br", "img", "hr", "link", "input", "col", "wbr", "source"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, str]:
    summary = make_summary()
    tmp = tmp_path_factory.mktemp("report")
    page = _render(tmp, summary)
    return summary, tmp / "report.html", page


def test_page_is_utf8_html_with_json_beside(rendered: tuple[dict[str, Any], Path, str]) -> None:
    _, path, page = rendered
    assert path.is_file()
    assert page.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in page
    assert "\x00" not in page
    assert not re.search("[\x01-\x08\x0b-\x1f\x7f-\x9f]", page)  # no control characters, CSS included
    assert "\ufffd" in page  # the lone surrogate became U+FFFD
    assert '<div class="text">ab</div>' in page  # "a\x00b": the NUL is dropped
    assert path.with_suffix(".json").is_file()


def test_sections_in_order(rendered: tuple[dict[str, Any], Path, str]) -> None:
    page = rendered[2]
    order = ["runs", "notes", "headline", "curves", "delta", "per-problem", "buckets", "problem-table", "rl-only"]
    order += ["base-only", "trajectory", "training", "gate", "rates"]
    positions = [page.index(f'<section id="{sid}">') for sid in order]
    assert positions == sorted(positions)


def test_one_constant_script_allowed_by_hash_and_hostile_text_escaped(
    rendered: tuple[dict[str, Any], Path, str],
) -> None:
    page = rendered[2]
    # the only script is the constant table script; summary text never lands in a script
    assert page.lower().count("<script") == 1
    assert f"<script>{TABLE_SCRIPT}</script>" in page
    digest = base64.b64encode(hashlib.sha256(TABLE_SCRIPT.encode()).digest()).decode()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp and f"script-src 'sha256-{digest}'" in csp.group(1) and "unsafe-inline'; img" in csp.group(1)
    assert "'unsafe-eval'" not in csp.group(1) and "script-src 'unsafe-inline'" not in csp.group(1)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "</table><h1>" not in page
    assert "&lt;/table&gt;&lt;h1&gt;x" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<h1>x" not in page
    assert "count $x$ &lt;b&gt;" in page  # task name escaped in tables
    assert "<b>" not in page


def test_document_structure_survives_hostile_text(rendered: tuple[dict[str, Any], Path, str]) -> None:
    checker = _NestingChecker()
    checker.feed(rendered[2])
    checker.close()
    assert checker.errors == []
    assert checker.stack == []
    assert checker.tags.count("h1") == 1  # only the title; the hostile "<h1>x" is text
    assert checker.tags.count("script") == 1 and "img" not in checker.tags


def test_no_external_resources(rendered: tuple[dict[str, Any], Path, str]) -> None:
    page = rendered[2]
    assert not re.search(r"""\b(src|href)\s*=\s*["']?\s*(https?:|//|data:text/html)""", page, re.I)
    assert "@import" not in page
    assert not re.search(r"url\(\s*['\"]?\s*(https?:|//)", page, re.I)
    assert "<link" not in page.lower()
    # Any remaining URL must be an XML namespace name, which browsers never fetch.
    for m in re.finditer(r"https?://", page):
        before = page[max(0, m.start() - 30) : m.start()]
        assert re.search(r'xmlns(:\w+)?="$', before), page[m.start() - 30 : m.start() + 60]


def test_inline_svg_plots(rendered: tuple[dict[str, Any], Path, str]) -> None:
    page = rendered[2]
    sections = ["curves", "delta", "per-problem", "trajectory", "training"]
    assert page.count("<svg") == len(sections)
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page
    assert "<metadata" not in page
    for sid in sections:
        assert _section(page, sid).count("<svg") == 1, sid
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "inline SVGs must not share ids"
    refs = set(re.findall(r'(?:url\(#|href="#)([^")]+)', page))
    assert refs <= set(ids), f"dangling references: {sorted(refs - set(ids))[:5]}"


def test_json_round_trips(rendered: tuple[dict[str, Any], Path, str]) -> None:
    summary, path, _ = rendered
    data = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert [p["problem_id"] for p in data["problems"]] == [p["problem_id"] for p in summary["problems"]]
    assert data["tasks"].keys() == summary["tasks"].keys()
    examples = {p["example_rl"] for p in data["problems"]} | {p["example_base"] for p in data["problems"]}
    assert MEGA in examples  # the JSON keeps full texts; only the page cuts them
    assert HOSTILE["surrogate"] in examples  # lone surrogate survives as a \udcff escape
    assert data["overall"]["pass_at_k"]["rl"]["64"] == summary["overall"]["pass_at_k"]["rl"]["64"]


def test_long_completion_is_cut(rendered: tuple[dict[str, Any], Path, str]) -> None:
    _, path, page = rendered
    assert path.stat().st_size < 5_000_000
    assert "x" * 2001 not in page
    assert "x" * 2000 in page
    assert f"showing 2,000 of {len(MEGA):,} characters" in page
    assert "tail-marker-q7" not in page  # the tail after the cut is not shown at all


def test_rl_only_and_base_only_rows(rendered: tuple[dict[str, Any], Path, str]) -> None:
    summary, _, page = rendered
    for cls, sid in (("rl_only", "rl-only"), ("base_only", "base-only")):
        ids = [p["problem_id"] for p in summary["problems"] if p["class"] == cls]
        assert ids
        section = _section(page, sid)
        assert section.count("<tr>") == len(ids) + 1  # header + one per problem
        for pid in ids:
            assert f"<code>{pid}</code>" in section
        others = [p["problem_id"] for p in summary["problems"] if p["class"] != cls]
        assert not any(f"<code>{pid}</code>" in section for pid in others)
    headline = _section(page, "headline")
    overall = summary["overall"]["classes"]
    assert f'<td class="num rl-only">{overall["rl_only"]}</td>' in headline
    assert f'<td class="num base-only">{overall["base_only"]}</td>' in headline


def test_headline_numbers(rendered: tuple[dict[str, Any], Path, str]) -> None:
    summary, _, page = rendered
    headline = _section(page, "headline")
    pak = summary["overall"]["pass_at_k"]
    assert f"{100 * pak['base']['1']:.1f}%" in headline
    assert f"{100 * pak['rl']['64']:.1f}%" in headline
    delta = 100 * (pak["rl"]["64"] - pak["base"]["64"])
    assert f"{delta:+.1f} pp" in headline


def test_gate_rates_and_meta(rendered: tuple[dict[str, Any], Path, str]) -> None:
    page = rendered[2]
    gate = _section(page, "gate")
    assert "FAILED" in gate and "&lt;fail&gt;" in gate
    rates = _section(page, "rates")
    assert "5.0%" in rates and "0.1%" in rates
    runs = _section(page, "runs")
    assert "sha256:" + "ab" * 32 in runs and "0123abcd" in runs and "replay" in runs
    assert "&lt;/s&gt;" in runs  # sampling config shown, escaped


def test_nan_and_missing_values(tmp_path: Path) -> None:
    summary = make_summary()
    summary["overall"]["pass_at_k"]["rl"]["64"] = float("nan")
    summary["overall"]["pass_at_k"]["base"]["1"] = None
    summary["tasks"]["arith"]["pass_at_k"]["base"]["2"] = float("inf")
    # A task evaluated with a smaller n: fewer k values, and its own k_max.
    summary["tasks"]["arith"]["pass_at_k"]["rl"] = {"1": 0.5, "2": float("nan"), "4": 0.7}
    summary["tasks"]["arith"]["pass_at_k"]["base"] = {"1": 0.4, "2": 0.5, "4": 0.6}
    page = _render(tmp_path, summary)
    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert data["overall"]["pass_at_k"]["rl"]["64"] is None
    assert data["overall"]["pass_at_k"]["base"]["1"] is None
    assert data["tasks"]["arith"]["pass_at_k"]["rl"]["2"] is None
    assert "NaN" not in (tmp_path / "report.json").read_text(encoding="utf-8")
    headline = _section(page, "headline")
    assert "nan" not in headline.lower()
    arith_row = next(r for r in headline.split("<tr") if ">arith</th>" in r)
    assert '<td class="num">4</td>' in arith_row  # k_max follows the task's own ks
    assert "<svg" in _section(page, "curves")


def test_optional_sections_absent(tmp_path: Path) -> None:
    summary = make_summary()
    summary.update(training=None, training_eval=None, gate=None, notes=[], problems=[], trajectory=None)
    for ts in [summary["overall"], *summary["tasks"].values()]:
        ts["buckets"] = {}
        for key in ("delta", "pass_at_k_ci", "frontier_test"):  # summaries written before these existed
            del ts[key]
    page = _render(tmp_path, summary)
    for sid in ("training", "gate", "buckets", "notes", "delta", "per-problem", "problem-table", "trajectory"):
        assert f'<section id="{sid}">' not in page
    assert page.count("<svg") == 1
    assert "None." in _section(page, "rl-only")
    headline = _section(page, "headline")
    assert 'class="ci"' not in headline and "frontier-evidence" not in headline


def test_rows_capped_with_omitted_line(tmp_path: Path) -> None:
    summary = make_summary(n_problems=1200, seed=1)
    n_rl = sum(p["class"] == "rl_only" for p in summary["problems"])
    assert n_rl > MAX_PROBLEM_ROWS
    page = _render(tmp_path, summary)
    section = _section(page, "rl-only")
    assert section.count("<tr>") == MAX_PROBLEM_ROWS + 1
    assert f"{n_rl - MAX_PROBLEM_ROWS:,} more RL-only problems omitted" in section
    assert (tmp_path / "report.html").stat().st_size < 5_000_000


def test_deterministic_output(tmp_path: Path) -> None:
    summary = make_summary()
    a = write_report(copy.deepcopy(summary), tmp_path / "a" / "r.html").read_bytes()
    b = write_report(copy.deepcopy(summary), tmp_path / "b" / "r.html").read_bytes()
    assert a == b


def test_json_output_path_refused(tmp_path: Path) -> None:
    with pytest.raises(EvalkitError, match=r"\.json"):
        write_report(make_summary(n_problems=10), tmp_path / "summary.json")
    assert not (tmp_path / "summary.json").exists()


def test_clean_text_makes_controls_visible() -> None:
    text, total = clean_text("a\x00b\x1bc\td\r\ne\rf\x7f\x85\udcff\u202eg")
    assert text == "ab\u241bc\td\ne\u240df\u2421<U+0085>\ufffd<U+202E>g"
    assert total == 17
    text.encode("utf-8")  # no surrogates left
    assert esc("\"<&>'") == "&quot;&lt;&amp;&gt;&#x27;"
    assert esc("y" * 10, limit=4).startswith("yyyy<span")
    assert esc(["chat", {"role": "user"}]) == esc('["chat", {"role": "user"}]')


def test_headline_intervals_and_frontier_evidence(rendered: tuple[dict[str, Any], Path, str]) -> None:
    summary, _, page = rendered
    headline = _section(page, "headline")
    ov = summary["overall"]
    lo, hi = ov["pass_at_k_ci"]["rl"]["64"]
    assert f'<span class="ci">[{100 * lo:.1f}, {100 * hi:.1f}]</span>' in headline
    d = ov["delta"]["1"]
    ci = f"[{100 * d['ci'][0]:+.1f}, {100 * d['ci'][1]:+.1f}]"
    assert f'{100 * d["delta"]:+.1f} pp<span class="ci">{ci}</span>' in headline
    evidence = headline[headline.index('id="frontier-evidence"') :]
    assert "1.2</td>" in evidence or "1.3</td>" in evidence  # expected count under the null, 1.25
    assert "&lt;0.0001" not in evidence and "0.00042" in evidence and "0.0009" in evidence
    assert evidence.count('<td class="num sig">') == 2 + 1  # RL-only q per task, overall p (it has no q)
    overall_row = next(r for r in evidence.split("<tr") if ">overall</th>" in r)
    assert overall_row.count("—") == 2  # no BH q-value for the overall row


def test_problem_table_rows_and_controls(rendered: tuple[dict[str, Any], Path, str]) -> None:
    summary, _, page = rendered
    table = _section(page, "problem-table")
    problems = summary["problems"]
    assert table.count("<tr data-class=") == len(problems)
    for cls in ("both", "rl_only", "base_only", "neither"):
        n_cls = sum(p["class"] == cls for p in problems)
        assert table.count(f'<tr data-class="{cls}">') == n_cls
        assert f'value="{cls}" checked>' in table
    assert '<input type="search" id="pt-q"' in table
    assert table.count('<th data-type="num"') == 3 and table.count('<th data-type="text"') == 4
    p = problems[1]
    assert f'data-v="{p["c_rl"] / p["n"]:.6g}">{p["c_rl"]}/{p["n"]}</td>' in table
    assert "count $x$ &lt;b&gt;" in table and "<b>" not in table


def test_problem_table_is_capped_keeping_frontier_rows(tmp_path: Path) -> None:
    summary = make_summary(n_problems=MAX_TABLE_ROWS + 1500, seed=2)
    problems = summary["problems"]
    page = _render(tmp_path, summary)
    table = _section(page, "problem-table")
    assert table.count("<tr data-class=") == MAX_TABLE_ROWS
    assert f"Showing {MAX_TABLE_ROWS:,} of {len(problems):,} problems" in table
    for cls in ("rl_only", "base_only"):
        assert table.count(f'<tr data-class="{cls}">') == sum(p["class"] == cls for p in problems)
    assert (tmp_path / "report.html").stat().st_size < 5_000_000


def test_trajectory_section(rendered: tuple[dict[str, Any], Path, str]) -> None:
    page = rendered[2]
    traj = _section(page, "trajectory")
    assert "plateau: pass@k rose, then flat" in traj and "diminish: pass@1 up" in traj
    assert '<td class="regime plateau">' in traj
    assert "20.0% → 30.0% → 40.0%" in traj  # pass@1 per checkpoint
    assert "needs at least three tasks" in traj
    assert "runs/mid &lt;script&gt;x&lt;/script&gt;" in traj
    assert "checkpoint 1: <code>" in traj and "final: <code>runs/rl</code>" in traj


def test_training_eval_table_and_plot(rendered: tuple[dict[str, Any], Path, str]) -> None:
    page = rendered[2]
    training = _section(page, "training")
    assert "moving average" in training and "Held-out validation" in training
    assert "<th>pass@1</th><th>pass@64</th>" in training
    assert training.count("<svg") == 1


def test_training_eval_without_train_log(tmp_path: Path) -> None:
    summary = make_summary(n_problems=14)
    summary["training"] = None
    page = _render(tmp_path, summary)
    training = _section(page, "training")
    assert "No GRPO log" in training and "<svg" in training and "<th>pass@64</th>" in training


def test_moving_average_is_trailing() -> None:
    assert moving_average([1.0, 2.0, 3.0, 4.0, 5.0], 2) == [1.0, 1.5, 2.5, 3.5, 4.5]
    assert moving_average([4.0, 0.0], 1) == [4.0, 0.0]
    assert moving_average([], 3) == []


def test_missing_intervals_render_as_plain_values(tmp_path: Path) -> None:
    summary = make_summary(n_problems=14)
    ov = summary["overall"]
    ov["pass_at_k_ci"]["base"]["1"] = None  # fewer than two problems: no interval
    ov["pass_at_k_ci"]["rl"]["1"] = [float("nan"), 0.5]
    ov["delta"]["1"]["ci"] = None
    ov["frontier_test"]["p_rl_only_exact"] = float("nan")
    page = _render(tmp_path, summary)
    row = next(r for r in _section(page, "headline").split("<tr") if ">overall</th>" in r)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    assert 'class="ci"' not in cells[2] and 'class="ci"' not in cells[3] and 'class="ci"' not in cells[4]
    assert not re.search(r">[^<]*\bnan\b", headline := _section(page, "headline"), re.I)
    assert "frontier-evidence" in headline


def _rows_of(section: str) -> dict[str, str]:
    """{row label: the row's HTML} of a table whose rows start with a <th> label."""
    return {m.group(1): m.group(2) for m in re.finditer(r"<tr><th>([^<]*)</th>(.*?)</tr>", section, re.S)}


def test_runs_table_names_the_checkpoint_and_the_run_directory_apart(tmp_path: Path) -> None:
    summary = make_summary(n_problems=14)
    summary["runs"]["base"].update(model="/ckpt/base-model", model_hash="sha256:feed", dir="/runs/base-run")
    page = _render(tmp_path, summary)
    rows = _rows_of(_section(page, "runs"))
    checkpoint = [label for label in rows if "checkpoint" in label]
    assert checkpoint and all("/ckpt/base-model" in rows[label] for label in checkpoint)
    assert not any("/runs/base-run" in rows[label] for label in checkpoint)
    assert "/runs/base-run" in rows["run directory"] and "sha256:feed" in rows["model hash"]


def _lims(ax: Any) -> tuple[tuple[float, float], tuple[float, float]]:
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    return (float(x0), float(x1)), (float(y0), float(y1))


def _visible_markers(ax: Any) -> list[float]:
    return [line.get_markersize() for line in ax.get_lines() if line.get_marker() not in (None, "None", "", " ")]


def test_single_point_plots_have_readable_axes() -> None:
    """One held-out evaluation, one training step, one k, one checkpoint: no ±0.04 axes, a visible point."""
    from evalkit import report

    # held-out eval with one row: a step axis around the step, pass rates on [0, 1]
    fig = report._training_figure([], [{"step": 0, "pass@1": 0.41, "pass@64": 0.92}])
    (ax,) = fig.axes
    (x0, x1), (y0, y1) = _lims(ax)
    assert x0 < 0 < x1 and x1 - x0 >= 1, (x0, x1)
    assert -0.05 <= y0 <= 0 and 1 <= y1 <= 1.05
    assert list(ax.get_xticks()) == [0]
    assert len(_visible_markers(ax)) == 2 and min(_visible_markers(ax)) >= 5

    # a training log of one step: reward and KL panels with a marker and a padded, non-negative KL axis
    fig = report._training_figure([{"step": 7, "reward_mean": 0.5, "kl": 0.0}], [])
    reward, kl = fig.axes
    for ax in (reward, kl):
        (x0, x1), (y0, y1) = _lims(ax)
        assert x0 < 7 < x1 and x1 - x0 >= 1 and list(ax.get_xticks()) == [7]
        assert _visible_markers(ax), "a single point needs a marker"
    assert _lims(reward)[1][0] < 0.5 < _lims(reward)[1][1] and _lims(reward)[1][1] - _lims(reward)[1][0] >= 0.1
    (y0, y1) = _lims(kl)[1]
    assert -0.1 * y1 < y0 < 0 < y1  # KL is never negative: the axis stops just below 0

    # pass@k and Δ pass@k at a single k (n = 1), Δ exactly 0 without an interval
    ts = {"pass_at_k": {"base": {"1": 0.3}, "rl": {"1": 0.3}}, "delta": {"1": {"delta": 0.0, "ci": None}}}
    (ax,) = report._passk_figure([("t", ts)]).axes
    (x0, x1), (y0, y1) = _lims(ax)
    assert 0 < x0 < 1 < x1 and -0.05 <= y0 <= 0 and 1 <= y1 <= 1.05
    assert min(_visible_markers(ax)) >= 5
    (ax,) = report._delta_figure([("t", ts)]).axes
    (_, _), (y0, y1) = _lims(ax)
    assert y0 <= -1 and y1 >= 1, (y0, y1)  # ±1 pp, not ±0.055 pp

    # a trajectory row with a single checkpoint (malformed, but drawn)
    row = {"n": 4, "checkpoints": [{"run": "r", "pass@1": 0.2, "pass@4": 0.5}]}
    (ax,) = report._trajectory_figure([("t", row)]).axes
    assert _lims(ax)[0] == (-0.5, 0.5) and -0.05 <= _lims(ax)[1][0] <= 0 and _lims(ax)[1][1] >= 1


def test_spread_data_keeps_its_axes() -> None:
    from evalkit import report

    fig = report._training_figure(make_summary(n_problems=7)["training"], [])
    reward = fig.axes[0]
    (x0, x1), _ = _lims(reward)
    assert x0 <= 0 and x1 >= 199  # matplotlib's own limits around steps 0..199


def test_one_task_draws_one_set_of_panels(tmp_path: Path) -> None:
    summary = make_summary(n_problems=21)
    only = "arith"
    summary["tasks"] = {only: summary["tasks"][only]}
    page = _render(tmp_path, summary)
    for prefix in ("passk", "delta"):
        assert page.count(f'id="{prefix}-axes_') == 1, prefix
    # two tasks: overall plus one panel each
    page = _render(tmp_path, make_summary(n_problems=21), "two.html")
    for prefix in ("passk", "delta"):
        assert page.count(f'id="{prefix}-axes_') == 3, prefix


def test_timings_table(tmp_path: Path) -> None:
    summary = make_summary(n_problems=14)
    summary["timings"] = {"sft": 74.1, "grpo": 240.3, "sample_and_verify": 30.2, "compare": 2.0, "total": 347.0,
                          "<b>odd</b>": float("nan")}  # fmt: skip
    page = _render(tmp_path, summary)
    timings = _section(page, "timings")
    rows = _rows_of(timings)
    assert rows["sample and verify"] == '<td class="num">30.2</td>'
    assert rows["&lt;b&gt;odd&lt;/b&gt;"] == '<td class="num">—</td>'
    assert '<tr class="total"><th>total</th><td class="num">347.0</td></tr>' in timings
    assert '<a href="#timings">Timings</a>' in page
    assert page.index('<section id="rates">') < page.index('<section id="timings">')
    summary.pop("timings")
    assert '<section id="timings">' not in _render(tmp_path, summary, "none.html")


INJECT = "{{ 7*7 }} {% raw %}{{ config }}{% endraw %} {# c #} {%- if true %}x{% endif %} ${7*7}"


def _evidence(task: str) -> dict[str, Any]:
    """An ``evidence`` key as :func:`evalkit.compare.evidence.evidence_summary` writes it, without likelihood."""
    rng = random.Random(3)
    cb = [rng.choice([0, 1, 5, N]) for _ in range(30)]
    cr = [min(N, c + rng.choice([0, 0, 2])) for c in cb]
    n, b, r = np.full(30, N), np.array(cb), np.array(cr)
    scope = {"pass_at_k_auc": auc_comparison(n, b, r, N), "cover_at_tau": cover_comparison(n, b, r, N)}
    return {"overall": scope, "tasks": {task: scope}}


def test_template_syntax_in_summary_strings_is_shown_literally(tmp_path: Path) -> None:
    """Jinja2 syntax in summary strings is data: shown as written, never evaluated (no template injection)."""
    summary = make_summary(n_problems=14)
    summary["title"] = f"t {INJECT}"
    summary["notes"] = [INJECT]
    summary["gate"]["lines"] = [INJECT]
    summary["runs"]["base"]["model"] = INJECT
    summary["runs"]["base"]["sampling"]["stop"] = INJECT
    summary["timings"] = {INJECT: 1.0}
    summary["tasks"][INJECT] = summary["tasks"].pop("arith")
    summary["evidence"] = _evidence(INJECT)
    p = next(p for p in summary["problems"] if p["class"] == "rl_only")
    p.update(problem_id=f"id {INJECT}", prompt=INJECT, example_rl=INJECT)
    page = _render(tmp_path, summary)
    assert f"<title>t {INJECT}</title>" in page and f"<h1>t {INJECT}</h1>" in page
    assert f"<li>{INJECT}</li>" in _section(page, "notes") and f"<li>{INJECT}</li>" in _section(page, "gate")
    assert f"<code>{INJECT}</code>" in _section(page, "runs")
    assert f"<td>stop</td><td>{INJECT}</td>" in _section(page, "runs")
    assert f"<th>{INJECT}</th>" in _section(page, "headline") and f"<th>{INJECT}</th>" in _section(page, "timings")
    assert f"<td>{INJECT}</td>" in _section(page, "evidence")
    rl_only = _section(page, "rl-only")
    assert f"<code>id {INJECT}</code>" in rl_only and rl_only.count(f'<div class="text">{INJECT}</div>') == 2
    assert f"<code>id {INJECT}</code>" in _section(page, "problem-table")
    assert "49" not in re.sub(r"<svg.*?</svg>", "", _section(page, "notes"), flags=re.S)
    # the same summary, rendered again: the same bytes (the evidence section with its Cover@tau figure too)
    assert write_report(copy.deepcopy(summary), tmp_path / "again.html").read_text(encoding="utf-8") == page


def test_templates_and_static_files_ship_in_the_wheel() -> None:
    """Every template and static file of the report matches the package-data patterns in pyproject.toml."""
    import fnmatch
    import tomllib

    root = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    report_dir = root / "evalkit" / "report"
    files = [p.relative_to(report_dir).as_posix() for p in report_dir.glob("*/*") if p.parent.name != "__pycache__"]
    assert any(f.endswith(".html.j2") for f in files) and "static/table.js" in files and "static/report.css" in files
    for f in files:
        assert any(fnmatch.fnmatch(f, pat) for pat in patterns["evalkit.report"]), f


def test_evidence_cover_at_tau_figure_and_table(tmp_path: Path) -> None:
    summary = make_summary(n_problems=14)
    summary["evidence"] = _evidence("arith")
    page = _render(tmp_path, summary)
    ev = _section(page, "evidence")
    assert ev.count("<svg") == 1 and ev.count('id="cover-axes_') == 1  # one task: its panel only
    cover = summary["evidence"]["overall"]["cover_at_tau"]
    for j in (0, cover["tau"].index(0.5), len(cover["tau"]) - 1):  # 1/m, 0.5 and 1 are columns of the table
        lo, hi = cover["delta_ci"][j]
        cell = (
            f'<td class="num">{100 * cover["base"][j]:.1f}% → {100 * cover["rl"][j]:.1f}%<span class="ci">'
            f"Δ {100 * cover['delta'][j]:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]</span></td>"
        )
        assert cell in ev, cell
    assert "tau = 1/m (solved at all)" in ev and "95% interval" in ev
    # an evidence key written before Cover@tau existed: no such subsection, the rest as before
    for scope in [summary["evidence"]["overall"], *summary["evidence"]["tasks"].values()]:
        scope.pop("cover_at_tau", None)
    ev = _section(_render(tmp_path, summary, "old.html"), "evidence")
    assert "cover-at-tau" not in ev and "<svg" not in ev and "area base" in ev
