"""Sampling: per-sample seeds, the Gumbel-max sampler, batched decoding, the hf and replay backends."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from scipy import stats

from evalkit.errors import EvalkitError
from evalkit.sampling.base import SamplingConfig, make_backend, sample_seed
from evalkit.sampling.decode import choose_tokens, decode, gumbel_noise
from evalkit.sampling.replay import MAX_TEXT_CHARS, read_samples
from evalkit.types import Completion, Problem

# -- sample_seed -------------------------------------------------------------------------------------


def test_sample_seeds_are_distinct_across_problems_and_indices() -> None:
    seeds = [sample_seed(0, f"add-1234abcd-s0-{p:05d}", i) for p in range(400) for i in range(128)]
    assert len(set(seeds)) == len(seeds)


def test_sample_seed_is_block_base_plus_index() -> None:
    for pid in ("a", "add-1234abcd-s0-00001", "x" * 300):
        base = sample_seed(3, pid, 0)
        for i in (1, 2, 17, 1023, (1 << 20) - 1):
            assert sample_seed(3, pid, i) == base + i


def test_sample_seed_fits_in_63_bits() -> None:
    for run_seed in (0, 1, 2**40, -5):
        for p in range(300):
            for i in (0, (1 << 20) - 1):
                assert 0 <= sample_seed(run_seed, f"p{p}", i) < 2**63


def test_sample_seed_depends_on_the_run_seed() -> None:
    for p in range(200):
        assert sample_seed(0, f"p{p}", 5) != sample_seed(1, f"p{p}", 5)


def test_sample_seed_is_deterministic() -> None:
    assert sample_seed(7, "p", 3) == sample_seed(7, "p", 3)


@pytest.mark.parametrize("idx", [-1, 1 << 20])
def test_sample_seed_rejects_out_of_range_index(idx: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        sample_seed(0, "p", idx)


# -- gumbel_noise / choose_tokens --------------------------------------------------------------------

LOGITS = [2.0, 1.0, 0.5, 0.0, -1.0]
N_DRAWS = 20_000


def _seeds(n: int, offset: int = 0) -> torch.Tensor:
    return torch.tensor([sample_seed(11, "chi", i) + offset for i in range(n)], dtype=torch.int64)


def _draw(logits: Sequence[float], sampling: SamplingConfig, n: int = N_DRAWS, step: int = 0) -> np.ndarray:
    rows = torch.tensor([list(logits)], dtype=torch.float32).expand(n, -1)
    tokens = choose_tokens(rows, _seeds(n), step, sampling)
    return np.bincount(tokens.numpy(), minlength=len(logits))


def test_gumbel_noise_is_a_pure_function_of_seed_and_step() -> None:
    seeds = _seeds(16)
    a = gumbel_noise(seeds, 3, 50)
    assert a.shape == (16, 50)
    assert a.dtype == torch.float32
    assert torch.equal(a, gumbel_noise(seeds.clone(), 3, 50))
    # a row depends on its own seed only, not on its position or neighbours
    assert torch.equal(gumbel_noise(seeds[5:6], 3, 50)[0], a[5])
    assert torch.equal(gumbel_noise(seeds.flip(0), 3, 50), a.flip(0))


def test_gumbel_noise_differs_across_seeds_steps_and_tokens() -> None:
    seeds = _seeds(64)
    a = gumbel_noise(seeds, 0, 32)
    assert len({tuple(row.tolist()) for row in a}) == 64  # no two seeds give the same row
    assert not torch.equal(a, gumbel_noise(seeds, 1, 32))
    assert (a != gumbel_noise(seeds, 1, 32)).float().mean() > 0.99
    assert len(set(a[0].tolist())) == 32  # tokens of a row get different draws


def test_gumbel_noise_uses_the_high_bits_of_the_seed() -> None:
    lo = torch.tensor([12345], dtype=torch.int64)
    hi = lo + (1 << 40)
    assert not torch.equal(gumbel_noise(lo, 0, 16), gumbel_noise(hi, 0, 16))


def test_gumbel_noise_is_gumbel_distributed() -> None:
    values = gumbel_noise(_seeds(4000), 2, 5).flatten().double().numpy()
    assert np.isfinite(values).all()
    assert stats.kstest(values, stats.gumbel_r.cdf).pvalue > 1e-4


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_choose_tokens_samples_from_the_tempered_softmax(temperature: float) -> None:
    counts = _draw(LOGITS, SamplingConfig(temperature=temperature))
    probs = torch.softmax(torch.tensor(LOGITS, dtype=torch.float64) / temperature, 0).numpy()
    assert counts.sum() == N_DRAWS
    assert stats.chisquare(counts, probs * N_DRAWS).pvalue > 1e-4


def test_choose_tokens_different_steps_are_independent_draws() -> None:
    sampling = SamplingConfig(temperature=1.0)
    rows = torch.tensor([LOGITS], dtype=torch.float32).expand(N_DRAWS, -1)
    a = choose_tokens(rows, _seeds(N_DRAWS), 0, sampling).numpy()
    b = choose_tokens(rows, _seeds(N_DRAWS), 1, sampling).numpy()
    table = np.zeros((5, 5))
    np.add.at(table, (a, b), 1)
    table = table[table.sum(1) > 0][:, table.sum(0) > 0]
    assert stats.chi2_contingency(table).pvalue > 1e-4


def test_choose_tokens_top_k_keeps_only_the_best_tokens() -> None:
    logits = [0.0, 2.0, -1.0, 1.0, 0.5]  # best two are tokens 1 and 3
    counts = _draw(logits, SamplingConfig(temperature=1.0, top_k=2))
    assert set(np.flatnonzero(counts)) == {1, 3}
    kept = torch.softmax(torch.tensor([2.0, 1.0], dtype=torch.float64), 0).numpy()
    assert stats.chisquare(counts[[1, 3]], kept * N_DRAWS).pvalue > 1e-4


def test_choose_tokens_top_p_never_samples_the_tail() -> None:
    logits = [0.0, 2.0, -1.0, 1.0, 0.5]
    probs = torch.softmax(torch.tensor(logits), 0)  # sorted: 1 (.57), 3 (.21), 4 (.13), 0 (.08), 2 (.03)
    assert probs[1] < 0.7 < probs[1] + probs[3]
    counts = _draw(logits, SamplingConfig(temperature=1.0, top_p=0.7))
    assert set(np.flatnonzero(counts)) == {1, 3}


def test_choose_tokens_top_p_always_keeps_the_first_token() -> None:
    logits = [0.0, 2.0, -1.0, 1.0, 0.5]
    counts = _draw(logits, SamplingConfig(temperature=1.0, top_p=0.01), n=2000)
    assert counts[1] == 2000


def test_choose_tokens_temperature_zero_is_argmax() -> None:
    logits = torch.randn(64, 40, generator=torch.Generator().manual_seed(0))
    chosen = choose_tokens(logits, _seeds(64), 0, SamplingConfig(temperature=0.0, top_k=3, top_p=0.5))
    assert torch.equal(chosen, logits.argmax(-1))


# -- decode on the tiny checkpoint -------------------------------------------------------------------

PROMPTS = ["12+34=", "5+7=", "99+1=", "3+40=", "8+8="]


@pytest.fixture(scope="module")
def lm(tiny_ckpt: Path) -> tuple[Any, Any]:
    from evalkit.sampling.hf import load_model_and_tokenizer

    model, tokenizer, device = load_model_and_tokenizer(str(tiny_ckpt), "cpu", "float32")
    assert device == "cpu"
    return model, tokenizer


def _ids(tokenizer: Any, text: str) -> list[int]:
    ids: list[int] = tokenizer(text)["input_ids"]
    return ids


def _decode(lm: tuple[Any, Any], prompts: Sequence[str], seeds: Sequence[int], sampling: SamplingConfig) -> list[Any]:
    model, tok = lm
    return decode(model, [_ids(tok, p) for p in prompts], seeds, sampling, tok.eos_token_id, tok.pad_token_id)


def test_greedy_decode_equals_generate(lm: tuple[Any, Any]) -> None:
    model, tok = lm
    sampling = SamplingConfig(temperature=0.0, max_tokens=10)
    batched = _decode(lm, PROMPTS, range(len(PROMPTS)), sampling)  # left-padded batch of different prompts
    for prompt, from_batch in zip(PROMPTS, batched, strict=True):
        ids = torch.tensor([_ids(tok, prompt)])
        ref = model.generate(ids, do_sample=False, max_new_tokens=10, pad_token_id=tok.pad_token_id)
        expected = ref[0, ids.shape[1] :].tolist()
        [alone] = _decode(lm, [prompt], [123], sampling)
        assert alone.token_ids == expected, prompt
        assert from_batch.token_ids == expected, prompt
        assert tok.decode(alone.token_ids, skip_special_tokens=True) == tok.decode(
            ref[0, ids.shape[1] :], skip_special_tokens=True
        )


def test_sampled_rows_do_not_depend_on_their_batch(lm: tuple[Any, Any]) -> None:
    sampling = SamplingConfig(temperature=1.0, max_tokens=16)
    prompt = PROMPTS[0]
    seeds = [sample_seed(0, "batch", i) for i in range(8)]
    alone = [_decode(lm, [prompt], [s], sampling)[0].token_ids for s in seeds]
    together = [g.token_ids for g in _decode(lm, [prompt] * 8, seeds, sampling)]  # shared prefill
    assert together == alone
    # mixed with other (longer and shorter) prompts: left padding and row dropping must not leak
    others = ["1+1=", "45+67=", "9+0="]
    mixed_prompts = [others[0], prompt, others[1], prompt, others[2], prompt]
    mixed_seeds = [1, seeds[2], 2, seeds[5], 3, seeds[7]]
    mixed = _decode(lm, mixed_prompts, mixed_seeds, sampling)
    assert [mixed[1].token_ids, mixed[3].token_ids, mixed[5].token_ids] == [alone[2], alone[5], alone[7]]
    # sampling at temperature 1 is not degenerate: different seeds give different samples
    assert len({tuple(t) for t in alone}) > 1


def test_buffer_cache_matches_the_stock_dynamic_cache(lm: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The preallocated key/value buffer is an optimisation only: same tokens as transformers' own cache,
    with a reused (dirty) workspace, with rows finishing at different steps and with padded prompts."""
    import evalkit.sampling.decode as decode_mod

    model, tok = lm
    prompts = [_ids(tok, p) for p in (PROMPTS * 6)[:27]]
    seeds = [sample_seed(9, "cache", i) for i in range(27)]
    workspace = decode_mod.Workspace()
    runs = {}
    for label, sampling in (
        ("greedy", SamplingConfig(temperature=0.0, max_tokens=12)),
        ("t1", SamplingConfig(max_tokens=20)),
    ):
        dirty = decode(model, prompts[::-1], seeds, sampling, tok.eos_token_id, tok.pad_token_id, None, workspace)
        assert dirty  # leaves other values in the workspace's buffers
        buffered = decode(model, prompts, seeds, sampling, tok.eos_token_id, tok.pad_token_id, None, workspace)
        runs[label] = [(g.token_ids, g.finish_reason) for g in buffered]
    assert len({len(t) for t, _ in runs["t1"]}) > 1  # rows did finish at different steps
    monkeypatch.setattr(decode_mod, "_buffer_layer_class", lambda: None)  # as on transformers without cache layers
    for label, sampling in (
        ("greedy", SamplingConfig(temperature=0.0, max_tokens=12)),
        ("t1", SamplingConfig(max_tokens=20)),
    ):
        stock = decode(model, prompts, seeds, sampling, tok.eos_token_id, tok.pad_token_id)
        assert [(g.token_ids, g.finish_reason) for g in stock] == runs[label], label


