"""Context of the answers view: per problem, what the samples answered and how each answer was judged.

For each problem of the summary that carries ``samples`` (at most :data:`MAX_ANSWER_PROBLEMS`; see
:func:`evalkit.compare.answers.attach_answers`): the reference, every distinct extracted answer of each model
with its count, verdict and the rules that read it, and one correct and one wrong completion with the
extracted answer marked (``<mark>``). Texts are cut where the summary cut them (it keeps a window around the
answer) and pass through the ``clean`` filter and autoescape like every other summary value: HTML and Jinja2
syntax in a completion are shown as written. The page's script (``static/answers.js``) filters the list by
class and task and sorts it by base rate, RL rate, Δ rate or id. Nothing here computes a statistic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from evalkit.report.values import CLASS_LABEL, DASH, MODEL_LABEL, MODELS, as_map, frac, num, rows

#: At most this many problems in the answers view (the summary holds samples for as many).
MAX_ANSWER_PROBLEMS = 200
#: At most this many distinct answers listed per model and problem on the page.
MAX_ANSWER_ROWS = 20

#: Sort choices of the view: (value, label); the script reads ``data-<value>`` of each item.
SORTS = (("order", "summary order"), ("base", "base rate"), ("rl", "RL rate"), ("delta", "Δ rate"), ("id", "id"))


def _rate(c: Any, n: Any) -> tuple[str, str]:
    """(c/n text, the rate as data for sorting, "" when unknown)."""
    vc, vn = num(c), num(n)
    return frac(c, n), f"{vc / vn:.6g}" if vc is not None and vn else ""


def _answer_rows(tally: Any, n: Any) -> dict[str, Any]:
    """One model's distinct answers for the template: answer or recorded detail, verdict, count, share, rules."""
    t = as_map(tally)
    out = []
    for r in rows(t.get("rows"))[:MAX_ANSWER_ROWS]:
        r = as_map(r)
        count = num(r.get("count"))
        rules = as_map(r.get("rules"))
        out.append({
            "answer": r.get("answer"),
            # no answer: why (the recorded detail), or that the verifier recorded none
            "detail": r.get("detail") or ("no detail recorded" if "as recorded" in rules else "no answer"),
            "passed": r.get("passed") is True,
            "count": DASH if count is None else f"{int(count):,}",
            "share": _share(count, num(n)),
            "rules": [(str(k), f"{int(v):,}" if num(v) is not None else DASH) for k, v in rules.items()],
        })  # fmt: skip
    more = as_map(t.get("more"))
    extra = max(0, len(rows(t.get("rows"))) - MAX_ANSWER_ROWS)
    more_distinct = int(num(more.get("distinct")) or 0) + extra
    return {
        "rows": out,
        "distinct": t.get("distinct"),
        "samples": t.get("samples"),
        "more": more_distinct,
        "more_samples": int(num(more.get("samples")) or 0),
    }


def _share(count: float | None, n: float | None) -> str:
    return "" if count is None or not n else f"{100 * count / n:.1f}%"


def _sample(s: Mapping[str, Any]) -> dict[str, Any]:
    """A chosen completion split around its marked answer (offsets into the stored text, which the summary
    already cut to a window), with what was cut before and after it."""
    text = s.get("text")
    text = text if isinstance(text, str) else ""
    mark = s.get("mark")
    a = b = None
    if isinstance(mark, Sequence) and not isinstance(mark, str) and len(mark) == 2:
        lo, hi = num(mark[0]), num(mark[1])
        if lo is not None and hi is not None and 0 <= lo <= hi <= len(text):
            a, b = int(lo), int(hi)
    offset = int(num(s.get("offset")) or 0)
    chars = int(num(s.get("chars")) or len(text))
    model = MODEL_LABEL.get(str(s.get("model")), str(s.get("model")))
    return {
        "title": f"a {'correct' if s.get('passed') is True else 'wrong'} {model} completion",
        "passed": s.get("passed") is True,
        "sample_idx": s.get("sample_idx"),
        "status": s.get("status"),
        "answer": s.get("answer"),
        "rule": s.get("rule"),
        "detail": s.get("detail"),
        "before": text if a is None else text[:a],
        "mark": None if a is None else text[a:b],
        "after": "" if b is None else text[b:],
        "offset": offset,
        "cut_after": max(0, chars - offset - len(text)),
        "chars": chars,
    }


def answers_context(summary: Mapping[str, Any], problems: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The answers view, or None when no problem carries distinct answers (a summary from before they were
    recorded, or runs that were not read from run stores)."""
    with_answers = [p for p in problems if isinstance(p.get("answers"), Mapping)]
    if not with_answers:
        return None
    chosen = [p for p in with_answers if isinstance(p.get("samples"), Sequence)] or with_answers
    shown = chosen[:MAX_ANSWER_PROBLEMS]
    items: list[dict[str, Any]] = []
    tasks: list[str] = []
    for i, p in enumerate(shown):
        raw_cls = p.get("class")
        cls = raw_cls if isinstance(raw_cls, str) and raw_cls in CLASS_LABEL else "other"
        n = p.get("n")
        base, base_v = _rate(p.get("c_base"), n)
        rl, rl_v = _rate(p.get("c_rl"), n)
        vb, vr = num(base_v), num(rl_v)
        task = p.get("task")
        task_text = task if isinstance(task, str) else str(task)
        if task_text not in tasks:
            tasks.append(task_text)
        answers = as_map(p.get("answers"))
        items.append({
            "pos": i,
            "id": p.get("problem_id"),
            "task": task_text,
            "cls": cls,
            "label": CLASS_LABEL.get(cls, DASH),
            "hl": cls.replace("_", "-") if cls in ("rl_only", "base_only") else "",
            "base": base,
            "rl": rl,
            "v": {"base": base_v, "rl": rl_v, "delta": "" if vb is None or vr is None else f"{vr - vb:.6g}"},
            "reference": p.get("reference"),
            "models": [(MODEL_LABEL[m], _answer_rows(answers.get(m), n)) for m in MODELS],
            "samples": [_sample(as_map(s)) for s in rows(p.get("samples"))],
        })  # fmt: skip
    counts = dict.fromkeys([*CLASS_LABEL, "other"], 0)
    for it in items:
        counts[str(it["cls"])] += 1
    info = as_map(summary.get("answers"))
    boxes = [(c, CLASS_LABEL.get(c, c), k) for c, k in counts.items() if k or c in CLASS_LABEL]
    return {
        "entries": items,
        "tasks": sorted(tasks),
        "boxes": boxes,
        "sorts": SORTS,
        "shown": len(items),
        "total": len(problems),
        "cap": min(MAX_ANSWER_PROBLEMS, int(num(info.get("detail_cap")) or MAX_ANSWER_PROBLEMS)),
        "max_rows": MAX_ANSWER_ROWS,
    }
