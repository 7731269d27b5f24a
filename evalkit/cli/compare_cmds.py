"""``evalkit compare``, ``evalkit report`` and ``evalkit gate``: two or more runs, one decision."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from evalkit.cli.common import ProblemOpt, SelectTaskOpt, TaskOpt, _Command, _specs, app, check_writable, load_runs
from evalkit.errors import EvalkitError

AllowPartialOpt = Annotated[
    bool,
    typer.Option(
        "--allow-partial",
        help="Use runs where some problems lack samples or verdicts, on the problems they finished; the output "
        "says so (default: refuse, exit 2).",
    ),
]

TruncateOpt = Annotated[
    bool,
    typer.Option(
        "--truncate-n",
        help="Where the problems of a task hold uneven numbers of samples, use every problem's first n samples, n "
        "the task's smallest; the output says so (default: refuse, exit 2).",
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

    partial, truncated = summary.get("partial") is not None, summary.get("truncate_n") is not None
    attach_decision(
        summary, base, rl, list(ks) or list(DEFAULT_KS), max_drop, allow_partial=partial, truncate_n=truncated
    )


def _one_n(
    runs: list[Any], allow: bool, verb: str = "compare", ends: tuple[str, str] = ("base", "RL")
) -> tuple[list[Any], dict[str, Any] | None]:
    """The runs with one n per task, or a refusal (exit 2); with ``allow`` (--truncate-n) each uneven task cut to
    its smallest n, and the record of it (:mod:`evalkit.compare.common_n`). ``ends`` label the first and last
    run (one run: ``run``)."""
    from evalkit.compare.common_n import one_n_per_task

    middle = [f"intermediate ({r.root})" for r in runs[1:-1]]
    labels = [ends[0], *middle, ends[1]] if len(runs) > 1 else ["run"]
    return one_n_per_task(list(zip(labels, runs, strict=True)), allow, verb)


def _with_truncation(summary: dict[str, Any], truncated: dict[str, Any] | None) -> dict[str, Any]:
    """The summary with ``truncate_n`` recorded (JSON, and a note on the page), and said on stdout."""
    from evalkit.compare.common_n import lines

    summary["truncate_n"] = truncated
    summary["notes"] = [*lines(truncated), *summary.get("notes", [])]
    for line in lines(truncated):
        typer.echo(line)
    return summary


def _check_gate_options(ks: list[int], max_drop: float) -> None:
    """``--k`` and ``--max-drop`` of compare / report checked before any work, as ``evalkit gate`` checks them."""
    from evalkit.compare.decision import DEFAULT_KS, validate_options

    validate_options(list(ks) or list(DEFAULT_KS), max_drop)


def _partial(runs: list[Any], allow: bool) -> dict[str, Any] | None:
    """Refuse (exit 2) runs where some problems lack samples or verdicts, naming how many and the command
    that finishes them, and a pair (the first and last run) whose problem sets differ (a candidate that holds
    only some of the baseline's problems is partial input too); with ``allow``, return what is missing (for
    the output and the JSON), else None."""
    from evalkit.compare.results import incompleteness

    distinct = {str(r.root.resolve()): r for r in runs}.values()  # a run given twice is said once
    found = [x for x in (incompleteness(r) for r in distinct) if x is not None]
    if len(runs) >= 2:
        unlike = _unlike_problem_sets(runs[0], runs[-1])
        found += [unlike] if unlike is not None else []
    if not found:
        return None
    if not allow:
        raise EvalkitError(
            " ".join(x["message"] for x in found) + " Or pass --allow-partial to use the problems they finished."
        )
    return {"allowed": True, "runs": found}


def _unlike_problem_sets(first: Any, last: Any) -> dict[str, Any] | None:
    """What the second run lacks of the first's problems and holds beyond them (JSON-ready, with ``message``),
    or None when both hold the same problems (after ``--task`` / ``--problem``)."""
    a, b = {p.id for p in first.problems}, {p.id for p in last.problems}
    if a == b:
        return None
    shared = len(a & b)
    message = (
        f"{last.root} holds {shared} of the {len(a)} problems of {first.root}"
        + (f" and {len(b - a)} it lacks" if b - a else "")
        + ": sample the missing ones (the same --task, --problem-seed and --limit), select the shared ones with "
        "--problem @FILE."
    )
    return {"run": str(last.root), "problems": len(a), "shared": shared, "extra": len(b - a), "message": message}


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
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary JSON on stdout (the terminal lines go to stderr).")
    ] = False,
    refuse_mismatch: Annotated[
        bool,
        typer.Option(
            "--refuse-mismatch",
            help="Exit 2 when the runs (the base against RL and each --mid run) differ in sampling config, "
            "prompt format or n (default: warn and compare).",
        ),
    ] = False,
    allow_partial: AllowPartialOpt = False,
    truncate_n: TruncateOpt = False,
    k: GateKOpt = [],  # noqa: B006
    max_drop: GateDropOpt = 0.02,
    problem: ProblemOpt = [],  # noqa: B006
    audit: Annotated[
        list[Path],
        typer.Option(
            "--audit",
            help="An audit result to flag problems by: a contamination audit's run folder, or the JSON of "
            "`evalkit audit contamination --json` / `evalkit audit guess --json` (repeatable).",
        ),
    ] = [],  # noqa: B006
    exclude: Annotated[
        Path | None,
        typer.Option(
            help="File of problem ids (one a line, # comments) to leave out in the validity section (default: none)."
        ),
    ] = None,
) -> None:
    """Compare a base and an RL run: frontier classes, pass@k curves, HTML report.

    --task and --problem select the problems compared (with checkpoints, --task also says what to sample).

    With --mid runs, also classify each task's trajectory (ProRL: diminish / plateau / sustained)."""
    from evalkit.report import write_report

    check_writable(out)
    _check_gate_options(k, max_drop)
    _check_inputs(audit, exclude)
    runs = []
    sampled_here = False
    for label, path in (("base", base), ("rl", rl)):
        if (path / "manifest.json").is_file():
            runs.append(path)
        elif (path / "config.json").is_file():
            from evalkit.sampling.base import SamplingConfig
            from evalkit.sampling.runner import SampleRequest, sample
            from evalkit.tasks.registry import default_max_tokens

            run_dir = out / f"{label}_run"
            sampled_here = True
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
    # runs sampled here hold exactly the --task specs (a spec with parameters is no scope name of the run)
    # with --json, stdout carries the JSON alone (for jq): the terminal lines go to stderr
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        # --adaptive runs: base vs RL only (a checkpoint trajectory reads fixed-n runs)
        loaded = load_runs([runs[0], *mid, runs[1]], [] if sampled_here else task, problem, adaptive_ok=not mid)
        partial = _partial(loaded, allow_partial)
        loaded, truncated = _one_n(loaded, truncate_n)
        _check_comparable(loaded, refuse_mismatch)
        summary = _with_truncation(_with_partial(_compare_with_trajectory(loaded), partial), truncated)
        from evalkit.compare.forecast import attach_forecasts

        attach_forecasts(summary, loaded[0], loaded[-1])
        from evalkit.compare.support import attach_support

        attach_support(summary, loaded[0], loaded[-1])
        from evalkit.compare.zero_baseline import expansion_rates

        suite = expansion_rates({"base": loaded[0], "rl": loaded[-1]})
        if suite is not None:
            summary["zero_baseline"] = suite
        _attach_validity(summary, loaded[0], loaded[-1], audit, exclude)
        _gate(summary, loaded[0], loaded[-1], k, max_drop)
        html = write_report(summary, out / "report.html")
        _print_compare(summary)
        _print_validity(summary)
    typer.echo(f"report: {html}", err=True)
    if as_json:
        typer.echo(html.with_suffix(".json").read_text())


