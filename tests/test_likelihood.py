"""Teacher-forced likelihood: the sampler's distribution, the scorer against a plain forward pass, batching
invariance, unreachable tokens, and ``score_run``'s file (resume, refusal, CLI)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from run_settings import KNOWN_SETTINGS

from evalkit.errors import EvalkitError
from evalkit.likelihood import END, LikelihoodRequest, Scorer, read_results, results_path, sampler_log_probs, score_run
from evalkit.sampling.base import SamplingConfig
from evalkit.sampling.decode import choose_tokens
from evalkit.sampling.runner import import_samples
from evalkit.tasks import TaskSpec, make_problems

SPEC = TaskSpec.parse("add@digits=2")

# -- an independent reference: numpy, one row at a time ------------------------------------------------


def reference_log_probs(logits: np.ndarray, temperature: float, top_p: float, top_k: int) -> np.ndarray:
    """log p of every token under temperature, then top-k, then top-p, written without torch."""
    out = np.full(logits.shape, -np.inf)
    for r, row in enumerate(logits.astype(np.float64)):
        if temperature == 0:
            out[r, int(np.argmax(row))] = 0.0
            continue
        s = row / temperature
        keep = np.ones(s.size, dtype=bool)
        if 0 < top_k < s.size:
            keep &= s >= np.sort(s)[::-1][top_k - 1]
        if top_p < 1.0:
            kept = np.where(keep, s, -np.inf)
            p = np.exp(kept - kept.max())
            p /= p.sum()
            order = np.argsort(-p, kind="stable")
            before = 0.0
            for tok in order:
                if before >= top_p:
                    keep[tok] = False
                before += p[tok]
        kept = np.where(keep, s, -np.inf)
        log_z = kept.max() + np.log(np.exp(kept - kept.max()).sum())
        out[r] = np.where(keep, kept - log_z, -np.inf)
    return out


SETTINGS = [(1.0, 1.0, 0), (0.7, 1.0, 0), (1.3, 1.0, 5), (0.8, 0.9, 0), (0.6, 0.8, 7), (0.0, 1.0, 0)]


@pytest.mark.parametrize(("temperature", "top_p", "top_k"), SETTINGS)
def test_sampler_log_probs_match_an_independent_reference(temperature: float, top_p: float, top_k: int) -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(20, 40)).astype(np.float32)
    got = sampler_log_probs(torch.from_numpy(logits), SamplingConfig(temperature, top_p, top_k)).numpy()
    want = reference_log_probs(logits, temperature, top_p, top_k)
    assert np.array_equal(np.isneginf(got), np.isneginf(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], atol=1e-5)
    assert np.allclose(np.exp(got).sum(-1), 1.0, atol=1e-5)


def test_the_sampler_draws_only_reachable_tokens_at_their_probabilities() -> None:
    """choose_tokens (the hf sampler) against sampler_log_probs: never an unreachable token, and frequencies
    that fit the scored probabilities (chi-square over 20,000 seeded draws of one row)."""
    rng = np.random.default_rng(1)
    logits = torch.from_numpy(rng.normal(0, 1.5, size=(1, 12)).astype(np.float32))
    sampling = SamplingConfig(temperature=0.9, top_p=0.85, top_k=8)
    lp = sampler_log_probs(logits, sampling)[0].numpy()
    draws = 20_000
    seeds = torch.arange(draws, dtype=torch.int64) * 7919 + 11
    chosen = choose_tokens(logits.expand(draws, -1), seeds, 0, sampling).numpy()
    assert np.isfinite(lp[chosen]).all()
    counts = np.bincount(chosen, minlength=12)
    reach = np.isfinite(lp)
    expected = np.exp(lp[reach]) * draws
    chi2 = float((((counts[reach] - expected) ** 2) / expected).sum())
    assert chi2 < 40.0, (counts, expected)  # df <= 7: p < 1e-5 for a correct sampler to exceed this


# -- the scorer on the tiny checkpoint -------------------------------------------------------------------


@pytest.fixture(scope="module")
def scorer(tiny_ckpt: Path) -> Scorer:
    return Scorer.load(str(tiny_ckpt), device="cpu")


def plain_reference(scorer: Scorer, prompt: list[int], target: list[int], sampling: SamplingConfig) -> np.ndarray:
    """One full forward pass over prompt + target, no cache, then the numpy reference per position."""
    fed = [t for t in target if t != END]  # END (the sampler stops) is last, never an input
    ids = torch.tensor([prompt + fed])
    with torch.no_grad():
        logits = scorer.model(input_ids=ids).logits[0].float().numpy()
    rows = logits[len(prompt) - 1 : len(prompt) - 1 + len(target)]
    lp = reference_log_probs(rows, sampling.temperature, sampling.top_p, sampling.top_k)
    out = lp[np.arange(len(fed)), fed]
    if len(target) > len(fed):  # the end: any end-of-sequence id
        with np.errstate(divide="ignore"):
            out = np.append(out, np.log(np.exp(lp[-1, scorer.end_ids]).sum()))
    return out


def _texts(scorer: Scorer) -> tuple[list[int], list[list[int]]]:
    prompt = scorer.tokenizer("37+48=")["input_ids"]
    texts = ["85", "58", "1", "", "123456789", "85\n85", "9"]
    targets = [scorer.target_ids(t, with_end=i % 2 == 0) for i, t in enumerate(texts)]
    return prompt, targets


@pytest.mark.parametrize(("temperature", "top_p", "top_k"), [(1.0, 1.0, 0), (0.7, 0.9, 0), (1.2, 1.0, 6)])
def test_scores_match_a_plain_forward_pass(scorer: Scorer, temperature: float, top_p: float, top_k: int) -> None:
    sampling = SamplingConfig(temperature, top_p, top_k)
    prompt, targets = _texts(scorer)
    scored = scorer.score(prompt, targets, sampling)
    for target, s in zip(targets, scored, strict=True):
        assert s.n_tokens == len(target)
        if not target:
            assert s.total == 0.0
            continue
        want = plain_reference(scorer, prompt, target, sampling)
        assert np.array_equal(np.isneginf(s.token_logprobs), np.isneginf(want))
        finite = np.isfinite(want)
        np.testing.assert_allclose(s.token_logprobs[finite], want[finite], atol=2e-4)
        assert s.unreachable == int((~finite).sum())
        assert (s.total == -np.inf) == bool(s.unreachable)


def test_a_token_outside_top_k_is_unreachable(scorer: Scorer) -> None:
    prompt = scorer.tokenizer("37+48=")["input_ids"]
    with torch.no_grad():
        logits = scorer.model(input_ids=torch.tensor([prompt])).logits[0, -1].float()
    worst = int(torch.argmin(logits))  # surely outside the top 3 at the first position
    best = int(torch.argmax(logits))
    (s_bad, s_good) = scorer.score(prompt, [[worst, best], [best]], SamplingConfig(top_k=3))
    assert s_bad.unreachable == 1 and np.isneginf(s_bad.token_logprobs[0]) and np.isfinite(s_bad.token_logprobs[1])
    assert s_bad.summary()["logprob"] is None and s_bad.summary()["unreachable_tokens"] == 1
    assert s_good.unreachable == 0 and s_good.summary()["logprob"] == pytest.approx(s_good.total)
    # without top-k the same token is merely unlikely
    (s_free,) = scorer.score(prompt, [[worst, best]], SamplingConfig())
    assert s_free.unreachable == 0 and np.isfinite(s_free.total)
    # greedy: only the argmax token is reachable
    (g_good, g_bad) = scorer.score(prompt, [[best], [worst]], SamplingConfig(temperature=0.0))
    assert g_good.total == 0.0 and g_bad.unreachable == 1


@pytest.mark.parametrize("max_batch_tokens", [1, 3, 7, 64])
def test_batching_and_segments_do_not_change_scores(scorer: Scorer, max_batch_tokens: int) -> None:
    sampling = SamplingConfig(temperature=0.8, top_p=0.95)
    prompt, targets = _texts(scorer)
    whole = scorer.score(prompt, targets, sampling)
    small = Scorer(scorer.model, scorer.tokenizer, max_batch_tokens=max_batch_tokens, logit_bytes=1)
    parts = small.score(prompt, targets, sampling)
    alone = [scorer.score(prompt, [t], sampling)[0] for t in targets]
    for a, b, c in zip(whole, parts, alone, strict=True):
        np.testing.assert_allclose(a.token_logprobs, b.token_logprobs, atol=1e-5)
        np.testing.assert_allclose(a.token_logprobs, c.token_logprobs, atol=1e-5)


# -- score_run: a run's correct completions, the file, resume ----------------------------------------------


def make_run(tmp: Path, name: str, answers: list[list[str]]) -> Path:
    """A run of SPEC's first len(answers) problems whose sample j of problem i is ``answers[i][j]``
    ("R" stands for the reference answer), each ended by the model (finish reason "stop")."""
    problems = make_problems(SPEC, 0, len(answers))
    path = tmp / f"{name}.jsonl"
    with path.open("w") as fh:
        for problem, row in zip(problems, answers, strict=True):
            for j, text in enumerate(row):
                text = problem.reference if text == "R" else text
                row = {"problem_id": problem.id, "completion": text, "sample_idx": j, "finish_reason": "stop"}
                fh.write(json.dumps(row) + "\n")
    import_samples(
        path,
        [SPEC],
        tmp / name,
        limit=len(answers),
        quiet=True,
        settings=KNOWN_SETTINGS,
    )
    return tmp / name


ANSWERS = [["R", "R", "1", "R"], ["1", "2", "3", "4"], ["R", "R 0", "5", "6"], ["7", "R", "8", "9"]]


def test_score_run_scores_correct_texts_and_resumes(tiny_ckpt: Path, tmp_path: Path, scorer: Scorer) -> None:
    run = make_run(tmp_path, "run", ANSWERS)
    req = LikelihoodRequest(model=str(tiny_ckpt), run=run, device="cpu", quiet=True)
    path = score_run(req)
    header, records = read_results(path)
    assert header is not None and path == results_path(run, header["model_hash"])
    assert header["sampling"] == {"temperature": 1.0, "top_p": 1.0, "top_k": 0}
    problems = make_problems(SPEC, 0, len(ANSWERS))
    assert list(records) == [p.id for p in problems]
    first = records[problems[0].id]
    assert (first["n"], first["c"], first["distinct_correct_texts"]) == (4, 3, 1)
    assert first["scored"][0]["count"] == 3 and first["scored"][0]["sample_idx"] == 0
    assert records[problems[1].id]["best"] is None and records[problems[1].id]["scored"] == []
    # the best text's log-prob is the scorer's, end-of-sequence included
    prompt = scorer.prompt_ids(problems[0], {})
    (want,) = scorer.score(prompt, [scorer.target_ids(problems[0].reference, True)], SamplingConfig())
    assert first["best"]["logprob"] == pytest.approx(want.total, abs=1e-5)
    assert first["best"]["log10_expected_samples"] == pytest.approx(-want.total / np.log(10), abs=1e-5)
    # "R 0" also passes (first line "R 0" fails: only texts the verifier passed are scored)
    assert records[problems[2].id]["c"] == 1

    # resume: drop two records; only they are scored again, and the file comes out the same
    lines = path.read_text().splitlines()
    kept = [ln for ln in lines if problems[0].id not in ln and problems[3].id not in ln]
    path.write_text("\n".join(kept) + "\n")
    calls: list[int] = []
    original = Scorer.score

    def counting(self: Scorer, prompt: Any, targets: Any, sampling: Any) -> Any:
        calls.append(len(targets))
        return original(self, prompt, targets, sampling)

    import evalkit.likelihood as lk

    setattr(lk.Scorer, "score", counting)  # noqa: B010
    try:
        score_run(req)
    finally:
        setattr(lk.Scorer, "score", original)  # noqa: B010
    assert calls == [1, 1]
    _h, again = read_results(path)
    assert again == records

    # another sampling setting is refused, then replaces the file with --force
    with pytest.raises(EvalkitError, match="top_k"):
        score_run(LikelihoodRequest(model=str(tiny_ckpt), run=run, device="cpu", quiet=True, sampling={"top_k": 2}))
    score_run(
        LikelihoodRequest(model=str(tiny_ckpt), run=run, device="cpu", quiet=True, sampling={"top_k": 2}, force=True)
    )
    header2, _records2 = read_results(path)
    assert header2 is not None and header2["sampling"]["top_k"] == 2


def test_model_run_orders_only_this_run_solved_first_and_checks_the_model(tiny_ckpt: Path, tmp_path: Path) -> None:
    run = make_run(tmp_path, "rl", ANSWERS)
    other = make_run(tmp_path, "base", [["R", "1", "1", "1"], ["1"] * 4, ["1"] * 4, ["1"] * 4])
    with pytest.raises(EvalkitError, match="model hash"):
        score_run(LikelihoodRequest(model=str(tiny_ckpt), run=run, model_run=other, device="cpu", quiet=True))
    manifest = json.loads((other / "manifest.json").read_text())
    from evalkit.sampling.identity import checkpoint_hash

    manifest["identity"]["model_hash"] = checkpoint_hash(tiny_ckpt)
    manifest["identity"]["sampling"]["temperature"] = 0.5
    (other / "manifest.json").write_text(json.dumps(manifest))
    path = score_run(LikelihoodRequest(model=str(tiny_ckpt), run=run, model_run=other, device="cpu", quiet=True))
    header, records = read_results(path)
    assert header is not None and header["sampling"]["temperature"] == 0.5
    ids = [p.id for p in make_problems(SPEC, 0, 4)]
    assert [records[i]["only_this_run_solved"] for i in ids] == [False, False, True, True]


def test_cli_likelihood_errors_exit_2(tmp_path: Path, tiny_ckpt: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, timeout=120)

    missing = cli("likelihood", str(tiny_ckpt), str(tmp_path / "nope"))
    assert missing.returncode == 2 and "not an evalkit run directory" in missing.stderr
    assert "Traceback" not in missing.stderr
    usage = cli("likelihood", str(tiny_ckpt))
    assert usage.returncode == 2 and "Usage" in usage.stderr
    bad = cli("likelihood", str(tiny_ckpt), str(tmp_path), "--max-per-problem", "0")
    assert bad.returncode == 2 and "--max-per-problem" in bad.stderr


def test_cli_vllm_scoring_refuses_a_sampler_it_cannot_rebuild(tmp_path: Path, tiny_ckpt: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, timeout=300)

    run = tmp_path / "run"
    args = ["--task", "add", "--n", "2", "--limit", "2", "--max-tokens", "6", "--temperature", "0.7", "--workers", "1"]
    assert cli("sample", str(tiny_ckpt), *args, "--out", str(run)).returncode == 0
    refused = cli("likelihood", str(tiny_ckpt), str(run), "--backend", "vllm")
    assert refused.returncode == 2 and "score with --backend hf" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr and not (run / "likelihood").exists()


def test_a_long_completion_is_scored_in_bounded_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 3,000-token completion under a 3,000-token vocabulary: no forward pass takes more than
    ``forward_tokens`` tokens, no log-softmax more than ``logit_bytes`` worth of rows, and the scores equal
    those of one unbounded pass."""
    from transformers import LlamaConfig, LlamaForCausalLM

    import evalkit.likelihood.scorer as scorer_module
    from evalkit.train.tinymodel import build_tokenizer

    torch.manual_seed(0)
    vocab = 3000
    cfg = LlamaConfig(
        vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=4096, eos_token_id=2, pad_token_id=0,
    )  # fmt: skip
    model = LlamaForCausalLM(cfg).eval()
    tokenizer = build_tokenizer()
    rng = np.random.default_rng(0)
    target = [int(t) for t in rng.integers(5, vocab, size=3000)] + [END]
    prompt = [1, 20, 21, 22]
    sampling = SamplingConfig(temperature=0.9, top_p=0.95)
    unbounded = Scorer(model, tokenizer, max_batch_tokens=1 << 20, logit_bytes=1 << 34)
    (want,) = unbounded.score(prompt, [target], sampling)

    bounded = Scorer(model, tokenizer, max_batch_tokens=256, logit_bytes=vocab * 16 * 64)
    assert bounded.forward_tokens == 256
    widths: list[int] = []
    rows: list[int] = []
    forward = model.forward

    def recording_forward(*args: Any, **kwargs: Any) -> Any:
        widths.append(int(kwargs["input_ids"].numel()))
        return forward(*args, **kwargs)

    original = scorer_module.sampler_log_probs

    def recording_log_probs(logits: Any, sampling: SamplingConfig) -> Any:
        rows.append(int(logits.shape[0]))
        return original(logits, sampling)

    monkeypatch.setattr(model, "forward", recording_forward)
    monkeypatch.setattr(scorer_module, "sampler_log_probs", recording_log_probs)
    (got,) = bounded.score(prompt, [target], sampling)
    assert max(widths) <= 256 and len(widths) >= 3000 // 256
    assert max(rows) <= 64
    assert got.n_tokens == 3001
    np.testing.assert_allclose(got.token_logprobs, want.token_logprobs, atol=1e-4)