def test_buffer_layer_grows_past_its_capacity_and_keeps_its_rows() -> None:
    from evalkit.sampling.decode import Workspace, _buffer_layer_class

    layer_cls = _buffer_layer_class()
    assert layer_cls is not None
    layer = layer_cls(3, Workspace(), "0")
    k1, v1 = torch.randn(2, 1, 2, 4), torch.randn(2, 1, 2, 4)
    layer.update(k1, v1)
    k2, v2 = torch.randn(2, 1, 2, 4), torch.randn(2, 1, 2, 4)  # 4 positions > capacity 3
    keys, values = layer.update(k2, v2)
    assert layer.get_seq_length() == 4
    assert torch.equal(keys, torch.cat([k1, k2], dim=2)) and torch.equal(values, torch.cat([v1, v2], dim=2))
    layer.batch_select_indices(torch.tensor([1, 1, 0]))  # a repeat: more rows than before
    assert torch.equal(layer.keys, torch.cat([k1, k2], dim=2)[[1, 1, 0]])
    layer.batch_select_indices(torch.tensor([2]))  # compaction in place
    assert torch.equal(layer.values, torch.cat([v1, v2], dim=2)[[0]])


def test_max_tokens_one_stops_by_length_unless_eos(lm: tuple[Any, Any]) -> None:
    _, tok = lm
    outs = _decode(lm, ["5+7="] * 32, [sample_seed(0, "one", i) for i in range(32)], SamplingConfig(max_tokens=1))
    for out in outs:
        assert len(out.token_ids) == 1
        expected = "stop" if out.token_ids[0] == tok.eos_token_id else "length"
        assert out.finish_reason == expected


