"""Bad inputs at the command line: partial runs, unwritable outputs, misspelled paths, errors as JSON.

Each case goes through ``evalkit.cli.main`` in process: the exit code, stdout and stderr are what a user sees.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from test_compare_gate import SPEC, make_run

from evalkit import cli
from evalkit.tasks import make_problems

N_PROBLEMS, N = 12, 8
GOOD = [[True, False] * (N // 2) for _ in range(N_PROBLEMS)]


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def add_unsampled_problems(run: Path, extra: int) -> None:
    """Give ``run`` ``extra`` more problems that have no samples (as a `sample` run stopped early leaves them)."""
    held = len((run / "problems.jsonl").read_text().splitlines())
    with (run / "problems.jsonl").open("a") as fh:
        for problem in make_problems(SPEC, 0, held + extra)[held:]:
            fh.write(json.dumps(problem.to_json()) + "\n")


def drop_verdicts(run: Path) -> None:
    """Remove every verdict of ``run`` (as an interrupted verification leaves it)."""
    shutil.rmtree(run / "verdicts")
    (run / "verdicts").mkdir()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("partial")
    out = {
        "base": make_run(root, "base", GOOD),
        "unsampled": make_run(root, "unsampled", GOOD),
        "unverified": make_run(root, "unverified", GOOD),
    }
    add_unsampled_problems(out["unsampled"], 4)
    drop_verdicts(out["unverified"])
    return out


@pytest.mark.parametrize("command", ["gate", "compare", "report"])
@pytest.mark.parametrize(
    ("which", "says"),
    [("unsampled", "4 of 16 problems have no samples"), ("unverified", f"{N_PROBLEMS * N} completions of")],
)
def test_partial_runs_are_refused(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, which: str, says: str
) -> None:
    argv = [command, str(runs["base"]), str(runs[which])]
    if command != "gate":
        argv += ["--out", str(tmp_path / "out")]
    code, out, err = run_main(argv, capsys)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert says in lines[0] and "--allow-partial" in lines[0]
    fix = "evalkit score" if which == "unverified" else "evalkit sample"
    assert fix in lines[0]
    assert not (tmp_path / "out").exists()


def test_partial_message_names_the_score_command(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run_main(["gate", str(runs["base"]), str(runs["unverified"])], capsys)
    assert code == 2 and f"`evalkit score {runs['unverified']}`" in err
    assert "have no verdict" in err


def test_gate_allow_partial_says_so(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run_main(["gate", str(runs["base"]), str(runs["unsampled"]), "--allow-partial"], capsys)
    assert code == 0
    assert out.splitlines()[0].startswith("partial input (--allow-partial): ")
    code, out, _err = run_main(["gate", str(runs["base"]), str(runs["unsampled"]), "--allow-partial", "--json"], capsys)
    assert code == 0
    partial = json.loads(out)["partial"]
    assert partial["allowed"] is True and partial["runs"][0]["unsampled"] == 4


def test_compare_allow_partial_records_it(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["compare", str(runs["base"]), str(runs["unsampled"]), "--out", str(tmp_path), "--allow-partial"]
    code, out, _err = run_main(argv, capsys)
    assert code == 0 and "partial input (--allow-partial)" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["partial"]["runs"][0]["run"] == str(runs["unsampled"])
    # the gate's answer recorded beside it is that of the gate given the same flag
    assert report["gate"]["command"].endswith("--allow-partial") and report["gate"]["verdict"] == "PASS"
    assert "partial input" in (tmp_path / "report.html").read_text()


def test_complete_runs_carry_no_partial(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run_main(["gate", str(runs["base"]), str(runs["base"]), "--json"], capsys)
    assert code == 0 and "partial" not in json.loads(out)


WRITERS = [
    ["compare", "BASE", "BASE", "--out", "OUT"],
    ["report", "BASE", "BASE", "--out", "OUT"],
    ["sample", "no-model", "--task", "add", "--out", "OUT"],
    ["import", "SAMPLES", "--task", "add", "--out", "OUT"],
    ["merge", "BASE", "BASE", "--out", "OUT"],
    ["train", "sft", "--task", "add", "--steps", "1", "--out", "OUT"],
    ["train", "grpo", "--model", "no-model", "--task", "add", "--out", "OUT"],
    ["demo", "--quick", "--out", "OUT"],
    ["likelihood", "no-model", "BASE", "--out", "OUT/scores.jsonl"],
]


def unwritable(tmp_path: Path, kind: str) -> Path:
    if kind == "under-a-file":
        (tmp_path / "file").write_text("x")
        return tmp_path / "file" / "sub"
    if kind == "is-a-file":
        (tmp_path / "file").write_text("x")
        return tmp_path / "file"
    target = Path("/sys/evalkit-test-out")  # sysfs: creating a folder there is refused, even for root
    try:
        target.mkdir()
    except OSError:
        return target / "sub"
    target.rmdir()
    pytest.skip("/sys is writable here")


@pytest.mark.parametrize("kind", ["under-a-file", "is-a-file", "read-only"])
@pytest.mark.parametrize("template", WRITERS, ids=[" ".join(w[:2]) for w in WRITERS])
def test_unwritable_out_is_refused_before_any_work(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], template: list[str], kind: str
) -> None:
    out = unwritable(tmp_path, kind)
    samples = tmp_path / "samples.jsonl"
    samples.write_text("")
    values = {"BASE": str(runs["base"]), "SAMPLES": str(samples), "OUT": str(out)}
    argv = [values.get(w, w.replace("OUT", str(out))) for w in template]
    code, out_text, err = run_main(argv, capsys)
    assert code == 2, (out_text, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --out "), err
    assert "Traceback" not in err and out_text == ""


def test_writable_out_is_left_as_it_was(tmp_path: Path) -> None:
    from evalkit.cli.common import check_writable

    target = tmp_path / "a" / "b" / "c"
    check_writable(target)
    assert not (tmp_path / "a").exists()
    (tmp_path / "kept").mkdir()
    check_writable(tmp_path / "kept")
    assert list((tmp_path / "kept").iterdir()) == []


@pytest.mark.parametrize(
    ("command", "advice"),
    [
        ("score", "score writes the verdicts into the run directory"),
        ("convert", "convert rewrites the run's shards in place"),
    ],
)
def test_commands_on_a_run_refuse_one_they_cannot_write(
    runs: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    advice: str,
) -> None:
    import tempfile

    def denied(*_args: object, **_kwargs: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied")

    before = sorted(p.name for p in (runs["base"] / "verdicts").iterdir())
    monkeypatch.setattr(tempfile, "mkstemp", denied)
    code, _out, err = run_main([command, str(runs["base"])], capsys)
    assert code == 2
    assert err.strip() == f"error: RUN {runs['base']}: cannot write there (Permission denied); {advice}"
    assert sorted(p.name for p in (runs["base"] / "verdicts").iterdir()) == before


MISSPELLED = ["ckpt/bse", "./ckpt/bse", "ckpt/bse/final", "ckpt/base/config.json", "afile/x", "bse"]


def local_checkpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A working folder holding ckpt/base (a checkpoint folder) and a regular file ``afile``; no hub access."""
    (tmp_path / "ckpt" / "base").mkdir(parents=True)
    (tmp_path / "ckpt" / "base" / "config.json").write_text("{}")
    (tmp_path / "afile").write_text("x")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize("name", MISSPELLED)
