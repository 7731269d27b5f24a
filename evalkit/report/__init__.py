"""Render a comparison summary as one self-contained HTML file, with the JSON summary beside it.

The report reads only the summary dict (what the run store holds, already reduced by the comparison step),
never live objects, so it can be rebuilt from ``report.json`` years later.

Sections, in page order (each one only when the summary holds its data): runs, the verdict in plain words
(:mod:`evalkit.compare.verdict`), findings, headline
(pass@1 and pass@k_max with intervals, frontier classes with their chance level, p- and BH q-values),
pass@k curves with interval bands, delta pass@k with its band, per-problem success rates (scatter and
histograms), buckets, the sortable problem table, the RL-only and base-only tables, evidence beyond pass@k
(:mod:`evalkit.compare.evidence`: pass@k area, Cover@tau curves, categories, likelihood, diversity), the
checkpoint trajectory (ProRL regime per task), training curves, gate, threats to validity
(:mod:`~evalkit.report.validity`), sample health and stage timings.

Layout: :mod:`~evalkit.report.render` (the Jinja2 environment, section order, writing the files),
``templates/`` (``base.html.j2`` and one template per section), ``static/`` (``report.css`` and
``table.js``), the section contexts in :mod:`~evalkit.report.overview`, :mod:`~evalkit.report.problems`
and :mod:`~evalkit.report.sections`, the figures in :mod:`~evalkit.report.plots` (drawn to SVG by
:mod:`~evalkit.report.svg`), and display text and numbers in :mod:`~evalkit.report.text` and
:mod:`~evalkit.report.values`.

What the page guarantees:

- It is one file: no network, no external CSS, JS or fonts. Plots are inline SVG drawn by matplotlib with
  text as paths, deterministic ids (``svg.hashsalt``) and no XML header, DOCTYPE, metadata or ``<style>``.
  The same summary gives byte-identical HTML.
- Every string that comes from the summary (prompts, completions, model and task names, config values) is
  sanitised by the templates' ``clean``/``clip`` filters and then escaped by Jinja2's autoescape; nothing
  from the summary is marked safe, so ``{{ ... }}`` or ``{% raw %}`` in a summary string is shown as
  written. Sanitising makes it valid UTF-8 and safe to look at: lone surrogates become U+FFFD, NUL bytes
  are dropped, other control characters are shown as visible symbols (U+2400 "control pictures" or
  ``<U+XXXX>``), bidi overrides are shown rather than obeyed, and displayed completions are cut to about
  2,000 characters with a marker saying how much was cut.
- The page carries exactly one ``<script>``: ``static/table.js`` then ``static/answers.js``
  (:data:`TABLE_SCRIPT`, sorting and filtering the problem table and the answers view), which holds no
  summary data. The table rows are rendered as escaped HTML
  on the server side; the script only reorders and hides existing rows and writes numbers it computes via
  ``textContent``, so no summary text is ever parsed as HTML or JavaScript. The Content-Security-Policy
  allows that one script by its SHA-256 hash only: even an injected ``<script>`` would not run.
  Without JavaScript the table is still complete, just not sortable.
- The JSON beside it keeps the full, untruncated texts.

What it does not do: it computes no statistics (it shows what the summary says; the only arithmetic is
c/n per problem and a moving average of the training reward for display) and it does not check that the
summary is consistent (e.g. that class counts match the problem list).
"""

from __future__ import annotations

from evalkit.report.overview import MAX_TASK_PLOTS
from evalkit.report.plots import (
    cover_figure,
    delta_figure,
    moving_average,
    passk_figure,
    training_figure,
    trajectory_figure,
)
from evalkit.report.problems import MAX_PROBLEM_ROWS, MAX_TABLE_ROWS
from evalkit.report.render import page_script, render, write_report
from evalkit.report.text import MAX_REFERENCE_CHARS, MAX_TEXT_CHARS, clean_text, esc

#: The page's only script (``static/table.js`` then ``static/answers.js``): sorts and filters the problem
#: table (``#pt``) and the answers view (``#an-list``).
TABLE_SCRIPT = page_script()

# The figures under the names the report module gave them before it became a package.
_passk_figure = passk_figure
_delta_figure = delta_figure
_trajectory_figure = trajectory_figure
_training_figure = training_figure

__all__ = [
    "MAX_PROBLEM_ROWS",
    "MAX_REFERENCE_CHARS",
    "MAX_TABLE_ROWS",
    "MAX_TASK_PLOTS",
    "MAX_TEXT_CHARS",
    "TABLE_SCRIPT",
    "clean_text",
    "cover_figure",
    "esc",
    "moving_average",
    "render",
    "write_report",
]
