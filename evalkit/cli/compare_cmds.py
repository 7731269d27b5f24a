"""``evalkit compare``, ``evalkit report`` and ``evalkit gate``: two or more runs, one decision."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from evalkit.cli.common import TaskOpt, _Command, _specs, app, check_writable
from evalkit.errors import EvalkitError

AllowPartialOpt = Annotated[
    bool,
    typer.Option(
        "--allow-partial",
        help="Use runs where some problems lack samples or verdicts, on the problems they finished; the output "
        "says so (default: refuse, exit 2).",
    ),
]


GateKOpt = Annotated[
    list[int],
    typer.Option("--k", help="k of the gate's decision, as `evalkit gate --k` (repeatable; default: 1)."),
]
GateDropOpt = Annotated[
    float,
    typer.Option("--max-drop", help="Tolerated drop of pass@k for the gate's decision, as `evalkit gate --max-drop`."),
]


def _gate(summary: dict[str, Any], base: Any, rl: Any, ks: list[int], max_drop: float) -> None:
    """Record what `evalkit gate` says on these runs (summary["gate"], a claim per scope, the verdict again)."""
    from evalkit.compare.decision import DEFAULT_KS, attach_decision

    partial = summary.get("partial") is not None
    attach_decision(summary, base, rl, list(ks) or list(DEFAULT_KS), max_drop, allow_partial=partial)


def _partial(runs: list[Any], allow: bool) -> dict[str, Any] | None:
    """Refuse (exit 2) runs where some problems lack samples or verdicts, naming how many and the command
    that finishes them; with ``allow``, return what is missing (for the output and the JSON), else None."""
    from evalkit.compare.results import incompleteness

    distinct = {str(r.root.resolve()): r for r in runs}.values()  # a run given twice is said once
    found = [x for x in (incompleteness(r) for r in distinct) if x is not None]
    if not found:
        return None
    if not allow:
        raise EvalkitError(
            " ".join(x["message"] for x in found) + " Or pass --allow-partial to use the problems they finished."
        )
    return {"allowed": True, "runs": found}


def _partial_lines(partial: dict[str, Any] | None) -> list[str]:
    if partial is None:
        return []
    return [f"partial input (--allow-partial): {x['message']}" for x in partial["runs"]]


@app.command("compare", cls=_Command)
def compare_cmd(
    base: Annotated[Path, typer.Argument(help="Base run directory, or base checkpoint (with --task).")],
    rl: Annotated[Path, typer.Argument(help="RL run directory, or RL checkpoint (with --task).")],
    out: Annotated[Path, typer.Option(help="Folder for report.html and report.json.")] = Path("reports/compare"),
    task: TaskOpt = [],  # noqa: B006
    n: Annotated[int, typer.Option(help="Samples per problem when sampling checkpoints.")] = 64,
    limit: int = 100,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", help="When sampling checkpoints (default: the tasks' largest).")
    ] = None,
    mid: Annotated[
        list[Path], typer.Option("--mid", help="Intermediate checkpoint run, in training order (repeatable).")
    ] = [],  # noqa: B006
    as_json: Annotated[bool, typer.Option("--json", help="Also print the summary JSON.")] = False,
    refuse_mismatch: Annotated[
        bool,
        typer.Option(
            "--refuse-mismatch",
            help="Exit 2 when the runs differ in sampling config, prompt format or n (default: warn and compare).",
        ),
    ] = False,
    allow_partial: AllowPartialOpt = False,
    k: GateKOpt = [],  # noqa: B006
    max_drop: GateDropOpt = 0.02,
) -> None:
    """Compare a base and an RL run: frontier classes, pass@k curves, HTML report.

    With --mid runs, also classify each task's trajectory (ProRL: diminish / plateau / sustained)."""
    from evalkit.compare.results import load_run
    from evalkit.report import write_report

    check_writable(out)
    runs = []
    for label, path in (("base", base), ("rl", rl)):
        if (path / "manifest.json").is_file():
            runs.append(path)
        elif (path / "config.json").is_file():
            from evalkit.sampling.base import SamplingConfig
            from evalkit.sampling.runner import SampleRequest, sample
            from evalkit.tasks.registry import default_max_tokens

            run_dir = out / f"{label}_run"
            sample(
                SampleRequest(
                    model=str(path),
                    specs=_specs(task),
                    n=n,
                    out=run_dir,
                    limit=limit,
                    sampling=SamplingConfig(max_tokens=max_tokens or default_max_tokens(_specs(task))),
                )
            )
            runs.append(run_dir)
        else:
            raise EvalkitError(f"{path}: neither a run directory (manifest.json) nor a checkpoint (config.json)")
    loaded = [load_run(runs[0]), *(load_run(m) for m in mid), load_run(runs[1])]
    partial = _partial(loaded, allow_partial)
    _check_comparable(loaded[0], loaded[-1], refuse_mismatch)
    summary = _with_partial(_compare_with_trajectory(loaded), partial)
    from evalkit.compare.forecast import attach_forecasts

    attach_forecasts(summary, loaded[0], loaded[-1])
    from evalkit.compare.support import attach_support

    attach_support(summary, loaded[0], loaded[-1])
    from evalkit.compare.zero_baseline import expansion_rates

    suite = expansion_rates({"base": loaded[0], "rl": loaded[-1]})
    if suite is not None:
        summary["zero_baseline"] = suite
    _gate(summary, loaded[0], loaded[-1], k, max_drop)
    html = write_report(summary, out / "report.html")
    _print_compare(summary)
    typer.echo(f"report: {html}", err=True)
    if as_json:
        typer.echo(html.with_suffix(".json").read_text())