@pytest.mark.parametrize("command", ["sample", "grpo", "likelihood"])
def test_misspelled_local_checkpoint_is_no_such_folder(
    runs: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    name: str,
) -> None:
    local_checkpoints(tmp_path, monkeypatch)
    argv = {
        "sample": ["sample", name, "--task", "add", "--out", "run"],
        "grpo": ["train", "grpo", "--model", name, "--task", "add", "--out", "run"],
        "likelihood": ["likelihood", name, str(runs["base"]), "--out", "run/scores.jsonl"],
    }[command]
    code, out, err = run_main(argv, capsys)
    assert code == 2, (out, err)
    assert err.startswith(f"error: model {name!r}: no such checkpoint directory (") and len(err.splitlines()) == 1
    assert "hub" not in err and "download" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("ckpt/bse", "no such folder: ckpt/bse; did you mean ckpt/base?"),
        ("./ckpt/bse", "no such folder: ckpt/bse; did you mean ckpt/base?"),
        ("ckpt/bse/final", "no such folder: ckpt/bse; did you mean ckpt/base?"),
        ("ckpt/zzz", "no such folder: ckpt/zzz)"),
        ("ckpt/base/config.json", "ckpt/base/config.json is a file, not a folder"),
        ("afile/x", "afile is a file, not a folder"),
    ],
)
def test_no_such_folder_names_the_missing_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str, says: str
) -> None:
    local_checkpoints(tmp_path, monkeypatch)
    code, _out, err = run_main(["sample", name, "--task", "add", "--out", "run"], capsys)
    assert code == 2 and says in err


