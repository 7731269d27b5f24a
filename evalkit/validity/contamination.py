"""The partial-prompt completion audit: does a model reproduce the withheld rest of a problem statement?

After Wu et al. 2025, "Reasoning or Memorization? Unreliable Results of Reinforcement Learning Due to Data
Contamination", arXiv 2507.10532: a model that saw a benchmark's statements in training completes them
verbatim from their first words, and RL gains measured on such a benchmark may be recall, not reasoning.

How evalkit runs it:

1. Every problem's *statement* (the question before the task's prompt template, ``meta["prompt_fields"]
   ["prompt"]`` for the named benchmarks; the prompt itself otherwise) is cut after the first ``x`` of its
   whitespace words, rounded half up, for each fraction ``x`` (default 0.4, 0.6, 0.8;
   :func:`evalkit.validity.overlap.cut_at_words`). The prefix, sent raw (no template), is the prompt of a
   problem ``<id>@prefix=<x>`` that keeps the task, reference and metadata of the original and records the
   withheld rest in ``meta["contamination"]``.
2. Those problems are sampled like any other run (:func:`evalkit.sampling.runner.sample`): greedy decoding
   (temperature 0), n = 1, ``max_tokens`` the longest withheld rest in characters plus :data:`MARGIN_TOKENS`
   (an upper bound on its tokens for every tokenizer whose tokens decode to at least one character). The run
   directory is an ordinary run, so rerunning the command resumes it; the fractions are part of its identity.
   Its completions are verified by the task's verifier, which says whether the completion of a partial
   prompt reaches the reference answer (it rarely does; a model that does has likely seen the solution).
3. :func:`contamination_report` scores each stored completion against the withheld rest, on whitespace tokens:
   the completion is cut to as many words as the rest has (what follows the statement, such as a solution, is
   not part of it); *exact* is true when those words equal the rest's; *ROUGE-L* is their LCS F1
   (:func:`evalkit.validity.overlap.rouge_l`).

A problem is **flagged** as likely memorised when (thresholds stated, not tuned per run):

* ROUGE-L >= :data:`ROUGE_FLAG` (0.7) at the 60% prefix (the given fraction closest to 0.6, the larger on a
  tie), or
* the completion reproduces the whole withheld rest exactly at some fraction whose rest has at least
  :data:`EXACT_MIN_WORDS` (5) words (shorter rests, such as a closing "Find $m+n$.", are too easy to guess).

A statement too short to cut (under :data:`MIN_WORDS` words, e.g. MATH's "Compute $7!$.") is refused, naming
it; with ``skip_short`` it is left out and listed in the report's ``skipped``.

Not covered: paraphrased or translated contamination (the audit sees verbatim recall only), statements shorter
than :data:`MIN_WORDS` words, chat-formatted prompts (the prefix is sent as raw text).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError
from evalkit.sampling.base import SamplingConfig
from evalkit.store import RunStore
from evalkit.tasks.registry import TaskSpec, get_family, problems_for, sandbox_only
from evalkit.types import Problem
from evalkit.validity.overlap import cut_at_words, rouge_l, word_count, words

FRACTIONS = (0.4, 0.6, 0.8)
ROUGE_FLAG = 0.7  # ROUGE-L F1 at the flag fraction at or above which a problem is flagged
ROUGE_AT = 0.6  # the prefix fraction whose ROUGE-L decides the flag (the closest one given)
EXACT_MIN_WORDS = 5  # an exact reproduction of a withheld rest this long or longer flags the problem
MIN_WORDS = 5  # a statement needs this many words to be cut into a prefix and a rest
MARGIN_TOKENS = 16  # decoded beyond the longest withheld rest
META_KEY = "contamination"
AUDIT_IDENTITY = {"audit": {"kind": "contamination", "version": 1}}


@dataclass
class ContaminationRequest:
    """Everything ``evalkit audit contamination`` needs (see :class:`evalkit.sampling.runner.SampleRequest`)."""

    model: str
    specs: Sequence[TaskSpec]
    out: Path
    fractions: Sequence[float] = FRACTIONS
    backend: str = "hf"
    backend_options: dict[str, Any] = field(default_factory=dict)
    max_tokens: int | None = None  # None: the longest withheld rest in characters plus MARGIN_TOKENS
    problem_seed: int = 0
    limit: int = 100
    seed: int = 0
    force: bool = False
    workers: int | None = None
    verify_timeout_s: float = 10.0
    quiet: bool = False
    skip_short: bool = False  # leave out statements too short to cut instead of refusing them


def parse_fractions(text: str) -> tuple[float, ...]:
    """``"0.4,0.6,0.8"`` as sorted distinct fractions, each strictly between 0 and 1.

    Raises:
        EvalkitError: on a value that is not a number in (0, 1), or an empty list.
    """
    out: set[float] = set()
    for item in filter(None, (p.strip() for p in text.split(","))):
        try:
            value = float(item)
        except ValueError:
            raise EvalkitError(f"--fractions: {item!r} is not a number (expected e.g. 0.4,0.6,0.8)") from None
        if not 0.0 < value < 1.0:
            raise EvalkitError(f"--fractions: {item} is not strictly between 0 and 1 (a share of the statement)")
        out.add(value)
    if not out:
        raise EvalkitError("--fractions: no fraction given (expected e.g. 0.4,0.6,0.8)")
    return tuple(sorted(out))


def statement_of(problem: Problem) -> str:
    """The problem statement the audit cuts: the question before the task's template, else the prompt."""
    fields = problem.meta.get("prompt_fields")
    if isinstance(fields, dict) and isinstance(fields.get("prompt"), str):
        return str(fields["prompt"])
    return problem.prompt


