"""The report in a real browser: ``evalkit report`` on three runs, opened from file:// in headless Chromium.

The runs are written straight into run stores (exact texts and verdicts, no model, no verifier) so that
hostile completions can be "correct" and land in the report. Chromium is driven only through its command
line (``--dump-dom`` and ``--screenshot``): the table script marks the table ``data-ready`` when it has run
and writes how many rows it shows, so the dumped DOM proves that the script ran without an error, and the
console log on stderr is searched for uncaught errors and refused (CSP-blocked) scripts.

The browser tests skip when no Chromium is installed (``.ci/run`` installs it); the CLI test always runs.
"""

from __future__ import annotations

import html
import json
import math
import random
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from evalkit.likelihood import results_path
from evalkit.stats.diversity import answer_diversity
from evalkit.store import RunStore
from evalkit.types import Completion, Problem, Verdict

N = 64
TASKS = ("arith", "words <i>&amp;</i>")
HUGE = "y" * 300_000 + "<b>huge-tail-marker</b>"
HOSTILE = [
    "<script>alert(1)</script>",
    "</table></td></tr><h1>table-break</h1>",
    "</script><script>document.title='pwned'</script>",
    "line\u2028separator\u2029paragraph",
    "<img src=x onerror=alert(1)>",
    HUGE,
]
# Per-sample success rates of (base, mid, final) for each problem kind, cycled over the problems.
KINDS = [
    ("both", (0.5, 0.6, 0.7)),
    ("rl_only", (0.0, 0.05, 0.1)),
    ("both", (0.1, 0.3, 0.5)),
    ("base_only", (0.08, 0.02, 0.0)),
    ("neither", (0.0, 0.0, 0.0)),
    ("both", (0.9, 0.95, 1.0)),
    ("rl_only", (0.0, 0.2, 0.4)),
]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


CHROMIUM = _chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium; .ci/run installs it)"
)


def _write_run(root: Path, model: str, problems: list[Problem], rates: list[float], seed: int) -> Path:
    """A verified run: sample j of problem i is correct with probability rates[i] (exactly, for 0 and 1)."""
    rng = random.Random(seed)
    identity = {"model": model, "model_hash": f"sha256:{model}", "tasks": list(TASKS), "backend": "replay",
                "seed": seed, "sampling": {"temperature": 1.0, "max_tokens": 16, "stop": ["</s>"]}}  # fmt: skip
    store, _ = RunStore.create_or_resume(root, identity, {"n": N}, problems)
    completions: list[Completion] = []
    verdicts: list[tuple[str, int, Verdict]] = []
    for i, (p, rate) in enumerate(zip(problems, rates, strict=True)):
        hostile = HOSTILE[i % len(HOSTILE)] if i % 7 in (1, 3, 6) else None
        solved = False
        for j in range(N):
            ok = rng.random() < rate
            if rate > 0 and j == N - 1 and not solved:
                ok = True  # a non-zero rate solves the problem at least once: the class is as designed
            solved = solved or ok
            text, detail = _sample_text(i, j, p, ok, hostile)
            status = "ok" if ok or j % 17 else ("timeout" if j % 2 else "error")
            completions.append(Completion(p.id, j, text, 3, "length" if j % 13 == 0 else "stop", seed * 10_000 + j))
            verdicts.append((p.id, j, Verdict(ok, float(ok), status, detail)))
    store.append_completions(completions)
    store.append_verdicts(verdicts)
    store.unlock()
    return root


# A wrong completion with Jinja2 syntax and HTML in it: the answers view must show it as written.
TEMPLATED = "<think>{{ 7*7 }} {% raw %} <b>bold?</b></think>The answer is "