def _check_comparable(runs: list[Any], refuse: bool) -> None:
    """Warn on stderr (or refuse, exit 2) when the runs were sampled unlike each other: the RL run (the last)
    against the base (the first), then each intermediate run (``--mid``, or the middle runs of ``report``)
    against the base, by the same checks; and name each run's settings an import left unknown."""
    from evalkit.compare.gate import comparability

    base, rl = runs[0], runs[-1]
    labelled = [("RL", rl), *((f"intermediate ({mid.root})", mid) for mid in runs[1:-1])]
    for label, other in labelled:
        shared = sorted({p.id for p in base.problems} & {p.id for p in other.problems})
        differences = comparability(base, other, shared, labels=("base", label))
        if differences and refuse:
            raise EvalkitError(f"{base.root} vs {other.root}: {'; '.join(differences)} (--refuse-mismatch)")
        for difference in differences:
            typer.echo(f"warning: {difference}; the comparison is of unlike runs", err=True)
    for line in _unknown_settings([("base", base), *labelled]):
        typer.echo(f"warning: {line}", err=True)


def _unknown_settings(runs: list[tuple[str, Any]]) -> list[str]:
    """A sentence for each run whose settings an import left unknown (see evalkit.sampling.provenance)."""
    from evalkit.sampling.provenance import unknown_settings

    return [line for label, run in runs for line in unknown_settings(run.manifest.get("identity", {}), label)]


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
    truncate_n: TruncateOpt = False,
    k: GateKOpt = [],  # noqa: B006
    max_drop: GateDropOpt = 0.02,
    task: SelectTaskOpt = [],  # noqa: B006
    problem: ProblemOpt = [],  # noqa: B006
) -> None:
    """Write the HTML report (and its JSON) for runs that already exist: base vs final, plus the
    checkpoint trajectory (ProRL regime per task) when intermediate runs are given."""
    from evalkit.report import write_report

    check_writable(out)
    _check_gate_options(k, max_drop)
    if len(runs) < 2:
        raise EvalkitError("evalkit report needs at least two run directories: BASE [INTERMEDIATE...] FINAL")
    for path in runs:
        if not (path / "manifest.json").is_file():
            raise EvalkitError(f"{path}: not an evalkit run directory (no manifest.json)")
    loaded = load_runs(runs, task, problem, adaptive_ok=len(runs) == 2)  # --adaptive: base vs final only
    partial = _partial(loaded, allow_partial)
    loaded, truncated = _one_n(loaded, truncate_n, "report")
    _check_comparable(loaded, refuse=False)
    summary = _with_truncation(_with_partial(_compare_with_trajectory(loaded, title), partial), truncated)
    from evalkit.compare.forecast import attach_forecasts
    from evalkit.compare.support import attach_support

    attach_forecasts(summary, loaded[0], loaded[-1])  # curves beyond n and the crossover, as compare
    attach_support(summary, loaded[0], loaded[-1])  # perplexity, support dynamics, entropy, winner-take-all
    _attach_validity(summary, loaded[0], loaded[-1], [], None)
    _gate(summary, loaded[0], loaded[-1], k, max_drop)
    html = write_report(summary, out / "report.html")
    _print_compare(summary)
    _print_validity(summary)
    typer.echo(f"report: {html}", err=True)