def prefix_id(problem_id: str, fraction: float) -> str:
    """The id of a problem's prefix problem: ``<id>@prefix=0.6``."""
    return f"{problem_id}@prefix={fraction:g}"


def too_short(statement: str, fractions: Sequence[float]) -> str | None:
    """Why ``statement`` cannot be cut at every fraction (fewer than :data:`MIN_WORDS` words, or a fraction that
    keeps or withholds nothing), or None when it can."""
    count = word_count(statement)
    if count < MIN_WORDS:
        return f"its statement has {count} words, too short to cut (the audit needs at least {MIN_WORDS})"
    for fraction in fractions:
        prefix, rest = cut_at_words(statement, fraction)
        if not prefix or not rest.strip():
            return f"its statement has {count} words, too short to cut at {fraction:g} (keep a word, withhold one)"
    return None


def prefixed_problems(
    problems: Sequence[Problem], fractions: Sequence[float], skip_short: bool = False
) -> tuple[list[Problem], list[str]]:
    """One problem per (problem, fraction): the statement's prefix as the prompt, the withheld rest in meta.

    Args:
        problems: The task problems to audit.
        fractions: Shares of each statement shown, each strictly between 0 and 1.
        skip_short: Leave out statements too short to cut (:func:`too_short`) instead of refusing them.

    Returns:
        (prefix problems, ids of the problems left out as too short).

    Raises:
        EvalkitError: when a task's prompts are not text (no problem has :data:`MIN_WORDS` words), when a
            statement is too short to cut and ``skip_short`` is false, or when a problem has no reference answer
            (and its task does not verify by tests).
    """
    by_task: dict[str, list[Problem]] = defaultdict(list)
    for problem in problems:
        by_task[problem.task].append(problem)
    for task, group in by_task.items():
        if all(word_count(statement_of(p)) < MIN_WORDS for p in group):
            example = statement_of(group[0])[:40]
            raise EvalkitError(
                f"task {task}: its prompts are not text statements (e.g. {example!r}); the contamination audit "
                f"cuts problem statements of at least {MIN_WORDS} words"
            )
        by_tests = sandbox_only(type(get_family(task)))
        for p in group:
            if not p.reference.strip() and not by_tests:
                raise EvalkitError(
                    f"problem {p.id}: no reference answer; the audit checks whether a partial prompt's completion "
                    "reaches it (give the task's answers)"
                )
    out: list[Problem] = []
    skipped: list[str] = []
    for problem in problems:
        statement = statement_of(problem)
        reason = too_short(statement, fractions)
        if reason is not None:
            if not skip_short:
                raise EvalkitError(f"problem {problem.id}: {reason}; pass --skip-short to audit the others")
            skipped.append(problem.id)
            continue
        for fraction in fractions:
            prefix, rest = cut_at_words(statement, fraction)
            meta = {**problem.meta, META_KEY: {"source": problem.id, "fraction": fraction, "withheld": rest}}
            out.append(Problem(prefix_id(problem.id, fraction), problem.task, prefix, problem.reference, meta))
    if not out:
        raise EvalkitError(f"every statement is too short to cut at {', '.join(f'{x:g}' for x in fractions)}")
    return out, skipped


