"""The command line's contract with its user (BAD_INPUTS 28): every usage error of every command exits 2 with
click's usage line and no traceback, whichever click typer parses with; help pages show flags without a
value type; Ctrl-C says how to resume and exits 130; an unusable --device is a one-line error."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest
import typer

import evalkit.cli as cli
import evalkit.cli.common as cli_common
import evalkit.cli.entry as cli_entry
from evalkit.errors import EvalkitError

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from kill_helpers import committed_samples, coverage, live_group_members  # noqa: E402  (needs TESTS_DIR)

# (argv, what click's message says); every command and subcommand, each kind of usage error
USAGE_ERRORS: list[tuple[list[str], str]] = [
    # a missing argument or required option
    (["sample", "--out", "o"], "Missing argument"),
    (["sample", "m"], "Missing option '--out'"),
    (["import", "--out", "o"], "Missing argument"),
    (["import", "s.jsonl"], "Missing option '--out'"),
    (["score"], "Missing argument"),
    (["convert"], "Missing argument"),
    (["summary"], "Missing argument"),
    (["compare", "a"], "Missing argument"),
    (["report"], "Missing argument"),
    (["gate", "a"], "Missing argument"),
    (["problems"], "Missing argument"),
    (["merge", "--out", "o"], "Missing argument"),
    (["merge", "a", "b"], "Missing option '--out'"),
    (["likelihood", "m"], "Missing argument"),
    (["forecast"], "Missing argument"),
    (["suite", "zero-baseline", "r"], "Missing option '--out'"),
    (["suite", "zero-baseline", "--out", "o"], "Missing argument"),
    (["audit", "contamination", "--out", "o"], "Missing argument"),
    (["audit", "contamination", "m"], "Missing option '--out'"),
    (["audit", "guess"], "Missing argument"),
    (["train", "sft"], "Missing option '--out'"),
    (["train", "grpo", "--out", "o"], "Missing option '--model'"),
    (["train", "grpo", "--model", "m"], "Missing option '--out'"),
    # an unknown option (or a typo of a known one)
    (["sample", "m", "--out", "o", "--nn", "16"], "No such option"),
    (["import", "s.jsonl", "--out", "o", "--lmit", "3"], "No such option"),
    (["score", "r", "--worker", "2"], "No such option"),
    (["convert", "r", "--force"], "No such option"),
    (["summary", "r", "--jsn"], "No such option"),
    (["compare", "a", "b", "--mids", "c"], "No such option"),
    (["report", "a", "b", "--titel", "t"], "No such option"),
    (["gate", "a", "b", "--max-dorp", "1"], "No such option"),
    (["tasks", "--all"], "No such option"),
    (["problems", "add", "--limt", "3"], "No such option"),
    (["merge", "a", "--out", "o", "--forse"], "No such option"),
    (["likelihood", "m", "r", "--top_p", "0.9"], "No such option"),
    (["forecast", "r", "--kk", "3"], "No such option"),
    (["plan", "--dorp", "0.05"], "No such option"),
    (["compare", "a", "b", "--max-dorp", "0.1"], "No such option"),
    (["train", "sft", "--out", "o", "--step", "3"], "No such option"),
    (["train", "grpo", "--model", "m", "--out", "o", "--group", "4"], "No such option"),
    (["demo", "--quik"], "No such option"),
    (["audit", "contamination", "m", "--out", "o", "--fraction", "0.5"], "No such option"),
    (["audit", "guess", "r", "--answer", "4"], "No such option"),
    (["--debg", "tasks"], "No such option"),
    # a value of the wrong type, or an option without its value
    (["sample", "m", "--out", "o", "--n", "abc"], "Invalid value"),
    (["sample", "m", "--out", "o", "--temperature", "hot"], "Invalid value"),
    # the Ray executor's options: a bad value, or one without --executor ray
    (["sample", "m", "--out", "o", "--executor", "rey"], "Invalid value for '--executor'"),
    (["sample", "m", "--out", "o", "--executor", "ray", "--replicas", "0"], "Invalid value for '--replicas'"),
    (["sample", "m", "--out", "o", "--replicas", "2"], "'--replicas': needs --executor ray"),
    (["sample", "m", "--out", "o", "--address", "ray://h:10001"], "'--address': needs --executor ray"),
    (["import", "s.jsonl", "--out", "o", "--limit", "all"], "Invalid value"),
    (["score", "r", "--timeout", "soon"], "Invalid value"),
    (["compare", "a", "b", "--n", "many"], "Invalid value"),
    (["gate", "a", "b", "--max-drop", "lots"], "Invalid value"),
    (["gate", "a", "b", "--k", "one"], "Invalid value"),
    (["likelihood", "m", "r", "--top-k", "ten"], "Invalid value"),
    (["forecast", "r", "--k", "many"], "Invalid value"),
    (["plan", "--drop", "big"], "Invalid value"),
    (["report", "a", "b", "--k", "one"], "Invalid value"),
    (["suite", "zero-baseline", "r", "--out", "o", "--confidence", "high"], "Invalid value"),
    (["problems", "add", "--seed", "x"], "Invalid value"),
    (["audit", "contamination", "m", "--out", "o", "--max-tokens", "many"], "Invalid value"),
    (["audit", "guess", "r", "--answers", "many"], "Invalid value"),
    (["train", "sft", "--out", "o", "--steps", "ten"], "Invalid value"),
    (["train", "grpo", "--model", "m", "--out", "o", "--beta", "big"], "Invalid value"),
    (["report", "a", "b", "--out"], "requires an argument"),
    (["tasks", "--tasks-dir"], "requires an argument"),
    (["demo", "--out"], "requires an argument"),
    (["summary", "r", "extra"], "unexpected extra argument"),
    # an unknown command
    (["nosuch"], "No such command"),
    (["train", "nosuch"], "No such command"),
    (["audit", "nosuch"], "No such command"),
    (["sampel", "m"], "No such command"),
]


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(("argv", "message"), USAGE_ERRORS, ids=[" ".join(a) for a, _ in USAGE_ERRORS])
def test_usage_error_exits_2_with_the_usage_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run_main(argv, capsys)
    assert code == 2, err
    assert "Usage: evalkit" in err and message in err and "Error" in err
    assert "Traceback" not in err


def test_usage_errors_cover_every_command() -> None:
    commands = {cmd.name for cmd in cli.app.registered_commands} | {
        f"train {cmd.name}" for cmd in cli_common.train_app.registered_commands
    }
    tested = {" ".join(argv[:2]) if argv[0] == "train" else argv[0] for argv, _ in USAGE_ERRORS}
    assert commands <= tested, commands - tested


def evalkit_script() -> str:
    """The installed ``evalkit`` console script of this interpreter's environment."""
    beside = Path(sys.executable).parent / "evalkit"
    found = str(beside) if beside.is_file() else shutil.which("evalkit")
    if found is None:
        pytest.skip("the evalkit console script is not installed")
    return found