def test_all_scores_every_text_and_keeps_best_to_the_correct_ones(
    tiny_ckpt: Path, tmp_path: Path, scorer: Scorer
) -> None:
    run = make_run(tmp_path, "run", ANSWERS)
    path = score_run(LikelihoodRequest(model=str(tiny_ckpt), run=run, device="cpu", quiet=True))
    _h, before = read_results(path)
    assert all("passed" not in r or r["passed"] for rec in before.values() for r in rec["scored"])
    # a file made before the choice of texts existed holds correct texts: it resumes as such, without --force
    lines = path.read_text().splitlines()
    old_header = json.loads(lines[0])
    assert old_header.pop("texts") == "correct"
    path.write_text("\n".join([json.dumps(old_header), *lines[1:]]) + "\n")
    score_run(LikelihoodRequest(model=str(tiny_ckpt), run=run, device="cpu", quiet=True))
    with pytest.raises(EvalkitError, match="texts"):  # another choice of texts is another file's identity
        score_run(LikelihoodRequest(model=str(tiny_ckpt), run=run, device="cpu", quiet=True, all_texts=True))
    req = LikelihoodRequest(model=str(tiny_ckpt), run=run, device="cpu", quiet=True, all_texts=True, force=True)
    header, records = read_results(score_run(req))
    assert header is not None and header["texts"] == "all"
    problems = make_problems(SPEC, 0, len(ANSWERS))
    for problem, answers in zip(problems, ANSWERS, strict=True):
        rec = records[problem.id]
        texts = [problem.reference if a == "R" else a for a in answers]
        assert sum(r["count"] for r in rec["scored"]) == len(answers)  # every sample, once per distinct text
        assert rec["best"] == before[problem.id]["best"]  # best stays the most likely correct text
        assert rec["scored"][0]["passed"] == (rec["c"] > 0)  # correct texts come first
        assert sum(r["count"] for r in rec["scored"] if r["passed"]) == rec["c"]
        prompt = scorer.prompt_ids(problem, {})
        for row in rec["scored"]:
            (want,) = scorer.score(prompt, [scorer.target_ids(texts[row["sample_idx"]], True)], SamplingConfig())
            assert row["logprob"] == pytest.approx(want.total, abs=1e-5) and row["n_tokens"] == want.n_tokens