def test_token_counts_and_finish_reasons_are_consistent(lm: tuple[Any, Any]) -> None:
    _, tok = lm
    eos = tok.eos_token_id
    seeds = [sample_seed(4, "count", i) for i in range(40)]
    reasons = set()
    # 2 tokens: most rows hit the limit; 30 tokens: the model has room to end its answer
    for max_tokens in (2, 30):
        outs = _decode(lm, (PROMPTS * 8)[:40], seeds, SamplingConfig(temperature=1.5, max_tokens=max_tokens))
        for out in outs:
            assert 1 <= len(out.token_ids) <= max_tokens
            assert eos not in out.token_ids[:-1]  # decoding stops at the first end-of-sequence token
            if out.token_ids[-1] == eos:
                assert out.finish_reason == "stop"
            else:
                assert out.finish_reason == "length"
                assert len(out.token_ids) == max_tokens
            reasons.add(out.finish_reason)
    assert reasons == {"stop", "length"}  # both branches were exercised


# -- the hf backend ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backend(tiny_ckpt: Path) -> Any:
    from evalkit.sampling.hf import HFBackend

    return HFBackend(str(tiny_ckpt), device="cpu", dtype="float32", batch_size=3)


def _problem(pid: str, prompt: str) -> Problem:
    return Problem(pid, "add", prompt, "0")