@pytest.mark.parametrize(
    "argv",
    [["gate", "a", "b", "--max-dorp", "1"], ["sample", "x"], ["nosuch"], ["sample", "m", "--out", "o", "--n", "abc"]],
    ids=["unknown-option", "missing-option", "unknown-command", "wrong-type"],
)
def test_console_script_usage_error(argv: list[str], tmp_path: Path) -> None:
    result = subprocess.run([evalkit_script(), *argv], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Usage: evalkit" in result.stderr and "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())  # nothing was created


# -- both click flavours -------------------------------------------------------------------------------


def click_flavours() -> list[Any]:
    """The click exception modules available: the click package, and typer's bundled copy when present."""
    mods: list[Any] = [click.exceptions]
    try:
        import typer._click.exceptions as bundled  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        pass
    else:
        mods.append(bundled)
    return mods


def with_app(monkeypatch: pytest.MonkeyPatch, behaviour: Callable[..., Any]) -> None:
    monkeypatch.setattr(cli_entry, "app", behaviour)


@pytest.mark.parametrize("flavour", click_flavours(), ids=lambda m: m.__name__)
def test_handler_shows_usage_errors_of_either_click(
    flavour: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def raise_usage(**_kwargs: Any) -> None:
        raise flavour.UsageError("no such thing: --frob")

    with_app(monkeypatch, raise_usage)
    code, _out, err = run_main(["x"], capsys)
    assert code == 2 and "Error: no such thing: --frob" in err and "Traceback" not in err

    def raise_generic(**_kwargs: Any) -> None:
        raise flavour.ClickException("a click error with exit code 1")

    with_app(monkeypatch, raise_generic)
    code, _out, err = run_main(["x"], capsys)
    assert code == 2 and "a click error with exit code 1" in err  # 1 is the gate's "regression", never a usage error

    def raise_exit(**_kwargs: Any) -> None:
        raise getattr(flavour, "Exit", typer.Exit)(0)  # typer's bundled click leaves Exit to typer

    with_app(monkeypatch, raise_exit)
    assert run_main(["x"], capsys)[0] == 0

    def raise_abort(**_kwargs: Any) -> None:
        raise getattr(flavour, "Abort", typer.Abort)()

    with_app(monkeypatch, raise_abort)
    code, _out, err = run_main(["x"], capsys)
    assert code == 130 and "interrupted" in err


def test_handler_shows_a_plain_click_commands_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a tiny command of the click package itself, parsed by click (not typer's copy)
    @click.command()
    @click.option("--n", type=int, required=True)
    def tiny(n: int) -> None:
        """A command that needs --n."""

    with_app(monkeypatch, lambda **kwargs: tiny.main(**kwargs))
    code, _out, err = run_main(["--n", "many"], capsys)
    assert code == 2 and "Usage: evalkit [OPTIONS]" in err and "Invalid value for '--n'" in err
    code, _out, err = run_main([], capsys)
    assert code == 2 and "Missing option '--n'" in err


def test_click_lookalike_from_another_module_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a click copy bundled under a module name evalkit does not know yet
    class ClickException(Exception):  # named like click's
        exit_code = 2

        def show(self) -> None:
            print(f"Usage: evalkit\nError: {self}", file=sys.stderr)

    class UsageError(ClickException):
        pass

    def raise_it(**_kwargs: Any) -> None:
        raise UsageError("vendored")

    with_app(monkeypatch, raise_it)
    code, _out, err = run_main([], capsys)
    assert code == 2 and "Error: vendored" in err


# -- help pages -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "flags"),
    [
        ([], ["--debug", "--help"]),
        (["sample"], ["--chat", "--force", "--help"]),
        (["train", "grpo"], ["--scale-std", "--no-scale-std", "--keep-truncated"]),
        (["problems"], ["--jsonl"]),
        (["import"], ["--force"]),
        (["demo"], ["--quick", "--fresh"]),
        (["gate"], ["--json"]),
    ],
    ids=["evalkit", "sample", "train-grpo", "problems", "import", "demo", "gate"],
)
def test_help_shows_flags_without_a_value_type(
    argv: list[str], flags: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = run_main([*argv, "--help"], capsys)
    assert code == 0, err
    for flag in flags:
        assert flag in out
    assert "<bool>" not in out and "BOOLEAN" not in out


# -- Ctrl-C ---------------------------------------------------------------------------------------------


def test_interrupt_inside_a_command_says_how_to_resume(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import evalkit.compare.results
    import evalkit.sampling.runner

    def interrupted(*_args: Any, **_kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(evalkit.sampling.runner, "sample", interrupted)
    code, _out, err = run_main(["sample", "m", "--task", "add", "--out", str(tmp_path / "r")], capsys)
    assert code == 130 and "interrupted; rerun the same command to resume" in err and "Traceback" not in err

    monkeypatch.setattr(evalkit.compare.results, "load_run", interrupted)
    code, _out, err = run_main(["summary", str(tmp_path / "r")], capsys)
    assert code == 130 and err.strip() == "interrupted"  # nothing to resume


def test_ctrl_c_during_sampling_then_rerun_completes(tiny_ckpt: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    limit, n = 4, 128
    args = [sys.executable, "-m", "evalkit", "sample", str(tiny_ckpt), "--task", "add@digits=2", "--n", str(n)]
    args += ["--limit", str(limit), "--out", str(run), "--max-tokens", "6", "--batch-size", "16"]
    # Ctrl-C reaches the whole foreground process group; SIGINT must not be inherited as ignored
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 300
    while committed_samples(run) < 16 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    at_signal = committed_samples(run)
    assert proc.poll() is None, "finished before the interrupt"
    os.killpg(proc.pid, signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted; rerun the same command to resume" in err and "Traceback" not in err
    assert at_signal < limit * n
    assert live_group_members(proc.pid) == []  # no verifier or sampler process left behind

    again = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "resuming" in again.stderr
    cov = coverage(run)
    assert len(cov) == limit * n and max(cov.values()) == 1


# -- --device -------------------------------------------------------------------------------------------


def cuda_usable() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "nosuchdevice"])
def test_unusable_device_is_a_one_line_error(device: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if device.startswith("cuda") and cuda_usable():
        pytest.skip("CUDA is available here")
    out = tmp_path / "run"
    code, _out, err = run_main(
        ["sample", str(tmp_path), "--task", "add", "--out", str(out), "--device", device], capsys
    )
    assert code == 2, err
    assert err.startswith(f"error: --device {device}") or err.startswith(f"error: --device '{device}'")
    assert len(err.strip().splitlines()) == 1 and ("use --device cpu" in err or "use auto, cpu" in err)
    assert not out.exists()  # refused before the run directory is created


def test_model_loading_refuses_an_unusable_device() -> None:
    # the path every hf model load takes (sampling, GRPO's policy): the device is checked first
    from evalkit.sampling.hf import load_model_and_tokenizer, resolve_device

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda")
    if cuda_usable():
        pytest.skip("CUDA is available here")
    with pytest.raises(EvalkitError, match=r"--device cuda: CUDA is not available .*use --device cpu"):
        load_model_and_tokenizer("/nonexistent/checkpoint", device="cuda")
