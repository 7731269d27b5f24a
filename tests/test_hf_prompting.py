"""The hf backend on instruct-style checkpoints: every eos id of generation_config, chat templates with a
system message (recorded in the run identity), and the truncation line of the sample summary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from evalkit import cli
from evalkit.errors import EvalkitError
from evalkit.sampling.base import SamplingConfig
from evalkit.sampling.hf import HFBackend
from evalkit.tasks import TaskSpec, make_problems

TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)


def _random_ckpt(out: Path, chat_template: str | None = None, extra_eos: list[str] | None = None) -> Path:
    """A tiny random char-level Llama; ``extra_eos`` characters join the eos ids of its generation_config."""
    from evalkit.train.tinymodel import TinyConfig, build_model, build_tokenizer

    tokenizer = build_tokenizer()
    model = build_model(tokenizer, TinyConfig(hidden_size=32, layers=1, heads=2, intermediate_size=64), seed=0)
    if extra_eos:
        ids = [tokenizer.eos_token_id, *tokenizer.convert_tokens_to_ids(extra_eos)]
        model.generation_config.eos_token_id = ids
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _random_ckpt(tmp_path_factory.mktemp("plain") / "ckpt")


@pytest.fixture(scope="module")
def chat_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _random_ckpt(tmp_path_factory.mktemp("chat") / "ckpt", chat_template=TEMPLATE)


def test_sampling_stops_at_every_eos_id_of_generation_config(plain: Path, tmp_path: Path) -> None:
    problems = make_problems(TaskSpec.parse("add@digits=2"), 0, 3)
    jobs = [(p, range(16)) for p in problems]
    sampling = SamplingConfig(temperature=1.0, max_tokens=12)
    single = HFBackend(str(plain), device="cpu")
    free = [c for chunk in single.generate(jobs, sampling, 0) for c in chunk]
    # the most common character of the free-running samples becomes a second end-of-sequence token
    counts: dict[str, int] = {}
    for c in free:
        for ch in c.text:
            counts[ch] = counts.get(ch, 0) + 1
    stop_char = max(counts, key=lambda ch: counts[ch])
    multi_path = _random_ckpt(tmp_path / "multi", extra_eos=[stop_char])
    multi = HFBackend(str(multi_path), device="cpu")
    assert len(multi.eos_ids) == 2 and single.eos_ids == [multi.tokenizer.eos_token_id]
    cut = [c for chunk in multi.generate(jobs, sampling, 0) for c in chunk]
    stopped_early = 0
    for a, b in zip(free, cut, strict=True):
        assert (a.problem_id, a.sample_idx, a.seed) == (b.problem_id, b.sample_idx, b.seed)
        # same seeds, same weights: the multi-eos sample is the free one up to its first stop character, which
        # ended it and is not part of its text (as vLLM leaves it out)
        at = a.text.find(stop_char)
        if at < 0:
            assert b.text == a.text and b.finish_reason == a.finish_reason
        else:
            assert b.text == a.text[:at] and b.finish_reason == "stop"
            stopped_early += a.finish_reason == "length" or len(b.text) < len(a.text)
    assert stopped_early >= 5


def test_chat_template_with_a_system_message(chat_ckpt: Path) -> None:
    problem = make_problems(TaskSpec.parse("add@digits=1"), 0, 1)[0]
    backend = HFBackend(str(chat_ckpt), device="cpu", chat=True, system="Be brief.")
    ids = backend.encode_prompt(problem, SamplingConfig(max_tokens=4))
    text = backend.tokenizer.decode(ids)
    assert text == f"system: Be brief.\nuser: {problem.prompt}\nassistant: "
    raw = HFBackend(str(chat_ckpt), device="cpu").encode_prompt(problem, SamplingConfig(max_tokens=4))
    assert backend.tokenizer.decode(raw, skip_special_tokens=True) == problem.prompt


def test_chat_without_a_template_and_system_without_chat_are_refused(plain: Path) -> None:
    with pytest.raises(EvalkitError, match=r"no chat template.*drop --chat to send the raw prompt text"):
        HFBackend(str(plain), device="cpu", chat=True)
    with pytest.raises(EvalkitError, match="--system needs --chat"):
        HFBackend(str(plain), device="cpu", system="hi")


def _sample(ckpt: Path, out: Path, *extra: str) -> list[str]:
    args = ["sample", str(ckpt), "--task", "add@digits=1", "--n", "2", "--limit", "2", "--max-tokens", "2"]
    return [*args, "--device", "cpu", "--workers", "1", "--out", str(out), *extra]


def test_cli_chat_errors_come_before_the_run_directory(
    plain: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert cli.main(_sample(plain, out, "--chat")) == 2
    err = capsys.readouterr().err
    assert "no chat template" in err and "raw prompt" in err and "Traceback" not in err
    assert cli.main(_sample(plain, out, "--system", "hi")) == 2
    assert "--system needs --chat" in capsys.readouterr().err
    assert cli.main(_sample(plain, out, "--backend", "replay", "--chat")) == 2
    assert "need a backend with a tokenizer" in capsys.readouterr().err
    assert not out.exists()


def test_cli_summary_warns_about_truncation_and_resume_with_another_system_is_refused(
    chat_ckpt: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    captured = _run(_sample(chat_ckpt, out, "--chat", "--system", "A"))
    assert captured.returncode == 0, captured.stderr
    line = next(x for x in captured.stdout.splitlines() if x.startswith("truncated"))
    rate = float(line.split()[1].rstrip("%"))
    assert rate > 5.0  # a random model rarely ends within 2 tokens
    assert f"warning: {rate:.1f}% of completions were cut at --max-tokens 2" in captured.stderr
    other = _run(_sample(chat_ckpt, out, "--chat", "--system", "B"))
    assert other.returncode == 2 and "--system: A -> B" in other.stderr, other.stderr


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evalkit", *argv], capture_output=True, text=True, timeout=120)