def _generate(backend: Any, jobs: Any, sampling: SamplingConfig, run_seed: int = 5) -> list[Completion]:
    return [c for chunk in backend.generate(jobs, sampling, run_seed) for c in chunk]


def test_hf_backend_generates_exactly_the_requested_samples(backend: Any) -> None:
    p0, p1 = _problem("p0", "12+34="), _problem("p1", "5+7=")
    sampling = SamplingConfig(temperature=1.0, max_tokens=8)
    chunks = list(backend.generate([(p0, [0, 3, 7]), (p1, [2, 5])], sampling, 5))
    assert [len(c) for c in chunks] == [3, 2]  # batch_size=3: chunks ready to persist
    out = [c for chunk in chunks for c in chunk]
    assert [(c.problem_id, c.sample_idx) for c in out] == [("p0", 0), ("p0", 3), ("p0", 7), ("p1", 2), ("p1", 5)]
    for c in out:
        assert c.seed == sample_seed(5, c.problem_id, c.sample_idx)
        assert c.finish_reason in {"stop", "length"}
        assert 1 <= c.n_tokens <= 8
        assert isinstance(c.text, str)
    # resuming (other indices, other batch shapes) reproduces the same samples
    backend.batch_size = 1
    try:
        again = _generate(backend, [(p1, [5]), (p0, [3])], sampling)
    finally:
        backend.batch_size = 3
    assert again == [out[4], out[1]]


def test_hf_backend_describe_matches_model_identity(backend: Any, tiny_ckpt: Path) -> None:
    from evalkit.sampling.identity import model_identity

    assert backend.describe() == model_identity("hf", str(tiny_ckpt))
    assert len(backend.describe()["model_hash"]) == 16


def test_prompt_longer_than_the_context_names_the_problem(backend: Any) -> None:
    assert backend.max_positions == 48
    long = _problem("too-long-17", "1" * 200)
    fine = _problem("fine-1", "1+1=")
    with pytest.raises(EvalkitError, match=r"problem too-long-17: the prompt alone is 201 tokens, .*context of 48;"):
        _generate(backend, [(fine, [0]), (long, [0])], SamplingConfig(max_tokens=4))


def test_prompt_plus_max_tokens_over_the_context_is_refused(backend: Any) -> None:
    with pytest.raises(EvalkitError, match=r"problem short-1:.*--max-tokens 45"):
        _generate(backend, [(_problem("short-1", "12+34="), [0])], SamplingConfig(max_tokens=45))


def test_missing_checkpoint_model_identity() -> None:
    from evalkit.sampling.identity import model_identity

    with pytest.raises(EvalkitError, match="/no/such/dir"):
        model_identity("hf", "/no/such/dir")


def test_missing_checkpoint_hf_backend() -> None:
    from evalkit.sampling.hf import HFBackend

    with pytest.raises(EvalkitError, match="'/no/such/dir': no such checkpoint directory"):
        HFBackend("/no/such/dir", device="cpu")