def _check_inputs(audits: list[Path], exclude: Path | None) -> None:
    """Refuse a missing --audit or --exclude path before any work starts (their contents are checked later)."""
    for path in audits:
        if not path.exists():
            raise EvalkitError(f"--audit {path}: no such file or folder")
    if exclude is not None and not exclude.is_file():
        raise EvalkitError(f"--exclude {exclude}: no such file (one problem id a line)")


def _attach_validity(summary: dict[str, Any], base: Any, rl: Any, audits: list[Path], exclude: Path | None) -> None:
    """The summary's ``validity`` section (:func:`evalkit.validity.threats.validity_section`)."""
    from evalkit.validity.threats import validity_section

    summary["validity"] = validity_section(base, rl, summary, audits, exclude)


def _print_validity(summary: dict[str, Any]) -> None:
    """One line per threat with flagged problems, and each claim that holds only with them."""
    validity = summary.get("validity")
    if not validity:
        return
    counts = ", ".join(f"{name} {entry['count']}" for name, entry in validity["threats"].items())
    typer.echo(f"validity   {len(validity['flagged'])} of {validity['problems']} problems flagged ({counts})")
    matched = (validity.get("budget") or {}).get("matched_limit") or {}
    for claim in [*validity["without_flagged"]["claims"], *matched.get("claims", [])]:
        if claim["mark"]:
            typer.echo(f"validity   {claim['claim']}: {claim['mark'].replace('_', ' ')}")


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
    _print_support(summary)
    for scope, cross in (summary.get("forecast") or {}).get("crossover", {}).items():
        typer.echo(f"forecast   {scope}: {cross['text']}")
    if summary.get("verdict"):
        typer.echo("verdict: " + " ".join(summary["verdict"]))
    gate = summary.get("gate")
    if gate and gate.get("command"):
        answer = gate["verdict"] if gate["verdict"] != "refused" else f"refused (exit 2): {gate['refused']}"
        typer.echo(f"gate: {gate['command']} -> {answer}")


