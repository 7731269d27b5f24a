"""Tests for evalkit.report: one self-contained, escaped, valid-UTF-8 HTML page plus its JSON summary."""

from __future__ import annotations

import copy
import json
import math
import random
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import pytest

from evalkit.errors import EvalkitError
from evalkit.report import MAX_PROBLEM_ROWS, clean_text, esc, write_report

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


def _task_summary(problems: list[dict[str, Any]]) -> dict[str, Any]:
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
    return {
        "n_problems": len(problems),
        "n": N,
        "pass_at_k": {
            "base": _mean_curve([p["c_base"] for p in problems], N),
            "rl": _mean_curve([p["c_rl"] for p in problems], N),
        },
        "classes": classes,
        "buckets": buckets,
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
        "overall": _task_summary(problems),
        "tasks": {t: _task_summary([p for p in problems if p["task"] == t]) for t in tasks},
        "problems": problems,
        "rates": {
            "base": {"truncated": 0.05, "empty": 0.01, "timeout": 0.0, "error": 0.002},
            "rl": {"truncated": 0.02, "empty": 0.0, "timeout": 0.001, "error": 0.0},
        },
        "training": [{"step": s, "reward_mean": 0.1 + 0.01 * s, "kl": 0.001 * s} for s in range(0, 200, 10)],
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
    assert "\ufffd" in page  # the lone surrogate became U+FFFD
    assert '<div class="text">ab</div>' in page  # "a\x00b": the NUL is dropped
    assert path.with_suffix(".json").is_file()


def test_sections_in_order(rendered: tuple[dict[str, Any], Path, str]) -> None:
    page = rendered[2]
    order = ["runs", "notes", "headline", "curves", "buckets", "rl-only", "base-only", "training", "gate"]
    order.append("rates")
    positions = [page.index(f'<section id="{sid}">') for sid in order]
    assert positions == sorted(positions)


def test_no_script_and_hostile_text_escaped(rendered: tuple[dict[str, Any], Path, str]) -> None:
    page = rendered[2]
    assert "<script" not in page.lower()
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
    assert "script" not in checker.tags and "img" not in checker.tags


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
    assert page.count("<svg") == 2  # pass@k grid + training
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page
    assert "<metadata" not in page
    assert "<svg" in _section(page, "curves") and "<svg" in _section(page, "training")
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
    summary.update(training=None, gate=None, notes=[], problems=[])
    for ts in [summary["overall"], *summary["tasks"].values()]:
        ts["buckets"] = {}
    page = _render(tmp_path, summary)
    for sid in ("training", "gate", "buckets", "notes"):
        assert f'<section id="{sid}">' not in page
    assert page.count("<svg") == 1
    assert "None." in _section(page, "rl-only")


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