def audit_sampling(problems: Sequence[Problem], max_tokens: int | None) -> SamplingConfig:
    """Greedy decoding up to ``max_tokens`` (default: longest withheld rest in characters + margin)."""
    if max_tokens is None:
        max_tokens = max(len(p.meta[META_KEY]["withheld"]) for p in problems) + MARGIN_TOKENS
    return SamplingConfig(temperature=0.0, top_p=1.0, top_k=0, max_tokens=max_tokens)


def run_contamination(req: ContaminationRequest) -> dict[str, Any]:
    """Sample (or resume) the audit's run at ``req.out`` and return :func:`contamination_report` of it."""
    from evalkit.sampling.runner import SampleRequest, sample

    if not req.specs:
        raise EvalkitError("no task given; pass --task NAME (see `evalkit tasks`)")
    fractions = tuple(sorted(set(req.fractions)))
    problems, skipped = prefixed_problems(
        problems_for(req.specs, req.problem_seed, req.limit), fractions, req.skip_short
    )
    identity: dict[str, Any] = {"audit": {**AUDIT_IDENTITY["audit"], "fractions": list(fractions)}}
    if skipped:  # the problems left out, so that the report names them (and a resume leaves out the same)
        identity["audit"]["skipped"] = skipped
    store = sample(
        SampleRequest(
            model=req.model,
            specs=req.specs,
            n=1,
            out=req.out,
            backend=req.backend,
            sampling=audit_sampling(problems, req.max_tokens),
            seed=req.seed,
            problem_seed=req.problem_seed,
            limit=req.limit,
            force=req.force,
            backend_options=req.backend_options,
            workers=req.workers,
            verify_timeout_s=req.verify_timeout_s,
            quiet=req.quiet,
            problems=problems,
            identity_extra=identity,
        )
    )
    return contamination_report(store.root)


def flag_fraction(fractions: Sequence[float]) -> float:
    """The fraction whose ROUGE-L decides the flag: the one closest to :data:`ROUGE_AT` (the larger on a tie)."""
    return min(fractions, key=lambda x: (round(abs(x - ROUGE_AT), 9), -x))


def score_continuation(text: str, withheld: str) -> dict[str, Any]:
    """Exact match and ROUGE-L of a completion's first words against the withheld rest (module docstring)."""
    rest = words(withheld)
    cont = words(text)[: len(rest)]
    return {
        "withheld_words": len(rest),
        "exact": cont == rest,
        "rouge_l": rouge_l(cont, rest).f1,
        "continuation": " ".join(cont),
    }