def _check_comparable(base: Any, rl: Any, refuse: bool) -> None:
    """Warn on stderr (or refuse, exit 2) when base and RL runs were sampled unlike each other."""
    from evalkit.compare.gate import comparability

    shared = sorted({p.id for p in base.problems} & {p.id for p in rl.problems})
    differences = comparability(base, rl, shared, labels=("base", "RL"))
    if differences and refuse:
        raise EvalkitError(f"{base.root} vs {rl.root}: {'; '.join(differences)} (--refuse-mismatch)")
    for difference in differences:
        typer.echo(f"warning: {difference}; the comparison is of unlike runs", err=True)


def _with_partial(summary: dict[str, Any], partial: dict[str, Any] | None) -> dict[str, Any]:
    """The summary with ``partial`` recorded (JSON key ``partial``, and a note on the page), and said on stdout."""
    if partial is not None:
        summary["partial"] = partial
        summary["notes"] = [*_partial_lines(partial), *summary.get("notes", [])]
        for line in _partial_lines(partial):
            typer.echo(line)
    return summary


def _compare_with_trajectory(runs: list[Any], title: str | None = None) -> dict[str, Any]:
    from evalkit.compare.trajectories import compare_with_trajectory

    return compare_with_trajectory(runs, title)


@app.command("report", cls=_Command)
def report_cmd(
    runs: Annotated[
        list[Path],
        typer.Argument(
            help="Run directories in training order: the base first, the final checkpoint last, "
            "intermediate checkpoints between them.",
            metavar="RUN_DIR",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option(help="Folder for report.html and report.json.")] = Path("reports/report"),
    title: Annotated[str | None, typer.Option(help="Page title.")] = None,
    allow_partial: AllowPartialOpt = False,
    k: GateKOpt = [],  # noqa: B006
    max_drop: GateDropOpt = 0.02,
) -> None:
    """Write the HTML report (and its JSON) for runs that already exist: base vs final, plus the
    checkpoint trajectory (ProRL regime per task) when intermediate runs are given."""
    from evalkit.compare.results import load_run
    from evalkit.report import write_report

    check_writable(out)
    if len(runs) < 2:
        raise EvalkitError("evalkit report needs at least two run directories: BASE [INTERMEDIATE...] FINAL")
    for path in runs:
        if not (path / "manifest.json").is_file():
            raise EvalkitError(f"{path}: not an evalkit run directory (no manifest.json)")
    loaded = [load_run(p) for p in runs]
    partial = _partial(loaded, allow_partial)
    _check_comparable(loaded[0], loaded[-1], refuse=False)
    summary = _with_partial(_compare_with_trajectory(loaded, title), partial)
    _gate(summary, loaded[0], loaded[-1], k, max_drop)
    html = write_report(summary, out / "report.html")
    _print_compare(summary)
    typer.echo(f"report: {html}", err=True)


def _print_compare(summary: dict[str, Any]) -> None:
    # "overall" only when every task shares n; otherwise one line per n group (never pooled at one k)
    if summary.get("overall") is not None:
        scopes = [("overall", summary["overall"])]
    else:
        scopes = [(f"n={sec['n']}", sec) for sec in summary.get("groups", []) if len(sec["scope"]["tasks"]) > 1]
    for name, sec in [*scopes, *summary["tasks"].items()]:
        ks = [str(k) for k in (1, sec["n"])]
        b, r = sec["pass_at_k"]["base"], sec["pass_at_k"]["rl"]
        cls = sec["classes"]
        typer.echo(
            f"{name:10s} pass@1 {b[ks[0]]:.3f} -> {r[ks[0]]:.3f}   pass@{ks[1]} {b[ks[1]]:.3f} -> {r[ks[1]]:.3f}   "
            f"rl-only {cls['rl_only']}  base-only {cls['base_only']}  both {cls['both']}  neither {cls['neither']}"
        )
    suite = summary.get("zero_baseline")
    if suite:
        n = str(suite["n"])
        rl, base = suite["expansion_rate"]["rl"][n], suite["expansion_rate"]["base"][n]
        typer.echo(
            f"zero-baseline suite ({suite['problems']} problems the base never solved when it was built): expansion "
            f"rate at k = {n}: RL {rl[0]:.3f} [{rl[1]:.3f}, {rl[2]:.3f}], base now {base[0]:.3f}"
        )
    for scope, cross in (summary.get("forecast") or {}).get("crossover", {}).items():
        typer.echo(f"forecast   {scope}: {cross['text']}")
    if summary.get("verdict"):
        typer.echo("verdict: " + " ".join(summary["verdict"]))
    gate = summary.get("gate")
    if gate and gate.get("command"):
        answer = gate["verdict"] if gate["verdict"] != "refused" else f"refused (exit 2): {gate['refused']}"
        typer.echo(f"gate: {gate['command']} -> {answer}")


@app.command("gate", cls=_Command)
def gate_cmd(
    baseline: Annotated[Path, typer.Argument(help="Baseline run directory.")],
    candidate: Annotated[Path, typer.Argument(help="Candidate run directory.")],
    k: Annotated[list[int], typer.Option("--k", help="k to check (repeatable).")] = [1],  # noqa: B006
    max_drop: Annotated[float, typer.Option("--max-drop", help="Largest allowed absolute drop of pass@k.")] = 0.02,
    confidence: Annotated[
        float, typer.Option(help="1 - the whole gate's false alarm rate (all tasks and k together).")
    ] = 0.95,
    task: Annotated[
        list[str], typer.Option("--task", "-t", help="Gate only this task (repeatable; default: every shared task).")
    ] = [],  # noqa: B006
    allow_mismatch: Annotated[
        bool,
        typer.Option(
            "--allow-mismatch",
            help="Gate runs that differ in sampling config, prompt format or n, with a warning "
            "(default: refuse, exit 2).",
        ),
    ] = False,
    allow_partial: AllowPartialOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Exit 0 when the candidate did not regress, 1 when pass@k dropped more than --max-drop, 2 on bad input.

    Method: a paired sign-flip test per (task, k) check of "pass@k fell by more than --max-drop".

    Exact (McNemar-type) where every problem's pass@k is 0 or 1, as at k = n; 10,000 seeded random flips otherwise.

    Holm's adjustment over all checks: two runs of one model fail the gate in at most 1 - --confidence of cases (5%).
    """

    from evalkit.compare.gate import gate_summary, run_gate
    from evalkit.compare.results import load_run

    runs = [load_run(baseline), load_run(candidate)]
    partial = _partial(runs, allow_partial)
    result = run_gate(
        runs[0], runs[1], list(k), max_drop, confidence, tasks=list(task) or None,
        mismatch="warn" if allow_mismatch else "refuse",
    )  # fmt: skip
    for warning in result.warnings:
        typer.echo(warning, err=True)
    if as_json:
        from evalkit.compare.decision import gate_command

        command = gate_command(baseline, candidate, list(k), max_drop, confidence, list(task) or None)
        extra = {"command": command} | ({"partial": partial} if partial else {})
        typer.echo(json.dumps(gate_summary(result) | extra, indent=1))
    else:
        for line in [*_partial_lines(partial), *result.lines]:
            typer.echo(line)
        typer.echo("gate: PASS" if result.passed else "gate: FAIL (regression)")
    raise typer.Exit(0 if result.passed else 1)
