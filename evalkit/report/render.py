"""Render a comparison summary as one self-contained HTML page (Jinja2 templates) and write it with its JSON.

The page is ``templates/base.html.j2`` around one template per section, in the order of :data:`SECTIONS`;
each section's context comes from :mod:`evalkit.report.overview`, :mod:`evalkit.report.problems` or
:mod:`evalkit.report.sections` and is None when the summary has nothing for it. The style sheet
(``static/report.css``) and the one script (``static/table.js`` then ``static/answers.js``) are read from the
package and inlined;
the Content-Security-Policy allows that script by the SHA-256 of the file's bytes, computed at render time.

The environment autoescapes every value (``autoescape=True``), fails on a missing name
(``StrictUndefined``) and registers the filters ``clean`` and ``clip`` (:mod:`evalkit.report.text`), which
sanitise summary strings before they are escaped, and ``thousands``. Only evalkit's own output is marked
safe: the inline CSS and script and matplotlib's SVG.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from evalkit.errors import EvalkitError
from evalkit.report import answers, overview, problems, sections, support_view, validity
from evalkit.report.text import clean, clip

_Builder = Callable[[Mapping[str, Any], list[Mapping[str, Any]]], "dict[str, Any] | None"]

#: (section id, nav label, template, context builder(summary, problems)) in page order.
SECTIONS: tuple[tuple[str, str, str, _Builder], ...] = (
    # the answer first: the verdict paragraph, then what it was computed from
    ("verdict", "Verdict", "verdict.html.j2", lambda s, _p: overview.verdict_context(s.get("verdict"))),
    ("runs", "Runs", "runs.html.j2", lambda s, _p: overview.runs_context(s)),
    ("notes", "Findings", "notes.html.j2", lambda s, _p: overview.notes_context(s.get("notes"))),
    ("headline", "Headline", "headline.html.j2", lambda s, _p: overview.headline_context(s)),
    ("curves", "pass@k curves", "curves.html.j2", lambda s, _p: sections.curves_context(s)),
    ("delta", "Δ pass@k", "delta.html.j2", lambda s, _p: sections.delta_context(s)),
    ("per-problem", "Per-problem success rates", "per_problem.html.j2", lambda _s, p: problems.per_problem_context(p)),
    ("buckets", "By bucket", "buckets.html.j2", lambda s, _p: overview.buckets_context(s)),
    ("problem-table", "All problems", "problem_table.html.j2", lambda _s, p: problems.problem_table_context(p)),
    ("answers", "Answers", "answers.html.j2", lambda s, p: answers.answers_context(s, p)),
    ("rl-only", "RL-only problems", "problems.html.j2", lambda _s, p: problems.frontier_problems_context(p, "rl_only")),
    (
        "base-only",
        "base-only problems",
        "problems.html.j2",
        lambda _s, p: problems.frontier_problems_context(p, "base_only"),
    ),
    (
        "evidence",
        "Evidence beyond pass@k",
        "evidence.html.j2",
        lambda s, _p: sections.evidence_context(s.get("evidence")),
    ),
    ("support", "Support", "support.html.j2", lambda s, _p: support_view.support_context(s.get("support"))),
    (
        "trajectory",
        "Checkpoint trajectory",
        "trajectory.html.j2",
        lambda s, _p: sections.trajectory_context(s.get("trajectory")),
    ),
    ("turnover", "Turnover", "turnover.html.j2", lambda s, _p: support_view.turnover_context(s.get("turnover"))),
    (
        "training",
        "Training",
        "training.html.j2",
        lambda s, _p: sections.training_context(s.get("training"), s.get("training_eval")),
    ),
    ("gate", "Gate", "gate.html.j2", lambda s, _p: sections.gate_context(s.get("gate"))),
    ("validity", "Threats to validity", "validity.html.j2", lambda s, _p: validity.validity_context(s.get("validity"))),
    ("rates", "Sample health", "health.html.j2", lambda s, _p: sections.rates_context(s.get("rates"))),
    ("timings", "Timings", "timings.html.j2", lambda s, _p: sections.timings_context(s.get("timings"))),
)


@cache
def environment() -> jinja2.Environment:
    """The report's Jinja2 environment (templates from the package's ``templates/`` folder)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("evalkit.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["clean"] = clean
    env.filters["clip"] = clip
    env.filters["thousands"] = lambda v: f"{int(v):,}"
    return env


def static_text(name: str) -> str:
    """The text of ``static/<name>`` (UTF-8) as shipped in the package."""
    return resources.files("evalkit.report").joinpath("static", name).read_bytes().decode("utf-8")


def page_script() -> str:
    """The page's one inline script: ``static/table.js`` (the problem table) then ``static/answers.js`` (the
    answers view), each an independent function that does nothing when its part of the page is absent."""
    return static_text("table.js") + static_text("answers.js")


def script_sha256(script: str) -> str:
    """Base64 of the SHA-256 of the script's UTF-8 bytes: CSP's ``'sha256-...'`` allows exactly this script."""
    return base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")


def render(summary: Mapping[str, Any]) -> str:
    """The whole page for ``summary`` (see :func:`write_report`), as a string."""
    probs = problems.problem_list(summary)
    present = []
    for sid, label, template, build in SECTIONS:
        ctx = build(summary, probs)
        if ctx is not None:
            present.append({"id": sid, "label": label, "template": template, "ctx": ctx})
    script = page_script()
    return (
        environment()
        .get_template("base.html.j2")
        .render(
            title=summary.get("title") or "evalkit report",
            created=summary.get("created"),
            evalkit_version=summary.get("evalkit_version"),
            sections=present,
            # evalkit's own files, shipped in the package: inlined as they are
            css=Markup(static_text("report.css")),
            script=Markup(script),
            script_sha256=script_sha256(script),
        )
    )


def json_safe(obj: Any) -> Any:
    """Copy ``obj`` with NaN/inf turned into None and numpy/tuple values into plain JSON types."""
    if isinstance(obj, Mapping):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, (str, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if hasattr(obj, "tolist"):  # numpy scalars and arrays, without importing numpy here
        return json_safe(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    return obj  # let json.dump raise a TypeError naming anything else


def _atomic_write(path: Path, data: bytes) -> None:
    """Write via a temp file in the same directory and os.replace, so a crash never leaves half a file."""
    # open() rather than mkstemp: the file gets the usual umask permissions, not 0600.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_report(summary: dict[str, Any], out_html: Path) -> Path:
    """Write the HTML report and, beside it, the JSON summary it was rendered from.

    Args:
        summary: The comparison summary (schema in :mod:`evalkit.compare`): runs, ks, overall and per-task
            pass@k and class counts, problems, rates, optional evidence, trajectory, training log, gate
            result, notes and timings.
        out_html: Where to write the page. The JSON goes to ``out_html.with_suffix(".json")``; parent
            directories are created.

    Returns:
        ``out_html``.

    Raises:
        EvalkitError: ``out_html`` ends in ``.json`` (the page would overwrite its own summary).
        TypeError: The summary holds a value JSON cannot represent.
    """
    out_html = Path(out_html)
    out_json = out_html.with_suffix(".json")
    if out_json == out_html:
        raise EvalkitError(f"report path {out_html} ends in .json; give an .html path")
    out_html.parent.mkdir(parents=True, exist_ok=True)

    # The JSON keeps every text in full; lone surrogates survive as \udcXX escapes (ensure_ascii).
    json_text = json.dumps(json_safe(summary), indent=1, sort_keys=False, allow_nan=False) + "\n"
    page = render(summary)

    _atomic_write(out_json, json_text.encode("utf-8"))
    # Strict encoding: anything unsanitised that slipped through fails here instead of writing bad UTF-8.
    _atomic_write(out_html, page.encode("utf-8"))
    return out_html