def test_org_name_without_a_local_folder_is_still_a_hub_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    local_checkpoints(tmp_path, monkeypatch)
    code, _out, err = run_main(["sample", "some-org/some-model", "--task", "add", "--out", "run"], capsys)
    assert code == 2 and "no such checkpoint directory" not in err and "hub" in err


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('{"problem_id": "p", "completion": "a\tb"}', "Invalid control character at column 37"),
        ('{"problem_id": "p", "completion": }', "Expecting value at column 35"),
        ('{"problem_id": "p" "completion": "x"}', "Expecting ',' delimiter at column 20"),
        ('{"problem_id": "p", "completion": "x"} trailing', "Extra data at column 40"),
    ],
)
def test_corrupt_samples_line_is_a_whole_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, says: str
) -> None:
    samples = tmp_path / "s.jsonl"
    samples.write_text(line + "\n")
    code, _out, err = run_main(["import", str(samples), "--task", "add", "--out", str(tmp_path / "r")], capsys)
    assert code == 2
    assert err.strip() == (
        f"error: {samples}:1: not valid JSON ({says}); each line must be one JSON object "
        '{"problem_id": ..., "completion": ...}'
    )
    assert not (tmp_path / "r").exists()


ALIASES = [
    (["sample", "m", "--samples", "4", "--out", "r"], "Did you mean --n?"),
    (["sample", "m", "--num-samples", "4", "--out", "r"], "Did you mean --n?"),
    (["sample", "m", "--n-samples", "4", "--out", "r"], "Did you mean --n?"),
    (["sample", "m", "--sampels", "4", "--out", "r"], "Did you mean --n?"),
    (["sample", "--model", "m", "--out", "r"], "Did you mean the MODEL argument (evalkit sample MODEL ...)?"),
    (["compare", "a", "b", "--samples", "8"], "Did you mean --n?"),
    (["compare", "a", "b", "-o", "x"], "Did you mean --out?"),
    (["import", "s.jsonl", "--output", "x"], "Did you mean --out?"),
    (["train", "sft", "--output-dir", "x"], "Did you mean --out?"),
    (["likelihood", "--model", "m", "run"], "Did you mean the MODEL argument (evalkit likelihood MODEL ...)?"),
]


