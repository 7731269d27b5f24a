"""A run's correct completions (or, with ``all_texts``, every completion) under a model: the per-problem results
file, resumable (see :mod:`evalkit.likelihood`).

By default the distinct correct texts of each problem are scored. With ``all_texts`` (``evalkit likelihood
--all``) incorrect texts are scored too (correct ones first, then by frequency, up to ``max_per_problem``
distinct texts per problem); each scored row says whether its text ``passed``, and ``best`` is still the most
likely *correct* text, so the evidence read from a file is the same either way. The header's ``texts``
(``correct`` or ``all``; absent in files made before it existed: ``correct``) is part of the file's identity.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit import __version__
from evalkit.errors import EvalkitError
from evalkit.likelihood.openai_scorer import END_RULE
from evalkit.likelihood.scorer import Scorer
from evalkit.stats.diversity import answer_diversity

if TYPE_CHECKING:
    from evalkit.likelihood.openai_scorer import OpenAIScorer
    from evalkit.likelihood.vllm_scorer import VLLMScorer
from evalkit.progress import progress_bar
from evalkit.sampling.base import SamplingConfig
from evalkit.sampling.provenance import prompt_format_or_refuse, sampler_or_refuse
from evalkit.store import RunStore, _write_atomic
from evalkit.types import Problem

FORMAT = 1
LN10 = math.log(10.0)
FLUSH_SECONDS = 2.0  # how often the results file is rewritten (a kill loses at most this much work)


def results_path(run: Path, model_hash: str) -> Path:
    """``RUN/likelihood/under-<model hash>.jsonl`` (the hash made safe for a file name)."""
    return Path(run) / "likelihood" / f"under-{re.sub(r'[^A-Za-z0-9._-]+', '_', model_hash)}.jsonl"


def read_results(path: Path) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    """The header and the per-problem records of a likelihood file (none when it does not exist).

    Raises:
        EvalkitError: on a line that is not JSON, naming the file and line.
    """
    if not Path(path).is_file():
        return None, {}
    header: dict[str, Any] | None = None
    records: dict[str, dict[str, Any]] = {}
    for lineno, line in enumerate(Path(path).read_text(encoding="ascii").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise EvalkitError(f"{path}:{lineno}: not a JSON line; delete the file to score the run again") from None
        if row.get("kind") == "header":
            header = row
        else:
            records[str(row["problem_id"])] = row
    return header, records


def _end_rule(identity: dict[str, Any]) -> str:
    stops = (identity.get("sampling") or {}).get("stop") or []
    return "none (stop strings: the text as a prefix)" if stops else "eos when finish_reason is stop"


@dataclass
class LikelihoodRequest:
    """What ``evalkit likelihood`` needs.

    Attributes:
        model: Checkpoint to score under (directory or hub id).
        run: Run directory whose correct completions are scored.
        model_run: Optional run sampled from ``model``: its sampling configuration is the one scored
            under, and the problems ``run`` solves that it never solved are scored first.
        out: Results file (default :func:`results_path`).
        sampling: Overrides of temperature / top_p / top_k (keys present override).
        max_per_problem: Distinct correct texts scored per problem (the most frequent first).
        backend: "hf" (transformers, any sampler) or "vllm" (``prompt_logprobs``; samplers it can rebuild
            exactly, see :mod:`evalkit.likelihood.vllm_scorer`).
        revision: For a hub id, the branch, tag or commit to load (pinned to its commit).
        all_texts: Score every completion's text, not only the correct ones (see the module docstring).
        base_url: The server of ``backend`` "openai" (``model`` is then the served name,
            :mod:`evalkit.likelihood.openai_scorer`); ``api_key`` its bearer token.
        prompt_format: The run's prompt format, raw or chat (``--prompt-format``): needed for an import that did
            not state it, and overriding the run's own otherwise (None: the run's own).
    """

    model: str
    run: Path
    model_run: Path | None = None
    out: Path | None = None
    sampling: dict[str, Any] | None = None
    max_per_problem: int = 32
    device: str = "auto"
    dtype: str = "auto"
    max_batch_tokens: int = 8192
    quiet: bool = False
    force: bool = False
    backend: str = "hf"
    revision: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    all_texts: bool = False
    prompt_format: str | None = None


def _sampling_for(
    req: LikelihoodRequest, run_identity: dict[str, Any], model_identity: dict[str, Any] | None
) -> SamplingConfig:
    source = dict((model_identity or run_identity).get("sampling") or {})
    source.update({k: v for k, v in (req.sampling or {}).items() if v is not None})
    where = str(req.model_run if model_identity else req.run)
    return SamplingConfig(**sampler_or_refuse(source, where))


def score_run(req: LikelihoodRequest) -> Path:
    """Score ``req.run``'s correct completions under ``req.model``; returns the results file.

    Per problem (every problem of the run, solved ones by teacher forcing): n, c, the answer diversity
    (:func:`evalkit.stats.diversity.answer_diversity`, from the verifier's dedup keys) and, for a solved
    problem, the most likely of its scored correct texts (``best``: log-probability, its log10 of expected
    samples ``-logprob / ln 10``, tokens, unreachable tokens) and every scored text's figures.
    Problems already in the file are skipped (resume); a file made under another sampling configuration or for
    another run is refused unless ``force``.

    Raises:
        EvalkitError: for a missing run, a model that does not match ``model_run``, a refused resume.
    """
    from evalkit.sampling.identity import model_identity

    store = RunStore.open(req.run)
    manifest = store.manifest()
    identity = manifest.get("identity", {})
    if identity.get("adaptive") is not None:  # scoring the few correct texts such a run stores is not checked
        raise EvalkitError(
            f"{req.run}: sampled with --adaptive; likelihood scoring of adaptive runs is not supported (each problem "
            "stores at most R correct texts, and the categories are checked on fixed-n runs only): score a fixed-n run"
        )
    if req.backend not in ("hf", "vllm", "openai"):
        raise EvalkitError(f"likelihood: unknown backend {req.backend!r} (known: hf, vllm, openai)")
    if req.backend == "openai" and req.revision is not None:
        raise EvalkitError("likelihood: --revision pins a hub id; a server's model is named by --base-url and MODEL")
    options = {"base_url": req.base_url, "api_key": req.api_key} if req.backend == "openai" else {}
    ident = model_identity(req.backend, req.model, {"revision": req.revision, **options})
    model_manifest = None
    if req.model_run is not None:
        model_manifest = RunStore.open(req.model_run).manifest()
        other_hash = model_manifest.get("identity", {}).get("model_hash")
        if other_hash != ident["model_hash"]:
            raise EvalkitError(
                f"--model-run {req.model_run}: sampled from model hash {other_hash}, but {req.model} hashes to "
                f"{ident['model_hash']}; pass the run that was sampled from this checkpoint"
            )
    sampling = _sampling_for(req, identity, model_manifest.get("identity", {}) if model_manifest else None)
    prompt_format = prompt_format_or_refuse(identity, req.prompt_format, str(req.run))
    if req.prompt_format is not None:  # stated: the prompts are rebuilt in it, and the results file says so
        identity = {**identity, "prompt_format": prompt_format}
    if req.backend in ("vllm", "openai"):  # a sampler prompt log-probabilities cannot rebuild: refused before work
        from evalkit.likelihood.vllm_scorer import prompt_logprobs_needed

        prompt_logprobs_needed(sampling)
    out = req.out or results_path(req.run, ident["model_hash"])
    header = {
        "kind": "header",
        "format": FORMAT,
        "model": ident["model"],
        "model_hash": ident["model_hash"],
        **({"revision": ident["revision"]} if "revision" in ident else {}),
        "backend": req.backend,
        "run": str(Path(req.run).resolve()),
        "run_fingerprint": manifest.get("fingerprint"),
        "run_model_hash": identity.get("model_hash"),
        "sampling": {k: v for k, v in sampling.to_json().items() if k in ("temperature", "top_p", "top_k")},
        "end": END_RULE if req.backend == "openai" else _end_rule(identity),
        "max_per_problem": req.max_per_problem,
        "texts": "all" if req.all_texts else "correct",
        **({"prompt_format": prompt_format} if req.prompt_format is not None else {}),
        "unreachable": "a token outside the sampler's top-k / top-p set has probability 0 (logprob null)",
        "caveat": "1/p is the expected samples before the model produces exactly this text; other correct "
        "solutions may exist",
        "evalkit_version": __version__,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    lock_fd = os.open(out.parent / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise EvalkitError(f"{out.parent}: another evalkit likelihood process is writing here") from None
        return _score_locked(req, store, identity, model_manifest, sampling, header, out)
    finally:
        os.close(lock_fd)


_IDENTITY_KEYS = ("model_hash", "run_fingerprint", "sampling", "end", "max_per_problem", "format", "texts",
                  "prompt_format")  # fmt: skip
_IDENTITY_DEFAULTS = {"texts": "correct"}  # what a file made before the key existed holds


def _score_locked(
    req: LikelihoodRequest,
    store: RunStore,
    identity: dict[str, Any],
    model_manifest: dict[str, Any] | None,
    sampling: SamplingConfig,
    header: dict[str, Any],
    out: Path,
) -> Path:
    old_header, records = read_results(out)
    if old_header is not None:
        changed = [k for k in _IDENTITY_KEYS if old_header.get(k, _IDENTITY_DEFAULTS.get(k)) != header.get(k)]
        if changed and not req.force:
            what = "; ".join(f"{k}: {old_header.get(k)!r} -> {header.get(k)!r}" for k in changed)
            raise EvalkitError(f"{out}: holds scores made otherwise ({what}); use --force to score again")
        if changed:
            records = {}
    problems = {p.id: p for p in store.problems()}
    passed: dict[str, dict[int, bool]] = {}
    for pid, idx, verdict in store.iter_verdicts():
        passed.setdefault(pid, {})[idx] = verdict.passed
    todo = [pid for pid in problems if pid not in records]
    other_solved = _solved_in(Path(req.model_run)) if req.model_run is not None else None
    # pass 1: answer keys and distinct correct texts (digests only) per problem, streaming the completions
    keys: dict[str, Counter[str]] = {pid: Counter() for pid in todo}
    correct_keys: dict[str, Counter[str]] = {pid: Counter() for pid in todo}
    texts: dict[str, dict[bytes, _Text]] = {pid: {} for pid in todo}
    families: dict[str, Any] = {}
    for comp in store.iter_completions(problem_ids=todo):  # texts of the problems scored here only
        pid = comp.problem_id
        ok = passed.get(pid, {}).get(comp.sample_idx)
        if pid not in keys or ok is None:
            continue
        key = _answer_key(families, problems[pid], comp.text)
        keys[pid][key] += 1
        if ok:
            correct_keys[pid][key] += 1
        if ok or req.all_texts:
            stopped = comp.finish_reason == "stop"
            entry = texts[pid].setdefault(_digest(comp.text), _Text(0, comp.sample_idx, stopped, bool(ok)))
            entry.count += 1
            if comp.sample_idx < entry.first:
                entry.first, entry.stopped, entry.passed = comp.sample_idx, stopped, bool(ok)
    # correct texts first, then the most frequent (then the lowest sample index), at most max_per_problem each
    chosen: dict[str, list[_Text]] = {
        pid: sorted(texts[pid].values(), key=lambda t: (not t.passed, -t.count, t.first))[: max(0, req.max_per_problem)]
        for pid in todo
    }
    # pass 2: the chosen texts themselves
    wanted = {(pid, t.first) for pid in todo for t in chosen[pid]}
    text_of = {
        (c.problem_id, c.sample_idx): c.text
        for c in store.iter_completions(problem_ids={pid for pid, _ in wanted})
        if (c.problem_id, c.sample_idx) in wanted
    }
    position = {pid: i for i, pid in enumerate(problems)}

    def first_rank(pid: str) -> int:
        """0: solved here and never in the model's own run (RL-only first); 1: other solved; 2: unsolved."""
        if not correct_keys[pid]:
            return 2
        return 0 if other_solved is not None and other_solved.get(pid) is False else 1

    todo.sort(key=lambda pid: (first_rank(pid), position[pid]))
    n_texts = sum(len(chosen[pid]) for pid in todo)
    scorer = _load_scorer(req, header) if n_texts else None
    with_end_allowed = not ((identity.get("sampling") or {}).get("stop") or []) and req.backend != "openai"
    last_flush = time.monotonic()
    label = f"likelihood: {n_texts} texts of {len(todo)} problems under {header['model_hash']}"
    with progress_bar(label, n_texts, disable=req.quiet) as advance:
        for pid in todo:
            problem = problems[pid]
            record: dict[str, Any] = {
                "problem_id": pid,
                "task": problem.task,
                "n": len(passed.get(pid, {})),
                "c": int(sum(passed.get(pid, {}).values())),
                "diversity": answer_diversity(keys[pid], correct_keys[pid]),
                "distinct_correct_texts": sum(1 for t in texts[pid].values() if t.passed),
                "only_this_run_solved": None if other_solved is None else first_rank(pid) == 0,
            }
            scored_rows: list[dict[str, Any]] = []
            if chosen[pid]:
                assert scorer is not None
                prompt = scorer.prompt_ids(problem, identity)
                items = chosen[pid]
                targets = [scorer.target_ids(text_of[(pid, it.first)], with_end_allowed and it.stopped) for it in items]
                fits = [not scorer.max_positions or len(prompt) + len(t) <= scorer.max_positions for t in targets]
                scores = scorer.score(prompt, [t for t, f in zip(targets, fits, strict=True) if f], sampling)
                it_scores = iter(scores)
                for it, fit in zip(items, fits, strict=True):
                    row: dict[str, Any] = {
                        "sample_idx": it.first,
                        "count": it.count,
                        "end_scored": with_end_allowed and it.stopped,
                        "passed": it.passed,
                    }
                    if fit:
                        row.update(next(it_scores).summary())
                    else:
                        row["skipped"] = f"prompt + completion exceed the model's {scorer.max_positions} positions"
                    scored_rows.append(row)
                advance(len(items))
            record["scored"] = scored_rows
            record["best"] = _best([r for r in scored_rows if r["passed"]])
            records[pid] = record
            if time.monotonic() - last_flush >= FLUSH_SECONDS:
                _write(out, header, records, problems)
                last_flush = time.monotonic()
    _write(out, header, records, problems)
    if scorer is not None:
        getattr(scorer, "close", lambda: None)()
    return out


def _load_scorer(req: LikelihoodRequest, header: dict[str, Any]) -> Scorer | VLLMScorer | OpenAIScorer:
    """The scorer of ``req.backend``, loading the commit the results header names for a hub id."""
    revision = header.get("revision")
    if req.backend == "vllm":
        from evalkit.likelihood.vllm_scorer import VLLMScorer

        return VLLMScorer(req.model, dtype=req.dtype, revision=revision)
    if req.backend == "openai":
        from evalkit.likelihood.openai_scorer import OpenAIScorer

        return OpenAIScorer(req.model, str(req.base_url), req.api_key)
    return Scorer.load(req.model, req.device, req.dtype, revision=revision, max_batch_tokens=req.max_batch_tokens)


@dataclass
class _Text:
    """A distinct text of a problem: how many samples have it, the first of them, whether that one stopped
    (finish reason "stop") and whether it passed (a text's verdict is a function of the text)."""

    count: int
    first: int
    stopped: bool
    passed: bool


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _best(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The most likely scored text (reachable ones first, then the fewest unreachable tokens)."""
    candidates = [r for r in rows if "skipped" not in r]
    if not candidates:
        return None

    def rank(r: dict[str, Any]) -> tuple[int, float]:
        return (r["unreachable_tokens"], -(r["logprob"] if r["logprob"] is not None else r["logprob_reachable"]))

    best = min(candidates, key=rank)
    lp = best["logprob"]
    return {
        "sample_idx": best["sample_idx"],
        "logprob": lp,
        "log10_prob": None if lp is None else lp / LN10,
        "log10_expected_samples": None if lp is None else -lp / LN10,
        "n_tokens": best["n_tokens"],
        "mean_logprob": best["mean_logprob"],
        "unreachable_tokens": best["unreachable_tokens"],
        "unreachable": lp is None,
    }


def _answer_key(families: dict[str, Any], problem: Problem, text: str) -> str:
    """The verifier's dedup key of ``text`` (see :meth:`evalkit.tasks.TaskFamily.dedup_key`), tagged; the text
    with whitespace collapsed when the family has none or cannot be loaded."""
    from evalkit.tasks.registry import family_class_for

    family = families.get(problem.task)
    if family is None and problem.task not in families:
        try:
            family = family_class_for(problem)()
        except Exception:  # an unregistered user task: fall back to the text
            family = None
        families[problem.task] = family
    key = None
    if family is not None:
        try:
            key = family.dedup_key(problem, text)
        except Exception:
            key = None
    return "k:" + key if isinstance(key, str) else "t:" + " ".join(text.split())


def _solved_in(run: Path) -> dict[str, bool]:
    """Problem id -> whether the run has a passed verdict for it."""
    solved: dict[str, bool] = {}
    for pid, _idx, verdict in RunStore.open(run).iter_verdicts():
        solved[pid] = solved.get(pid, False) or verdict.passed
    return solved


def _write(out: Path, header: dict[str, Any], records: dict[str, dict[str, Any]], problems: dict[str, Problem]) -> None:
    order = {pid: i for i, pid in enumerate(problems)}
    lines = [json.dumps(header, ensure_ascii=True, allow_nan=False)]
    for pid in sorted(records, key=lambda p: order.get(p, len(order))):
        lines.append(json.dumps(records[pid], ensure_ascii=True, allow_nan=False, separators=(",", ":")))
    _write_atomic(out, "\n".join(lines) + "\n")


def print_result(path: Path, stream: Any = None) -> None:
    """A few lines about a results file: problems scored, how many had an unreachable best solution, the least
    likely best solutions."""
    stream = stream or sys.stderr
    header, records = read_results(path)
    solved = [r for r in records.values() if r.get("best")]
    unreachable = sum(1 for r in solved if r["best"]["unreachable"])
    print(f"{path}: {len(records)} problems, {len(solved)} with scored correct completions", file=stream)
    if header:
        print(f"  under {header['model_hash']} with sampling {header['sampling']}", file=stream)
    if unreachable:
        print(
            f"  {unreachable} problem(s): every scored correct text has a token this sampler cannot draw", file=stream
        )
    finite = sorted((r for r in solved if not r["best"]["unreachable"]), key=lambda r: r["best"]["logprob"])
    for r in finite[:5]:
        b = r["best"]
        print(
            f"  {r['problem_id']}: most likely correct text has log10 p = {b['log10_prob']:.2f} "
            f"(about 10^{b['log10_expected_samples']:.1f} samples), {b['n_tokens']} tokens",
            file=stream,
        )