def _sample_text(i: int, j: int, p: Problem, ok: bool, hostile: str | None) -> tuple[str, str]:
    """(completion text, verdict detail) as the final-answer verifier would record them; a hostile correct
    text keeps an empty detail (a detail of another form, shown as recorded)."""
    if ok:
        if hostile:
            return hostile, ""
        return f"Twice {i} is {p.reference}, so the answer is \\boxed{{{p.reference}}}.", f"boxed[last]: {p.reference}"
    wrong = str(2 * i + 1 + j % 3)
    if j % 4 == 0:
        return f"{TEMPLATED}{wrong}.", f"answer is after </think>: {wrong}"
    if j % 4 == 1:
        return "wrong", "no answer: no \\boxed{}, no answer phrase and no number"
    return f"I count {wrong} of them", f"last number: {wrong}"


def make_runs(root: Path, n_problems: int = 42) -> list[Path]:
    """Base, one intermediate checkpoint and the final RL checkpoint's runs, with a GRPO log beside the last."""
    problems = []
    for i in range(n_problems):
        task = TASKS[i % 2]
        pid = f"{task.split()[0]}-{i:03d}" if i != 8 else "arith-<b>008</b>"  # a hostile id too
        prompt = f"What is {i} + {i}?" if i % 9 else HOSTILE[(i // 9) % len(HOSTILE)]
        problems.append(Problem(pid, task, prompt, str(2 * i), {"bucket": "easy" if i < n_problems // 2 else "hard"}))
    ckpt = root / "checkpoints" / "rl"
    ckpt.mkdir(parents=True)
    rng = random.Random(0)
    (ckpt / "train_log.jsonl").write_text(
        "".join(
            json.dumps({"step": s, "reward_mean": 0.3 + 0.001 * s + 0.15 * rng.random(), "kl": 0.0001 * s}) + "\n"
            for s in range(300)
        )
    )
    (ckpt / "eval_log.jsonl").write_text(
        "".join(
            json.dumps({"step": s, "eval_problems": 24, "eval_n": N, "pass@1": 0.3 + s / 1500, f"pass@{N}": 0.7}) + "\n"
            for s in range(0, 300, 50)
        )
    )
    runs = []
    for stage, (name, model) in enumerate((("base", "ckpt/base"), ("mid", "ckpt/mid"), ("final", str(ckpt)))):
        rates = [KINDS[i % len(KINDS)][1][stage] for i in range(n_problems)]
        runs.append(_write_run(root / "runs" / name, model, problems, rates, seed=stage))
    _write_likelihood(runs[2], "sha256:ckpt/base", problems, "rl_only")  # RL's solutions under the base
    _write_likelihood(runs[0], f"sha256:{ckpt}", problems, "base_only")  # the base's under RL
    return runs


def _write_likelihood(run: Path, under_hash: str, problems: list[Problem], kind: str) -> None:
    """A likelihood file (as ``evalkit likelihood`` writes it) for the problems designed as ``kind`` and the
    ones both solve: every other scored text out of reach (log-prob -20 ln 10, or unreachable), and 1 to 3
    distinct correct answers."""
    fingerprint = json.loads((run / "manifest.json").read_text())["fingerprint"]
    header = {"kind": "header", "model_hash": under_hash, "sampling": {"temperature": 1.0}}
    lines = [json.dumps({**header, "run_fingerprint": fingerprint})]
    for i, p in enumerate(problems):
        if KINDS[i % len(KINDS)][0] not in (kind, "both"):
            continue
        distinct = 1 + i % 3
        best = (
            {"logprob": None, "unreachable": True} if i % 2 else {"logprob": -20 * math.log(10), "unreachable": False}
        )
        diversity = answer_diversity({f"k:{j}": 2 for j in range(distinct + 1)}, {f"k:{j}": 2 for j in range(distinct)})
        lines.append(json.dumps({"problem_id": p.id, "best": best, "diversity": diversity}))
    path = results_path(run, under_hash)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="ascii")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_runs(tmp_path_factory.mktemp("browser"))


@pytest.fixture(scope="module")
def report(runs: list[Path]) -> Path:
    """``evalkit report base mid final --out DIR`` through the real command line; returns report.html."""
    out = runs[0].parent.parent / "out"
    result = subprocess.run(
        [sys.executable, "-m", "evalkit", "report", *map(str, runs), "--out", str(out), "--title", "demo <b>x</b>"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "report:" in result.stderr and "pass@1" in result.stdout
    return out / "report.html"


def test_report_command_writes_trajectory(report: Path) -> None:
    data = json.loads(report.with_suffix(".json").read_text(encoding="utf-8"))
    assert data["runs"]["base"]["dir"].endswith("base") and data["runs"]["rl"]["dir"].endswith("final")
    traj = data["trajectory"]["tasks"]
    assert set(traj) == set(TASKS)
    for row in traj.values():
        assert [c["run"].rsplit("/", 1)[-1] for c in row["checkpoints"]] == ["base", "mid", "final"]
        assert row["regime"] in ("diminish", "plateau", "sustained", "inconclusive")
    assert data["training"] and data["training_eval"]
    classes = {p["problem_id"]: p["class"] for p in data["problems"]}
    assert classes["arith-000"] == "both" and classes["words-001"] == "rl_only"
    assert classes["words-003"] == "base_only" and classes["arith-004"] == "neither"
    page = report.read_text(encoding="utf-8")
    for sid in ("headline", "curves", "delta", "per-problem", "problem-table", "trajectory", "training", "rates"):
        assert f'<section id="{sid}">' in page


def test_compare_with_mid_matches_report(runs: list[Path], report: Path, tmp_path: Path) -> None:
    base, mid, final = map(str, runs)
    out = tmp_path / "cmp"
    result = subprocess.run(
        [sys.executable, "-m", "evalkit", "compare", base, final, "--mid", mid, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    got = json.loads((out / "report.json").read_text(encoding="utf-8"))
    want = json.loads(report.with_suffix(".json").read_text(encoding="utf-8"))
    assert got["trajectory"] == want["trajectory"]
    assert got["overall"]["classes"] == want["overall"]["classes"]
    assert [n for n in got["notes"] if n.startswith("Trajectory")] == [
        n for n in want["notes"] if n.startswith("Trajectory")
    ]


def test_report_command_needs_two_runs(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "evalkit", "report", str(tmp_path), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "at least two run directories" in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "evalkit", "report", str(tmp_path), str(tmp_path), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "no manifest.json" in result.stderr


# --------------------------------------------------------------------------------------------- browser


@dataclass
class Browsed:
    dom: str
    console: list[str]


def _chromium_args(profile: str) -> list[str]:
    assert CHROMIUM is not None
    return [
        CHROMIUM,
        "--headless",
        "--no-sandbox",  # CI runs as root, where Chromium refuses to start with its sandbox
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=1",
    ]


# Chromium logs every console message of the page as `...:INFO:CONSOLE:1] "message", source: file:///...`, without
# its level: the report's script logs nothing, so any console line from the page is an error (an uncaught
# exception, a CSP-blocked script "violates the following Content Security Policy directive", a failed load).
_BAD_CONSOLE = re.compile(r"Uncaught|Content Security Policy|Refused to|Failed to load", re.I)


def _console_errors(stderr: str) -> list[str]:
    lines = stderr.splitlines()
    return [line for line in lines if ":CONSOLE" in line or ("console" in line.lower() and _BAD_CONSOLE.search(line))]


def _run_chromium(extra: list[str], url: str) -> tuple[str, str]:
    with tempfile.TemporaryDirectory(prefix="evalkit-chromium-") as profile:
        args = [*_chromium_args(profile), *extra, url]
        result = subprocess.run(args, capture_output=True, timeout=180, encoding="utf-8", errors="replace")
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout, result.stderr


def browse(page: Path, fragment: str = "") -> Browsed:
    dom, stderr = _run_chromium(["--dump-dom", "--virtual-time-budget=5000"], page.as_uri() + fragment)
    assert "<html" in dom, stderr[-3000:]
    return Browsed(dom, _console_errors(stderr))


class _Elements(HTMLParser):
    """Counts elements and collects the problem table's rows (cells' text, data-v, hidden) in DOM order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.rows: list[dict[str, Any]] = []
        self.attrs: dict[str, dict[str, str | None]] = {}
        self._in_table = False
        self._row: dict[str, Any] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        a = dict(attrs)
        if a.get("id"):
            self.attrs[str(a["id"])] = a
        if tag == "table" and a.get("id") == "pt":
            self._in_table = True
        elif self._in_table and tag == "tr" and "data-class" in a:
            self._row = {"class": a["data-class"], "hidden": "hidden" in a, "cells": [], "v": []}
        elif self._row is not None and tag == "td":
            self._cell = []
            self._row["v"].append(a.get("data-v"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row["cells"].append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None
        elif tag == "table" and self._in_table:
            self._in_table = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _parse(dom: str) -> _Elements:
    parser = _Elements()
    parser.feed(dom)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def browsed(report: Path) -> Browsed:
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (apt-get install chromium; .ci/run installs it)")
    return browse(report)


@needs_chromium
def test_script_runs_without_console_errors(browsed: Browsed, report: Path) -> None:
    assert browsed.console == []
    parsed = _parse(browsed.dom)
    html_tag = re.search(r"<html[^>]*>", browsed.dom)
    assert html_tag and "data-script-error" not in html_tag.group(), html_tag
    table = parsed.attrs["pt"]
    assert table.get("data-ready") == "1", "the table script did not finish (blocked by CSP or threw)"
    n = len(json.loads(report.with_suffix(".json").read_text(encoding="utf-8"))["problems"])
    assert table.get("data-shown") == str(n)
    assert f"showing {n} of {n}" in browsed.dom
    assert len(parsed.rows) == n and not any(r["hidden"] for r in parsed.rows)


@needs_chromium
def test_key_elements_present(browsed: Browsed) -> None:
    parsed = _parse(browsed.dom)
    for sid in ("runs", "headline", "curves", "delta", "per-problem", "problem-table", "rl-only", "base-only"):
        assert sid in parsed.attrs, sid
    for sid in ("trajectory", "training", "rates", "frontier-evidence"):
        assert sid in parsed.attrs, sid
    # pass@k, delta, per-problem, Cover@tau, trajectory, turnover, training: seven inline SVG plots
    assert parsed.tags.count("svg") == 7
    assert parsed.tags.count("h1") == 1


@needs_chromium
def test_hostile_text_stays_text(browsed: Browsed) -> None:
    dom = browsed.dom
    parsed = _parse(dom)
    assert parsed.tags.count("script") == 1  # only the table script; none injected
    assert "img" not in parsed.tags and parsed.tags.count("h1") == 1
    assert "<title>demo &lt;b&gt;x&lt;/b&gt;</title>" in dom  # document.title was not changed to "pwned"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert "&lt;/table&gt;&lt;/td&gt;&lt;/tr&gt;&lt;h1&gt;table-break&lt;/h1&gt;" in dom
    assert "&lt;/script&gt;&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom
    assert "&lt;img src=x onerror=alert(1)&gt;" in dom
    assert "line\u2028separator\u2029paragraph" in dom
    assert "arith-&lt;b&gt;008&lt;/b&gt;" in dom and "words &lt;i&gt;&amp;amp;&lt;/i&gt;" in dom
    assert "y" * 2000 in dom and "y" * 2001 not in dom and "<b>huge-tail-marker" not in dom
    assert "&lt;b&gt;huge-tail-marker&lt;/b&gt;" in dom  # the answers view shows the end of the text, as text
    ids = [r["cells"][0] for r in parsed.rows]
    assert "arith-<b>008</b>" in ids  # the hostile id reached the table as text


@needs_chromium
def test_sort_and_filter_from_fragment(report: Path) -> None:
    data = json.loads(report.with_suffix(".json").read_text(encoding="utf-8"))
    # RL c/n (column 5) largest first, rl_only and both only, id or task containing "words"
    got = browse(report, "#problem-table?q=words&cls=rl_only,both&sort=5&dir=desc")
    assert got.console == []
    parsed = _parse(got.dom)
    want = [
        p
        for p in data["problems"]
        if p["class"] in ("rl_only", "both") and "words" in (p["problem_id"] + p["task"]).lower()
    ]
    visible = [r for r in parsed.rows if not r["hidden"]]
    assert len(visible) == len(want) > 0
    assert parsed.attrs["pt"].get("data-shown") == str(len(want))
    assert {r["class"] for r in visible} == {"rl_only", "both"}
    rl_rates = [float(r["v"][5]) for r in visible]
    assert rl_rates == sorted(rl_rates, reverse=True)
    assert all(r["hidden"] for r in parsed.rows if r["class"] in ("base_only", "neither"))
    # text sort, ascending: ids A to Z (hidden rows are sorted too, so check all rows)
    got = browse(report, "#problem-table?sort=0&dir=asc")
    ids = [r["cells"][0].lower() for r in _parse(got.dom).rows]
    assert ids == sorted(ids) and len(ids) == len(data["problems"])


@needs_chromium
def test_screenshot_is_not_blank(report: Path, tmp_path: Path) -> None:
    import matplotlib.image as mpimg
    import numpy as np

    shot = tmp_path / "report.png"
    _stdout, stderr = _run_chromium([f"--screenshot={shot}", "--window-size=1400,2400", "--hide-scrollbars"],
                                    report.as_uri())  # fmt: skip
    assert shot.is_file(), stderr[-3000:]
    assert shot.stat().st_size > 20_000
    pixels = mpimg.imread(str(shot))
    assert pixels.shape[0] >= 2000 and pixels.shape[1] >= 1300
    rgb = (pixels[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    colours = np.unique(rgb[:: max(1, len(rgb) // 200_000)], axis=0)
    assert len(colours) > 50, "the page looks blank"
    assert float(rgb.std()) > 10
    assert _console_errors(stderr) == []


def test_report_command_writes_evidence(report: Path) -> None:
    data = json.loads(report.with_suffix(".json").read_text(encoding="utf-8"))
    ev = data["evidence"]
    assert set(ev["tasks"]) == set(TASKS)
    for scope in [ev["overall"], *ev["tasks"].values()]:
        cover = scope["cover_at_tau"]
        assert cover["tau"][0] == 1 / N and cover["tau"][-1] == 1.0
        assert len(cover["base"]) == len(cover["rl"]) == len(cover["delta_ci"]) == len(cover["tau"])
        assert cover["rl"] == sorted(cover["rl"], reverse=True)  # fewer problems clear a higher bar
    classes = data["overall"]["classes"]
    # at tau = 1/n Cover@tau is the share solved at all
    assert ev["overall"]["cover_at_tau"]["rl"][0] == pytest.approx((classes["both"] + classes["rl_only"]) / 42)
    cats = ev["overall"]["categories"]
    assert cats["out_of_support"]["count"] == classes["rl_only"]  # every scored RL-only text is out of reach
    assert ev["overall"]["diversity"]["rl"]["mean_distinct_correct"] is not None


# Reads the laid-out evidence section: for each element, whether it takes up room on the page and is shown.
_VISIBLE_PROBE = """<script>
window.addEventListener("load", function () {
  function seen(el) {
    if (!el) { return null; }
    var box = el.getBoundingClientRect(), style = window.getComputedStyle(el);
    return {w: box.width, h: box.height, shown: style.display !== "none" && style.visibility === "visible"
            && style.opacity !== "0", text: el.textContent.trim().slice(0, 80)};
  }
  var out = {section: seen(document.getElementById("evidence")),
             cover: seen(document.querySelector("#evidence .plot svg")),
             coverTitle: seen(document.getElementById("cover-at-tau")),
             coverTable: seen(document.getElementById("evidence-cover")),
             categories: seen(document.getElementById("evidence-categories")),
             diversity: Array.prototype.map.call(document.querySelectorAll("#evidence-categories td.diversity"), seen)};
  document.documentElement.setAttribute("data-probe", JSON.stringify(out));
});
</script>"""


@needs_chromium
def test_evidence_section_is_visible(report: Path, tmp_path: Path) -> None:
    """The evidence section shows the Cover@tau figure, the categories table and the diversity numbers."""
    got = _probe(report, _VISIBLE_PROBE, 1280, tmp_path)
    for key in ("section", "cover", "coverTitle", "coverTable", "categories"):
        box = got[key]
        assert box is not None, key
        assert box["shown"] and box["w"] > 50 and box["h"] > 10, (key, box)
    assert got["cover"]["h"] > 100  # a drawn figure, not an empty box
    assert "Cover@tau" in got["coverTitle"]["text"]
    assert "out of support" in got["categories"]["text"]
    div = got["diversity"]
    assert len(div) == 1 + len(TASKS)  # overall and each task
    for cell in div:
        assert cell["shown"] and cell["w"] > 0 and cell["h"] > 0, cell
        assert re.fullmatch(r"\d+\.\d\d / \d+\.\d\d", cell["text"]), cell["text"]


# Measures the laid-out page: the document's width against the window's, and every container that scrolls
# sideways. It runs in a copy of the page without its Content-Security-Policy, which would (rightly) refuse it.
_WIDTH_PROBE = """<script>
window.addEventListener("load", function () {
  var doc = document.documentElement, over = [];
  document.querySelectorAll("section, .wide, .scroll").forEach(function (el) {
    if (el.scrollWidth > el.clientWidth + 1) {
      var sec = el.closest("section");
      over.push({section: sec ? sec.id : "", box: el.className || el.tagName.toLowerCase(),
                 content: el.scrollWidth, width: el.clientWidth});
    }
  });
  doc.setAttribute("data-probe", JSON.stringify(
    {scroll: doc.scrollWidth, client: doc.clientWidth, inner: window.innerWidth, over: over}));
});
</script>"""


def _probe(report: Path, script: str, width: int, tmp_path: Path) -> dict[str, Any]:
    """Run ``script`` in a copy of the page without its CSP; return what it put in ``data-probe``."""
    page = report.read_text(encoding="utf-8")
    page = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page, count=1)
    probe = tmp_path / f"probe-{width}.html"
    probe.write_text(page.replace("</body>", script + "</body>"), encoding="utf-8")
    dom, stderr = _run_chromium([f"--window-size={width},1200", "--dump-dom", "--virtual-time-budget=5000"],
                                probe.as_uri())  # fmt: skip
    m = re.search(r'<html[^>]*data-probe="([^"]*)"', dom)
    assert m, stderr[-3000:]
    return dict(json.loads(html.unescape(m.group(1))))


def _layout(report: Path, width: int, tmp_path: Path) -> dict[str, Any]:
    return _probe(report, _WIDTH_PROBE, width, tmp_path)


@needs_chromium
@pytest.mark.parametrize("width", [800, 1280])
def test_page_fits_the_window(report: Path, tmp_path: Path, width: int) -> None:
    """No sideways scrolling of the whole page: a table wider than the window scrolls in its own box."""
    got = _layout(report, width, tmp_path)
    assert got["inner"] == width
    assert got["scroll"] <= got["client"], got
    # what is too wide scrolls inside a table's box, never pushes out its section
    assert all(o["box"] in ("wide", "scroll") for o in got["over"]), got["over"]
    if width >= 1280:
        assert got["over"] == [], "every table fits at 1280 px"


# --------------------------------------------------------------------------------------------- answers view


class _AnswerItems(HTMLParser):
    """The answers view's items in DOM order: attributes, hidden, the reference and the <mark>ed texts; and the
    cells (text and class) of the headline's first table, row by row."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.items: list[dict[str, Any]] = []
        self.list_attrs: dict[str, str | None] = {}
        self.headline: list[list[tuple[str, str]]] = []
        self._item: dict[str, Any] | None = None
        self._grab: list[str] | None = None
        self._grab_to: str = ""
        self._section = ""
        self._cell: list[str] | None = None
        self._cell_cls = ""
        self._tables = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self._section = str(a.get("id"))
        if a.get("id") == "an-list":
            self.list_attrs = a
        if tag == "details" and "an-item" in str(a.get("class")):
            self._item = {**a, "hidden": "hidden" in a, "marks": [], "reference": None}
        elif self._item is not None and tag == "mark":
            self._grab, self._grab_to = [], "marks"
        elif self._item is not None and tag == "code" and a.get("class") == "reference":
            self._grab, self._grab_to = [], "reference"
        if self._section == "headline" and tag == "table":
            self._tables += 1
        if self._section == "headline" and self._tables > 1:
            return  # the chance test's table
        if self._section == "headline" and tag == "tr":
            self.headline.append([])
        elif self._section == "headline" and tag == "td":
            self._cell, self._cell_cls = [], str(a.get("class"))

    def handle_endtag(self, tag: str) -> None:
        if self._item is not None and self._grab is not None and tag == {"marks": "mark"}.get(self._grab_to, "code"):
            text = "".join(self._grab)
            if self._grab_to == "reference":
                self._item["reference"] = text
            else:
                self._item["marks"].append(text)
            self._grab = None
        if tag == "details" and self._item is not None:
            self.items.append(self._item)
            self._item = None
        if tag == "td" and self._cell is not None:
            self.headline[-1].append(("".join(self._cell), self._cell_cls))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._grab is not None:
            self._grab.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _answer_items(dom: str) -> _AnswerItems:
    parser = _AnswerItems()
    parser.feed(dom)
    parser.close()
    return parser


def test_answers_in_json_match_the_counts(report: Path) -> None:
    """Every problem's distinct answers add up to its n and its c; the chosen samples mark their answer."""
    data = json.loads(report.with_suffix(".json").read_text(encoding="utf-8"))
    assert data["answers"]["detail_problems"] == len(data["problems"]) <= data["answers"]["detail_cap"]
    for p in data["problems"]:
        for model, c in (("base", p["c_base"]), ("rl", p["c_rl"])):
            tally = p["answers"][model]
            assert tally["samples"] == p["n"] == sum(r["count"] for r in tally["rows"]) + tally["more"]["samples"]
            assert sum(r["count"] for r in tally["rows"] if r["passed"]) == c
        correct = [s for s in p["samples"] if s["passed"]]
        wrong = [s for s in p["samples"] if not s["passed"]]
        assert len(correct) == (1 if p["class"] != "neither" else 0) and len(wrong) == 1
        for s in p["samples"]:
            if s["mark"] is not None:
                assert s["text"][s["mark"][0] : s["mark"][1]] == s["answer"]
        if p["class"] == "rl_only":
            assert correct[0]["model"] == "rl" and wrong[0]["model"] == "base"
    rows = {p["problem_id"]: p for p in data["problems"]}
    words = rows["words-001"]["answers"]["base"]["rows"]  # RL-only: the base's answers are all wrong
    assert {r["answer"] for r in words if r["answer"]} == {"3", "4", "5"} and not any(r["passed"] for r in words)
    rules = {rule for r in words for rule in r["rules"]}
    assert {"answer is after </think>", "last number", "no answer"} <= rules
    assert any(r.get("detail") == "no \\boxed{}, no answer phrase and no number" for r in words)


@needs_chromium
def test_answers_view(browsed: Browsed, report: Path) -> None:
    """The answers view lists every problem with its reference, answers and marked completions, as text."""
    data = json.loads(report.with_suffix(".json").read_text(encoding="utf-8"))
    parsed = _answer_items(browsed.dom)
    assert parsed.list_attrs.get("data-ready") == "1", "the answers script did not finish"
    assert parsed.list_attrs.get("data-shown") == str(len(data["problems"]))
    assert [it["data-id"] for it in parsed.items] == [p["problem_id"] for p in data["problems"]]
    for it, p in zip(parsed.items, data["problems"], strict=True):
        assert it["reference"] == p["reference"] and it["data-class"] == p["class"]
        want = [s["text"][s["mark"][0] : s["mark"][1]] for s in p["samples"] if s["mark"] is not None]
        assert it["marks"] == want
    rows = {p["problem_id"]: p for p in data["problems"]}
    both = next(it for it in parsed.items if it["data-id"] == "arith-000")
    wrong = next(s for s in rows["arith-000"]["samples"] if not s["passed"])
    counts: dict[str, int] = {}
    for r in rows["arith-000"]["answers"][wrong["model"]]["rows"]:
        if r["answer"] and not r["passed"]:
            counts[r["answer"]] = counts.get(r["answer"], 0) + r["count"]
    assert both["marks"][0] == "0"  # RL's boxed 0 (correct)
    assert counts[both["marks"][1]] == max(counts.values())  # the most frequent wrong answer
    assert html.escape(TEMPLATED, quote=False) + "<mark>" in browsed.dom  # Jinja2 syntax and HTML as written
    assert "{{ 7*7 }}" in browsed.dom and "<b>bold?</b>" not in browsed.dom
    assert "Showing 42 of 42 problems" in browsed.dom
    for text in ("boxed[last]", "answer is after &lt;/think&gt;", "no detail recorded", "[timeout]"):
        assert text in browsed.dom, text


@needs_chromium
def test_answers_filter_and_sort_from_fragment(report: Path) -> None:
    data = json.loads(report.with_suffix(".json").read_text(encoding="utf-8"))
    got = browse(report, "#answers?task=words%20%3Ci%3E%26amp%3B%3C%2Fi%3E&cls=rl_only,both&sort=base&dir=desc")
    assert got.console == []
    parsed = _answer_items(got.dom)
    want = [p for p in data["problems"] if p["task"] == TASKS[1] and p["class"] in ("rl_only", "both")]
    visible = [it for it in parsed.items if not it["hidden"]]
    assert {it["data-id"] for it in visible} == {p["problem_id"] for p in want} and want
    assert parsed.list_attrs.get("data-shown") == str(len(want))
    rates = [float(it["data-base"]) for it in visible]
    assert rates == sorted(rates, reverse=True) and rates[0] > rates[-1]
    # sort by id, ascending, every item (hidden ones too)
    ids = [it["data-id"].lower() for it in _answer_items(browse(report, "#answers?sort=id").dom).items]
    assert ids == sorted(ids) and len(ids) == len(data["problems"])
    # the problem table filters by task too
    table = _parse(browse(report, "#problem-table?task=arith&sort=4&dir=asc").dom)
    shown = [r for r in table.rows if not r["hidden"]]
    assert {r["cells"][1] for r in shown} == {"arith"}
    assert len(shown) == sum(1 for p in data["problems"] if p["task"] == "arith")
    base_rates = [float(r["v"][4]) for r in shown]
    assert base_rates == sorted(base_rates)


@needs_chromium
def test_holm_markers_match_the_json(browsed: Browsed, report: Path) -> None:
    """A headline Δ carries † exactly where report.json says its interval excludes 0 and Holm did not reject."""
    data = json.loads(report.with_suffix(".json").read_text(encoding="utf-8"))
    scopes = ([data["overall"]] if data["overall"] else []) + list(data["tasks"].values())
    rows = [r for r in _answer_items(browsed.dom).headline if r]
    assert len(rows) == len(scopes)
    for row, sec in zip(rows, scopes, strict=True):
        delta_cells = [(text, cls) for text, cls in row if " pp" in text]
        kmax = str(max(int(k) for k in sec["pass_at_k"]["base"]))
        for (text, cls), k in zip(delta_cells, ("1", kmax), strict=True):
            cell = sec["delta"][k]
            assert cell["holm_family"]["size"] >= 1 and cell["holm_family"]["alpha"] == pytest.approx(0.05)
            marked = cell["interval_excludes_0"] and not cell["significant"]
            assert ("†" in text) == marked == ("holm-only" in cls), (text, cell)
            assert ("pos" in cls or "neg" in cls) == cell["significant"]
    assert 'id="holm-legend"' in browsed.dom