def contamination_report(run: Path) -> dict[str, Any]:
    """Per-problem scores and flags, and per-task rates, of a contamination audit's run directory.

    Returns:
        ``{"run", "model", "fractions", "flag_rule", "problems": [...], "tasks": {...}}``; each problem row has
        ``problem_id``, ``task``, ``flagged``, ``reason`` and ``by_fraction`` (``"0.6": {withheld_words, exact,
        rouge_l, continuation, reaches_answer}``; ``reaches_answer`` is None while unverified); ``skipped`` lists
        the problems left out as too short (``--skip-short``).

    Raises:
        EvalkitError: when the run is not a contamination audit.
    """
    store = RunStore.open(run)
    identity = store.manifest().get("identity", {})
    if identity.get("audit", {}).get("kind") != "contamination":
        raise EvalkitError(f"{run}: not a contamination audit run (made by `evalkit audit contamination`)")
    fractions = [float(x) for x in identity["audit"]["fractions"]]
    at = flag_fraction(fractions)
    problems = store.problems()
    texts = {c.problem_id: c.text for c in store.iter_completions() if c.sample_idx == 0}
    verdicts = {pid: v for (pid, idx), v in store.verdicts().items() if idx == 0}
    rows: dict[str, dict[str, Any]] = {}
    for p in problems:
        info = p.meta[META_KEY]
        row = rows.setdefault(info["source"], {"problem_id": info["source"], "task": p.task, "by_fraction": {}})
        if p.id not in texts:
            continue  # not sampled yet (an interrupted run): no score, no flag from it
        scores = score_continuation(texts[p.id], info["withheld"])
        verdict = verdicts.get(p.id)
        scores["reaches_answer"] = None if verdict is None else verdict.passed
        row["by_fraction"][f"{float(info['fraction']):g}"] = scores
    for row in rows.values():
        row["flagged"], row["reason"] = _flag(row["by_fraction"], at)
    return {
        "run": str(run),
        "model": identity.get("model"),
        "fractions": fractions,
        "flag_rule": (
            f"ROUGE-L >= {ROUGE_FLAG} at prefix {at:g}, or an exact reproduction of a withheld rest of at least "
            f"{EXACT_MIN_WORDS} words at any prefix"
        ),
        "problems": list(rows.values()),
        "skipped": list(identity["audit"].get("skipped", [])),
        "tasks": _task_rates(list(rows.values()), fractions),
    }


def _flag(by_fraction: dict[str, dict[str, Any]], at: float) -> tuple[bool, str]:
    """Whether the flag rule holds, and the first clause that made it hold."""
    scores = by_fraction.get(f"{at:g}")
    if scores is not None and scores["rouge_l"] >= ROUGE_FLAG:
        return True, f"ROUGE-L {scores['rouge_l']:.2f} >= {ROUGE_FLAG} at prefix {at:g}"
    for key, s in by_fraction.items():
        if s["exact"] and s["withheld_words"] >= EXACT_MIN_WORDS:
            return True, f"exact reproduction of the withheld {s['withheld_words']} words at prefix {key}"
    return False, ""


def _task_rates(rows: list[dict[str, Any]], fractions: Sequence[float]) -> dict[str, dict[str, Any]]:
    """Per task: problems, flagged, and mean ROUGE-L, exact rate and reaches-answer rate at each fraction."""
    out: dict[str, dict[str, Any]] = {}
    for task in sorted({r["task"] for r in rows}):
        mine = [r for r in rows if r["task"] == task]
        entry: dict[str, Any] = {"problems": len(mine), "flagged": sum(r["flagged"] for r in mine), "by_fraction": {}}
        for x in fractions:
            scored = [r["by_fraction"][f"{x:g}"] for r in mine if f"{x:g}" in r["by_fraction"]]
            verified = [s["reaches_answer"] for s in scored if s["reaches_answer"] is not None]
            entry["by_fraction"][f"{x:g}"] = {
                "scored": len(scored),
                "rouge_l": sum(s["rouge_l"] for s in scored) / len(scored) if scored else None,
                "exact": sum(s["exact"] for s in scored) / len(scored) if scored else None,
                "reaches_answer": sum(verified) / len(verified) if verified else None,
            }
        out[task] = entry
    return out