@pytest.mark.parametrize(("argv", "says"), ALIASES, ids=[" ".join(a) for a, _ in ALIASES])
def test_option_names_of_other_tools_get_evalkits_name(
    capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    code, _out, err = run_main(argv, capsys)
    assert code == 2 and "Usage: evalkit" in err
    assert f"No such option: {argv[argv.index(next(a for a in argv if a.startswith('-')))]}. {says}" in err


def test_an_alias_is_only_suggested_where_the_command_has_its_target(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run_main(["gate", "a", "b", "--samples", "8"], capsys)  # gate has no --n
    assert code == 2 and "No such option: --samples" in err and "Did you mean" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["summary", "no-such-run", "--json"],
        ["gate", "no-such-run", "other", "--json"],
        ["compare", "no-such-run", "other", "--json"],
        ["gate", "BASE", "UNSAMPLED", "--json"],
        ["gate", "BASE", "BASE", "--json", "--k", "1000"],
        ["gate", "BASE", "BASE", "--json", "--bogus"],
        ["summary", "BASE", "--json", "--csv"],
        ["compare", "BASE", "BASE", "--json", "--samples", "3"],
    ],
)
def test_errors_with_json_print_a_json_object(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    argv = [{"BASE": str(runs["base"]), "UNSAMPLED": str(runs["unsampled"])}.get(a, a) for a in argv]
    if argv[0] == "compare":
        argv += ["--out", str(tmp_path / "out")]
    code, out, err = run_main(argv, capsys)
    assert code == 2
    payload = json.loads(out)
    assert payload["exit_code"] == 2 and payload["error"] and "\n" not in payload["error"]
    assert payload["error"] in err


def test_errors_without_json_print_nothing_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(["summary", "no-such-run"], capsys)
    assert code == 2 and out == "" and err.startswith("error: ")


TWO_CONFIGS = ["add@digits=2", "add@digits=4"]


def make_two_config_run(root: Path, name: str, solved: dict[str, float], per_task: int = 12, n: int = 8) -> Path:
    """A run of add@digits=2 and add@digits=4: in each, the first ``solved[spec]`` of the problems are solved
    in every sample, the others in none."""
    from evalkit.sampling.runner import import_samples
    from evalkit.tasks import TaskSpec

    specs = [TaskSpec.parse(s) for s in TWO_CONFIGS]
    path = root / f"{name}.jsonl"
    with path.open("w") as fh:
        for spec in specs:
            problems = make_problems(spec, 0, per_task)
            for i, problem in enumerate(problems):
                ok = i < solved[spec.label()] * per_task
                for j in range(n):
                    text = problem.reference if ok else problem.reference + "0"
                    fh.write(json.dumps({"problem_id": problem.id, "completion": text, "sample_idx": j}) + "\n")
    import_samples(path, specs, root / name, limit=per_task, quiet=True)
    return root / name


@pytest.fixture(scope="module")
def two_configs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("configs")
    return {
        "base": make_two_config_run(root, "base", {"add@digits=2": 1.0, "add@digits=4": 1.0}),
        "rl": make_two_config_run(root, "rl", {"add@digits=2": 1.0, "add@digits=4": 0.25}),
    }


def test_summary_has_a_row_per_configuration(two_configs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run_main(["summary", str(two_configs["rl"]), "--json"], capsys)
    assert code == 0
    tasks = json.loads(out)["tasks"]
    assert sorted(tasks) == TWO_CONFIGS
    assert tasks["add@digits=2"]["pass_at_k"]["1"] == 1.0 and tasks["add@digits=4"]["pass_at_k"]["1"] == 0.25
    code, out, _err = run_main(["summary", str(two_configs["rl"])], capsys)
    assert [line.split()[0] for line in out.splitlines()[:2]] == TWO_CONFIGS


def test_compare_has_a_row_per_configuration(
    two_configs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["compare", str(two_configs["base"]), str(two_configs["rl"]), "--out", str(tmp_path)]
    code, out, _err = run_main(argv, capsys)
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith(("overall", "add"))}
    assert set(rows) == {"overall", *TWO_CONFIGS}
    assert "pass@1 1.000 -> 0.250" in rows["add@digits=4"] and "pass@1 1.000 -> 1.000" in rows["add@digits=2"]
    report = json.loads((tmp_path / "report.json").read_text())
    assert sorted(report["tasks"]) == TWO_CONFIGS


@pytest.mark.parametrize(
    ("tasks", "checked"),
    [([], TWO_CONFIGS), (["add@digits=4"], ["add@digits=4"]), (["add"], TWO_CONFIGS)],
)
def test_gate_checks_each_configuration(
    two_configs: dict[str, Path], capsys: pytest.CaptureFixture[str], tasks: list[str], checked: list[str]
) -> None:
    argv = ["gate", str(two_configs["base"]), str(two_configs["rl"]), "--json"]
    for task in tasks:
        argv += ["--task", task]
    code, out, _err = run_main(argv, capsys)
    result = json.loads(out)
    assert [c["task"] for c in result["checks"]] == checked
    assert [c["task"] for c in result["regressions"]] == ["add@digits=4"]
    assert code == 1


def test_gate_on_the_unchanged_configuration_passes(
    two_configs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["gate", str(two_configs["base"]), str(two_configs["rl"]), "--task", "add@digits=2"]
    code, out, _err = run_main(argv, capsys)
    assert code == 0 and "task add@digits=2:" in out and "add@digits=4" not in out
    code, _out, err = run_main([*argv[:3], "--task", "add@digits=3"], capsys)
    assert code == 2 and "no task 'add@digits=3'" in err and "its tasks: add@digits=2, add@digits=4" in err


def test_a_task_with_one_configuration_keeps_its_name(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _err = run_main(["summary", str(runs["base"]), "--json"], capsys)
    assert code == 0 and list(json.loads(out)["tasks"]) == ["add"]


@pytest.mark.parametrize("extra", [1, 52_000_000])
def test_import_refuses_a_completion_over_the_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: int
) -> None:
    from evalkit.sampling.replay import MAX_TEXT_CHARS

    problem = make_problems(SPEC, 0, 1)[0]
    samples = tmp_path / "s.jsonl"
    with samples.open("w") as fh:
        fh.write(json.dumps({"problem_id": problem.id, "completion": problem.reference}) + "\n")
        giant = "x" * (MAX_TEXT_CHARS + extra - 1) + f" \\boxed{{{problem.reference}}}"
        fh.write(json.dumps({"problem_id": problem.id, "completion": giant}) + "\n")
    code, _out, err = run_main(["import", str(samples), "--task", "add", "--out", str(tmp_path / "r")], capsys)
    assert code == 2
    assert err.startswith(f"error: {samples}:2: problem {problem.id}: the completion has {len(giant):,} characters")
    assert "never cuts" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_import_keeps_a_long_completion_and_its_answer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from evalkit.store import RunStore

    problem = make_problems(SPEC, 0, 1)[0]
    long = "y" * 3_000_000 + problem.reference
    samples = tmp_path / "s.jsonl"
    samples.write_text(json.dumps({"problem_id": problem.id, "completion": long}) + "\n")
    code, out, _err = run_main(["import", str(samples), "--task", "add", "--out", str(tmp_path / "r")], capsys)
    # never counted as cut at the token limit: its finish reason was not given, so it is unknown, not "length"
    assert code == 0 and "truncated  unknown" in out and "% of completions stopped at the token limit" not in out
    (stored,) = RunStore.open(tmp_path / "r").iter_completions()
    assert stored.text == long and stored.finish_reason == "unknown"


def test_compare_prints_the_verdict_and_the_report_opens_with_it(
    two_configs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from evalkit.compare.verdict import verdict_sentences

    argv = ["compare", str(two_configs["base"]), str(two_configs["rl"]), "--out", str(tmp_path)]
    code, out, _err = run_main(argv, capsys)
    assert code == 0
    report = json.loads((tmp_path / "report.json").read_text())
    sentences = verdict_sentences(report)
    assert sentences and f"verdict: {' '.join(sentences)}" in out.splitlines()
    page = (tmp_path / "report.html").read_text()
    first = page.index("<section id=")
    assert page.index('<section id="verdict">') == first < page.index('<section id="runs">')


def test_train_grpo_help_shows_every_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from evalkit.train.grpo_config import GRPOConfig

    monkeypatch.setenv("COLUMNS", "200")
    code, out, _err = run_main(["train", "grpo", "--help"], capsys)
    assert code == 0
    rows = {line.split()[1]: line for line in out.splitlines() if line.startswith("│") and "--" in line}
    defaults = GRPOConfig()
    for option, field in [("--steps", "steps"), ("--group-size", "group_size"), ("--lr", "lr"), ("--beta", "beta")]:
        assert f"[default: ({getattr(defaults, field)})]" in rows[option], rows[option]
    assert "[default: (--scale-std)]" in rows["--scale-std"]


def all_commands() -> list[tuple[str, Any]]:
    import typer.main

    from evalkit.cli.common import app

    found: list[tuple[str, Any]] = []

    def walk(command: Any, path: str) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, f"{path} {name}".strip())
        else:
            found.append((path, command))

    walk(typer.main.get_command(app), "")
    return found


UNSET_MEANS_ABSENT = {"--tasks-dir", "--system", "--revision", "--base-url", "--api-key", "--shard", "--address"}
UNSET_MEANS_ABSENT |= {"--prompt-template", "--title", "--model-run", "--temperature", "--top-p", "--top-k"}


@pytest.mark.parametrize(("path", "command"), all_commands(), ids=[p for p, _ in all_commands()])
def test_every_option_shows_its_default(path: str, command: Any) -> None:
    """An option whose default is not a plain value says in its help (or its [default: ...]) what it does
    when left out; only options whose absence means "not used" are exempt."""
    for param in command.params:
        opts = getattr(param, "opts", [])
        if getattr(param, "param_type_name", "") == "argument" or param.required or "--help" in opts:
            continue
        if param.default is not None or param.show_default not in (None, True, False):
            continue
        if set(opts) & UNSET_MEANS_ABSENT:
            continue
        assert "default" in (param.help or "").lower(), f"evalkit {path} {opts[0]}: no default shown"


def test_partial_message_repeats_the_recorded_sample_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run made by `evalkit sample` that stopped short: the refusal quotes the command that resumes it."""
    import sys

    from test_compare_gate import write_samples

    monkeypatch.chdir(tmp_path)
    write_samples(tmp_path / "s.jsonl", GOOD[:6], 6)
    argv = ["sample", "s.jsonl", "--backend", "replay", "--task", "add", "--limit", "8", "--n", str(N), "--out", "r"]
    monkeypatch.setattr(sys, "argv", ["/some/venv/bin/evalkit", *argv])
    run_main(argv, capsys)  # its summary refuses the two problems the file lacks
    code, _out, err = run_main(["gate", "r", "r"], capsys)
    assert code == 2
    assert err.strip() == (
        "error: r is not finished: 2 of 8 problems have no samples. To finish it, rerun "
        f"`evalkit {' '.join(argv)}` (it resumes). Or pass --allow-partial to use the problems they finished."
    )


@pytest.mark.parametrize(
    ("finishes", "truncated", "unknown"),
    [([None, None], "0.0%", "100.0%"), (["stop", None], "0.0%", "50.0%"), (["length", "stop"], "50.0%", None)],
)
def test_imported_finish_reasons_are_stored_as_given_or_unknown(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    finishes: list[str | None],
    truncated: str,
    unknown: str | None,
) -> None:
    from evalkit.store import RunStore

    problem = make_problems(SPEC, 0, 1)[0]
    samples = tmp_path / "s.jsonl"
    with samples.open("w") as fh:
        for finish in finishes:
            row = {"problem_id": problem.id, "completion": problem.reference}
            fh.write(json.dumps(row | ({"finish_reason": finish} if finish else {})) + "\n")
    code, out, _err = run_main(["import", str(samples), "--task", "add", "--out", str(tmp_path / "r")], capsys)
    assert code == 0
    stored = sorted(RunStore.open(tmp_path / "r").iter_completions(), key=lambda c: c.sample_idx)
    assert [c.finish_reason for c in stored] == [f or "unknown" for f in finishes]
    if unknown is None:
        assert f"truncated  {truncated} of completions stopped at the token limit\n" in out
    elif unknown == "100.0%":  # nothing is known: no rate is printed as if it were
        assert "truncated  unknown" in out and "% of completions stopped" not in out
    else:
        assert (
            f"truncated  {truncated} of completions stopped at the token limit (finish reason unknown for {unknown})"
            in out
        )
    code, out, _err = run_main(["summary", str(tmp_path / "r"), "--json"], capsys)
    rates = json.loads(out)["rates"]
    assert rates["finish_unknown"] == float((unknown or "0").rstrip("%")) / 100