def test_directory_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    from evalkit.sampling.identity import model_identity

    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(EvalkitError, match=r"no config\.json"):
        model_identity("hf", str(tmp_path))


def test_stop_strings_cut_the_text(backend: Any) -> None:
    problem = _problem("p-stop", "45+67=")
    sampling = SamplingConfig(temperature=1.0, max_tokens=20)
    plain = _generate(backend, [(problem, range(12))], sampling)
    # a sample with a character that is not its first, so that the cut leaves some text
    sample = next(c for c in plain if len(set(c.text)) > 1)
    j = next(i for i, ch in enumerate(sample.text) if ch != sample.text[0])
    stop = sample.text[j]
    [cut] = _generate(
        backend, [(problem, [sample.sample_idx])], SamplingConfig(temperature=1.0, max_tokens=20, stop=(stop,))
    )
    assert cut.text == sample.text[:j]
    assert stop not in cut.text
    assert cut.finish_reason == "stop"
    assert cut.n_tokens < sample.n_tokens or sample.finish_reason == "length"
    assert cut.seed == sample.seed


# -- the replay backend ------------------------------------------------------------------------------


def _write(path: Path, rows: Sequence[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_read_samples_good_file(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "s.jsonl",
        [
            {"problem_id": "a", "completion": "1", "sample_idx": 0},
            {"problem_id": "a", "completion": "2", "sample_idx": 1, "n_tokens": 3, "finish_reason": "length"},
            "",
            {"problem_id": "b", "completion": "\udcff\x00"},
        ],
    )
    out = read_samples(path, {"a", "b"})
    assert out == {
        ("a", 0): Completion("a", 0, "1", 0, "unknown", -1),
        ("a", 1): Completion("a", 1, "2", 3, "length", -1),
        ("b", 0): Completion("b", 0, "\udcff\x00", 0, "unknown", -1),
    }


def test_read_samples_assigns_indices_in_file_order(tmp_path: Path) -> None:
    rows = [{"problem_id": pid, "completion": f"{pid}{k}"} for k, pid in enumerate("abaab")]
    out = read_samples(_write(tmp_path / "s.jsonl", rows))
    assert sorted(out) == [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1)]
    assert [out[("a", i)].text for i in range(3)] == ["a0", "a2", "a3"]
    assert [out[("b", i)].text for i in range(2)] == ["b1", "b4"]


GOOD = {"problem_id": "a", "completion": "1"}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('{"problem_id": "a", "completion": ', "not valid JSON"),
        ('["a", "1"]', "expected a JSON object"),
        ({"completion": "1"}, "problem_id"),
        ({"problem_id": 3, "completion": "1"}, "problem_id"),
        ({"problem_id": "a", "completion": 12}, "'completion'"),
        ({"problem_id": "a"}, "'completion'"),
        ({"problem_id": "zzz", "completion": "1"}, "unknown problem id 'zzz'"),
        ({"problem_id": "a", "completion": "1", "sample_idx": 0}, "sample_idx 0 appears twice"),
        ({"problem_id": "a", "completion": "1", "finish_reason": "eos"}, "finish_reason"),
        ({"problem_id": "a", "completion": "1", "sample_idx": -1}, "'sample_idx' must be an integer >= 0"),
        ({"problem_id": "a", "completion": "1", "sample_idx": "2"}, "'sample_idx' must be an integer >= 0"),
        ({"problem_id": "a", "completion": "1", "n_tokens": -4}, "'n_tokens'"),
    ],
    ids=[
        "broken-json",
        "not-object",
        "missing-problem-id",
        "non-string-problem-id",
        "non-string-completion",
        "missing-completion",
        "unknown-problem",
        "duplicate-index",
        "bad-finish-reason",
        "negative-index",
        "string-index",
        "negative-n-tokens",
    ],
)
def test_read_samples_bad_line_names_file_and_line(tmp_path: Path, bad: Any, message: str) -> None:
    path = _write(tmp_path / "s.jsonl", [GOOD, "", bad, GOOD])
    with pytest.raises(EvalkitError, match=f"(?s){re.escape(str(path))}:3: .*{re.escape(message)}"):
        read_samples(path, {"a", "b"})


def test_read_samples_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    with pytest.raises(EvalkitError, match="no samples"):
        read_samples(path)


def test_read_samples_blank_lines_only(tmp_path: Path) -> None:
    path = tmp_path / "blank.jsonl"
    path.write_text("\n  \n\n")
    with pytest.raises(EvalkitError, match="no samples"):
        read_samples(path)