def _print_support(summary: dict[str, Any]) -> None:
    """One line of support dynamics (The Invisible Leash) and one per checkpoint step of turnover, when present."""
    at_n = (((summary.get("support") or {}).get("dynamics") or {}).get("overall") or {}).get("at_n")
    if at_n:

        def rate(key: str) -> str:
            return "n/a" if at_n.get(key) is None else f"{at_n[key]:.3f}"

        typer.echo(
            f"support    at n = {at_n['n_min']} (epsilon {at_n['epsilon']:.3g}): P {at_n['P']:.0f}  E {at_n['E']:.0f}  "
            f"S {at_n['S']:.0f}  O {at_n['O']:.0f}   SRR {rate('SRR')}  NDR {rate('NDR')}  SDS {rate('SDS')}  "
            f"NSCR {rate('NSCR')}"
        )
    for step in (summary.get("turnover") or {}).get("steps", []):
        typer.echo(
            f"turnover   {step['from']} -> {step['to']}: gained {step['gains']}, lost {step['losses']} (chance: "
            f"{step['expected']:.1f} expected, p = {step['p_gains']:.3g} / {step['p_losses']:.3g})"
        )


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
    truncate_n: TruncateOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    problem: ProblemOpt = [],  # noqa: B006
) -> None:
    """Exit 0 when the candidate did not regress, 1 when pass@k dropped more than --max-drop, 2 on bad input.

    Method: a paired sign-flip test per (task, k) check of "pass@k fell by more than --max-drop".

    Exact (McNemar-type) where every problem's pass@k is 0 or 1, as at k = n; 10,000 seeded random flips otherwise.

    Holm's adjustment over all checks: two runs of one model fail the gate in at most 1 - --confidence of cases (5%).
    """

    from evalkit.compare.gate import gate_summary, run_gate

    # --task and --problem as in every command; --adaptive runs are read by their rule's unbiased estimator
    runs = load_runs([baseline, candidate], task, problem, adaptive_ok=True)
    partial = _partial(runs, allow_partial)
    runs, truncated = _one_n(runs, truncate_n, "gate", ("baseline", "candidate"))
    result = run_gate(
        runs[0], runs[1], list(k), max_drop, confidence, tasks=None,
        mismatch="warn" if allow_mismatch else "refuse",
    )  # fmt: skip
    unknown = _unknown_settings([("baseline", runs[0]), ("candidate", runs[1])])
    for warning in [*result.warnings, *(f"WARNING: {line}" for line in unknown)]:
        typer.echo(warning, err=True)
    if as_json:
        from evalkit.compare.decision import gate_command

        command = gate_command(baseline, candidate, list(k), max_drop, confidence, list(task) or None)
        command += " --truncate-n" if truncated else ""
        extra: dict[str, Any] = {"command": command} | ({"partial": partial} if partial else {})
        extra |= {"unknown_settings": unknown} if unknown else {}
        typer.echo(json.dumps(gate_summary(result) | extra | {"truncate_n": truncated}, indent=1))
    else:
        from evalkit.compare.common_n import lines

        for line in [*_partial_lines(partial), *lines(truncated), *result.lines]:
            typer.echo(line)
        typer.echo("gate: PASS" if result.passed else "gate: FAIL (regression)")
    raise typer.Exit(0 if result.passed else 1)
