"""Log-probabilities recorded while sampling (hf backend): equal to a plain transformers forward pass over
prompt + completion (teacher forcing, float64 reference in numpy) under several samplers; the end token scored
as :mod:`evalkit.likelihood` scores it; stored in both store formats and read by ``load_run(...).samples()``;
old runs without the columns still load."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

import evalkit
from evalkit.sampling.base import SamplingConfig, sample_seed
from evalkit.sampling.decode import decode
from evalkit.store import RunStore, parquet
from evalkit.types import Completion, Problem

TOL = 1e-4  # nats, float32 on CPU
PROMPTS = ["12+34=", "5+7=", "99+1=", "3+40=", "8+8="]
SAMPLERS = [
    SamplingConfig(temperature=1.0, max_tokens=12),  # untruncated
    SamplingConfig(temperature=0.7, top_k=5, max_tokens=12),
    SamplingConfig(temperature=0.7, top_p=0.8, max_tokens=12),
    SamplingConfig(temperature=1.3, top_k=8, top_p=0.9, max_tokens=12),
    SamplingConfig(temperature=0.0, max_tokens=12),  # greedy
    SamplingConfig(temperature=1.0, top_p=0.95, max_tokens=3),  # rows cut at max_tokens: no end scored
]


def _log_softmax(x: np.ndarray) -> np.ndarray:
    finite = x[np.isfinite(x)]
    top = finite.max()
    return x - (top + np.log(np.exp(finite - top).sum()))


def _logsumexp(x: np.ndarray) -> float:
    finite = x[np.isfinite(x)]
    if not finite.size:
        return float("-inf")
    top = finite.max()
    return float(top + np.log(np.exp(finite - top).sum()))


def reference_sampler_log_probs(logits: np.ndarray, sampling: SamplingConfig) -> np.ndarray:
    """The sampler's distribution over one position's vocabulary, written from its definition: logits / T, keep
    the top-k scores (ties with the k-th kept), then the smallest prefix of the sorted distribution whose mass
    before a token stays below top-p (the first token always kept), renormalised; greedy is the argmax."""
    logits = logits.astype(np.float64)
    if sampling.temperature == 0:
        out = np.full_like(logits, -np.inf)
        out[int(np.argmax(logits))] = 0.0
        return out
    scores = logits / sampling.temperature
    if sampling.top_k and sampling.top_k < scores.size:
        kth = np.sort(scores)[::-1][sampling.top_k - 1]
        scores = np.where(scores < kth, -np.inf, scores)
    if sampling.top_p < 1.0:
        order = np.argsort(-scores, kind="stable")
        probs = np.exp(_log_softmax(scores))[order]
        before = np.cumsum(probs) - probs
        drop = order[before >= sampling.top_p]
        scores = scores.copy()
        scores[drop] = -np.inf
    return _log_softmax(scores)


def teacher_forced(
    model: Any,
    prompt: Sequence[int],
    generated: Sequence[int],
    stopped: bool,
    end_ids: Sequence[int],
    sampling: SamplingConfig,
) -> tuple[float, float]:
    """(sampler, raw) log-probability of ``generated`` after ``prompt`` from one plain forward pass over both;
    when ``stopped``, the last token is the end, scored as the probability of any of ``end_ids``."""
    ids = torch.tensor([list(prompt) + list(generated)])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].double().numpy()
    total_sampler = total_raw = 0.0
    for j, token in enumerate(generated):
        row = logits[len(prompt) - 1 + j]
        sampler, raw = reference_sampler_log_probs(row, sampling), _log_softmax(row)
        if stopped and j == len(generated) - 1:
            total_sampler += _logsumexp(sampler[list(end_ids)])
            total_raw += _logsumexp(raw[list(end_ids)])
        else:
            total_sampler += float(sampler[token])
            total_raw += float(raw[token])
    return total_sampler, total_raw


@pytest.fixture(scope="module")
def lm(tiny_ckpt: Path) -> tuple[Any, Any]:
    from evalkit.sampling.hf import load_model_and_tokenizer

    model, tokenizer, _ = load_model_and_tokenizer(str(tiny_ckpt), "cpu", "float32")
    return model, tokenizer


@pytest.mark.parametrize("sampling", SAMPLERS, ids=lambda s: f"T{s.temperature}-k{s.top_k}-p{s.top_p}")
def test_decode_log_probs_equal_a_teacher_forced_forward_pass(lm: tuple[Any, Any], sampling: SamplingConfig) -> None:
    model, tok = lm
    prompts = [tok(p)["input_ids"] for p in PROMPTS * 3]  # different lengths: left padding, rows ending apart
    seeds = [sample_seed(1, "lp", i) for i in range(len(prompts))]
    outs = decode(model, prompts, seeds, sampling, tok.eos_token_id, tok.pad_token_id, logprobs=True)
    plain = decode(model, prompts, seeds, sampling, tok.eos_token_id, tok.pad_token_id)
    assert [o.token_ids for o in outs] == [o.token_ids for o in plain]  # recording draws the same samples
    assert all(o.logprob_sampler is None and o.logprob_raw is None for o in plain)
    if sampling.max_tokens == 3:
        assert {o.finish_reason for o in outs} == {"stop", "length"}
    worst = 0.0
    for prompt, out in zip(prompts, outs, strict=True):
        assert out.logprob_sampler is not None and out.logprob_raw is not None
        want_sampler, want_raw = teacher_forced(
            model, prompt, out.token_ids, out.finish_reason == "stop", [tok.eos_token_id], sampling
        )
        worst = max(worst, abs(out.logprob_sampler - want_sampler), abs(out.logprob_raw - want_raw))
        assert out.logprob_sampler <= 0.0 and out.logprob_raw <= 0.0
        if sampling.temperature == 1.0 and not sampling.top_k and sampling.top_p == 1.0:
            assert out.logprob_sampler == pytest.approx(out.logprob_raw, abs=1e-6)
    assert worst < TOL


def test_several_end_ids_are_scored_as_any_end(lm: tuple[Any, Any]) -> None:
    """With two end ids (an instruct model's ``<|endoftext|>`` and ``<|im_end|>``), a row that stops is scored
    with the probability of stopping there, the sum over both ids, as evalkit.likelihood scores its end."""
    model, tok = lm
    other_end = tok("9", add_special_tokens=False)["input_ids"][-1]  # an ordinary token declared an end id
    ends = [tok.eos_token_id, other_end]
    prompts = [tok(p)["input_ids"] for p in PROMPTS * 4]
    seeds = [sample_seed(2, "ends", i) for i in range(len(prompts))]
    sampling = SamplingConfig(temperature=1.0, top_k=6, max_tokens=10)
    outs = decode(model, prompts, seeds, sampling, ends, tok.pad_token_id, logprobs=True)
    assert any(o.token_ids[-1] == other_end for o in outs)  # both kinds of end occur
    for prompt, out in zip(prompts, outs, strict=True):
        stopped = out.finish_reason == "stop"
        want_sampler, want_raw = teacher_forced(model, prompt, out.token_ids, stopped, ends, sampling)
        assert out.logprob_sampler == pytest.approx(want_sampler, abs=TOL)
        assert out.logprob_raw == pytest.approx(want_raw, abs=TOL)


# -- the hf backend, the store and the frame ----------------------------------------------------------------


def _problems() -> list[Problem]:
    return [Problem(f"p{i}", "add", prompt, "0") for i, prompt in enumerate(PROMPTS)]


@pytest.fixture(scope="module")
def backend(tiny_ckpt: Path) -> Any:
    from evalkit.sampling.hf import HFBackend

    return HFBackend(str(tiny_ckpt), device="cpu", dtype="float32", batch_size=7)


@pytest.mark.parametrize("sampling", SAMPLERS[:3], ids=["T1", "T0.7-k5", "T0.7-p0.8"])
def test_hf_backend_records_what_teacher_forcing_and_evalkit_likelihood_compute(
    backend: Any, sampling: SamplingConfig
) -> None:
    from evalkit.likelihood import Scorer

    jobs = [(p, range(4)) for p in _problems()]
    comps = [c for chunk in backend.generate(jobs, sampling, 11) for c in chunk]
    scorer = Scorer(backend.model, backend.tokenizer)
    problems = {p.id: p for p in _problems()}
    for c in comps:
        stopped = c.finish_reason == "stop"
        prompt = backend.encode_prompt(problems[c.problem_id], sampling)
        text_ids = backend.tokenizer(c.text, add_special_tokens=False)["input_ids"]
        generated = [*text_ids, backend.eos_ids[0]] if stopped else text_ids
        assert c.logprob_tokens == len(generated) == c.n_tokens
        want_sampler, want_raw = teacher_forced(backend.model, prompt, generated, stopped, backend.eos_ids, sampling)
        assert c.logprob_sampler == pytest.approx(want_sampler, abs=TOL)
        assert c.logprob_raw == pytest.approx(want_raw, abs=TOL)
        # the same number as `evalkit likelihood` gives the text (end scored when it stopped)
        [scored] = scorer.score(prompt, [scorer.target_ids(c.text, stopped)], sampling)
        assert scored.n_tokens == c.logprob_tokens and c.logprob_sampler == pytest.approx(scored.total, abs=TOL)


def test_hf_backend_without_recording_stores_nulls(backend: Any) -> None:
    sampling = SamplingConfig(max_tokens=8)
    jobs = [(p, range(2)) for p in _problems()[:2]]
    with_lp = [c for chunk in backend.generate(jobs, sampling, 3) for c in chunk]
    backend.logprobs = False
    try:
        without = [c for chunk in backend.generate(jobs, sampling, 3) for c in chunk]
    finally:
        backend.logprobs = True
    assert without == with_lp  # the same samples
    assert all(c.logprob_sampler is None and c.logprob_raw is None and c.logprob_tokens is None for c in without)


@pytest.mark.parametrize("store_format", [1, 2])
def test_stored_log_probs_round_trip_into_the_samples_frame(tmp_path: Path, store_format: int) -> None:
    store, _ = RunStore.create_or_resume(
        tmp_path / "run", {"model": "m"}, {"n": 2}, _problems(), store_format=store_format
    )
    comps = [
        Completion("p0", 0, "46", 3, "stop", 1, -2.5, -3.25, 3),
        Completion("p0", 1, "4", 4, "length", 2, -0.1234567890123, -7.0, 4),
        Completion("p1", 0, "x", 1, "stop", 3),  # not recorded (another backend)
    ]
    store.append_completions(comps)
    store.unlock()
    back = {(c.problem_id, c.sample_idx): c for c in RunStore.open(tmp_path / "run").iter_completions()}
    for c in comps:
        got = back[(c.problem_id, c.sample_idx)]
        assert (got.logprob_sampler, got.logprob_raw, got.logprob_tokens) == (
            c.logprob_sampler,
            c.logprob_raw,
            c.logprob_tokens,
        )
    frame = evalkit.load_run(tmp_path / "run").samples().set_index(["problem_id", "sample_idx"])
    assert frame.loc[("p0", 1), "logprob_sampler"] == -0.1234567890123
    assert frame.loc[("p0", 0), "logprob_raw"] == -3.25 and frame.loc[("p0", 0), "logprob_tokens"] == 3
    assert np.isnan(frame.loc[("p1", 0), "logprob_sampler"]) and frame.loc[("p1", 0), "logprob_tokens"] is pd.NA
    if store_format == 1:  # an unrecorded completion is written as before: no new fields at all
        lines = (tmp_path / "run" / "completions" / "000000.jsonl").read_text().splitlines()
        assert "logprob" not in lines[2] and json.loads(lines[0])["logprob_tokens"] == 3


def test_an_old_format_2_run_without_the_columns_still_loads(tmp_path: Path) -> None:
    store, _ = RunStore.create_or_resume(tmp_path / "run", {"model": "m"}, {"n": 2}, _problems(), store_format=2)
    store.unlock()
    old_schema = pa.schema([f for f in parquet.COMPLETION_SCHEMA if not f.name.startswith("logprob")])
    table = pa.table(
        {
            "problem_id": ["p0", "p0"],
            "sample_idx": pa.array([0, 1], pa.int32()),
            "text": pa.array(["46", "4"], pa.large_string()),
            "text_surrogatepass": pa.array([None, None], pa.large_binary()),
            "n_tokens": pa.array([3, 4], pa.int32()),
            "finish_reason": ["stop", "length"],
            "seed": pa.array([1, 2], pa.int64()),
        },
        schema=old_schema,
    )
    pq.write_table(table, tmp_path / "run" / "completions" / "000000.parquet")
    comps = list(RunStore.open(tmp_path / "run").iter_completions())
    assert [(c.text, c.logprob_sampler, c.logprob_raw, c.logprob_tokens) for c in comps] == [
        ("46", None, None, None),
        ("4", None, None, None),
    ]
    frame = evalkit.load_run(tmp_path / "run").samples()
    assert len(frame) == 2 and frame["logprob_sampler"].isna().all() and frame["logprob_raw"].isna().all()


def test_an_old_format_1_run_without_the_fields_still_loads(tmp_path: Path) -> None:
    store, _ = RunStore.create_or_resume(tmp_path / "run", {"model": "m"}, {"n": 1}, _problems(), store_format=1)
    store.unlock()
    old = {"problem_id": "p0", "sample_idx": 0, "text": "46", "n_tokens": 3, "finish_reason": "stop", "seed": 1}
    (tmp_path / "run" / "completions" / "000000.jsonl").write_text(json.dumps(old) + "\n")
    [comp] = RunStore.open(tmp_path / "run").iter_completions()
    assert comp == Completion("p0", 0, "46", 3, "stop", 1) and comp.logprob_sampler is None
    assert evalkit.load_run(tmp_path / "run").samples()["logprob_raw"].isna().all()


def test_a_resumed_run_records_the_same_log_probs_as_an_uninterrupted_one(tiny_ckpt: Path, tmp_path: Path) -> None:
    from evalkit.sampling.runner import SampleRequest, sample
    from evalkit.tasks import TaskSpec

    def request(out: Path, n: int) -> SampleRequest:
        return SampleRequest(
            model=str(tiny_ckpt),
            specs=[TaskSpec.parse("add@digits=2")],
            n=n,
            out=out,
            sampling=SamplingConfig(temperature=0.8, top_k=6, max_tokens=6),
            seed=3,
            limit=3,
            backend_options={"batch_size": 5, "device": "cpu"},
            workers=1,
            quiet=True,
        )

    sample(request(tmp_path / "resumed", 2)).unlock()
    sample(request(tmp_path / "resumed", 4)).unlock()  # the same run with more samples: resumes
    sample(request(tmp_path / "whole", 4)).unlock()
    resumed = evalkit.load_run(tmp_path / "resumed").samples()
    whole = evalkit.load_run(tmp_path / "whole").samples()
    assert len(resumed) == 12 and resumed["logprob_sampler"].notna().all() and resumed["logprob_raw"].notna().all()
    assert list(resumed["seed"]) == list(whole["seed"])
    np.testing.assert_allclose(resumed["logprob_sampler"], whole["logprob_sampler"], atol=1e-5)
    np.testing.assert_allclose(resumed["logprob_raw"], whole["logprob_raw"], atol=1e-5)
    assert list(resumed["logprob_tokens"]) == list(resumed["n_tokens"])


def test_sample_no_logprobs_stores_nulls_and_is_the_same_run(tiny_ckpt: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    def main(args: list[str]) -> int:
        return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, timeout=300).returncode

    out = tmp_path / "run"
    args = ["sample", str(tiny_ckpt), "--task", "add@digits=2", "--n", "2", "--limit", "2", "--max-tokens", "4"]
    args += ["--out", str(out), "--device", "cpu", "--workers", "1"]
    assert main([*args, "--no-logprobs"]) == 0
    frame = evalkit.load_run(out).samples()
    assert len(frame) == 4 and frame["logprob_sampler"].isna().all() and frame["logprob_tokens"].isna().all()
    assert main([*args, "--n", "3"]) == 0  # recording is not part of the run's identity: it resumes
    frame = evalkit.load_run(out).samples()
    assert frame["logprob_sampler"].notna().sum() == 2 and frame["logprob_raw"].notna().sum() == 2