def test_read_samples_missing_file(tmp_path: Path) -> None:
    with pytest.raises(EvalkitError, match="no such file"):
        read_samples(tmp_path / "nope.jsonl")


def test_read_samples_keeps_a_long_completion_whole(tmp_path: Path) -> None:
    long = "7" * 2_000_000 + " \\boxed{42}"
    path = _write(tmp_path / "s.jsonl", [{"problem_id": "a", "completion": long}, GOOD])
    out = read_samples(path)
    assert out[("a", 0)].text == long and out[("a", 0)].finish_reason == "unknown"
    assert out[("a", 1)] == Completion("a", 1, "1", 0, "unknown", -1)


def test_read_samples_refuses_a_completion_over_the_limit(tmp_path: Path) -> None:
    giant = "7" * (MAX_TEXT_CHARS + 1)
    path = _write(tmp_path / "s.jsonl", [GOOD, {"problem_id": "a", "completion": giant}])
    with pytest.raises(EvalkitError, match=r"s\.jsonl:2: problem a: the completion has 8,000,001 characters"):
        read_samples(path)


def test_replay_backend_serves_stored_samples(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.jsonl", [GOOD, {"problem_id": "a", "completion": "2"}])
    backend = make_backend("replay", str(path))
    p = _problem("a", "x")
    out = [c for chunk in backend.generate([(p, [1, 0, 5])], SamplingConfig(), 0) for c in chunk]
    assert [(c.sample_idx, c.text) for c in out] == [(0, "1"), (1, "2")]  # file order; index 5 is not stored
    assert backend.describe()["model"] == "imported:s.jsonl"  # never a machine path


# -- backend names -----------------------------------------------------------------------------------


def test_unknown_backend_suggests_the_close_name() -> None:
    with pytest.raises(EvalkitError, match=r"unknown backend 'hff'; did you mean hf\?"):
        make_backend("hff", "/whatever")


def test_unknown_backend_without_close_match_lists_known() -> None:
    with pytest.raises(EvalkitError, match=r"known: hf, vllm, openai, replay") as err:
        make_backend("zzzzzz", "/whatever")
    assert "did you mean" not in str(err.value)


def test_seed_block_holds_the_largest_n_the_runner_allows() -> None:
    from evalkit.sampling.runner import MAX_N

    pid = "add-1234abcd-s0-00000"
    assert sample_seed(0, pid, MAX_N - 1) == sample_seed(0, pid, 0) + MAX_N - 1


def test_max_tokens_beyond_the_context_is_refused_before_the_run_directory(tiny_ckpt: Path, tmp_path: Path) -> None:
    """math500's default max_tokens (4096) against a 48-position model: one line, exit 2, no run directory."""
    import subprocess
    import sys

    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "evalkit", "sample", str(tiny_ckpt), "--task", "math500@sample=true", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and "--max-tokens 4096 leaves no room for a prompt" in done.stderr, done.stderr
    assert "(48 tokens)" in done.stderr and "Traceback" not in done.stderr and not out.exists()


@pytest.mark.parametrize("field", ["temperature", "top_p"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_sampling_values_must_be_finite(field: str, value: float) -> None:
    with pytest.raises(EvalkitError, match="must be finite numbers"):
        SamplingConfig(**{field: value})


def _sample_cli(*args: str) -> Any:
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "evalkit", "sample", *args], capture_output=True, text=True, timeout=300
    )


def test_a_checkpoint_that_fails_to_load_leaves_no_run_directory(tiny_ckpt: Path, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_ckpt, broken)
    (broken / "model.safetensors").unlink()
    out = tmp_path / "run"
    args = ["--task", "add", "--n", "2", "--limit", "2", "--max-tokens", "6", "--out", str(out)]
    done = _sample_cli(str(broken), *args)
    assert done.returncode == 2 and "Traceback" not in done.stderr and not out.exists(), done.stderr
    shutil.copy(tiny_ckpt / "model.safetensors", broken / "model.safetensors")  # mended: the same command runs
    assert _sample_cli(str(broken), *args, "--workers", "1").returncode == 0


def test_a_prompt_longer_than_the_context_says_so_and_leaves_no_run_directory(tiny_ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = _sample_cli(str(tiny_ckpt), "--task", "math500@sample=true", "--max-tokens", "4", "--out", str(out))
    assert (
        done.returncode == 2
        and "the prompt alone is" in done.stderr
        and "more than the model's context of 48" in done.stderr
    )
    assert "Traceback" not in done.stderr and not out.exists()
