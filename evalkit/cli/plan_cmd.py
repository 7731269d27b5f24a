"""``evalkit plan``: problems and samples per problem a comparison needs, and what they cost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from evalkit.cli.common import _Command, app
from evalkit.errors import EvalkitError


def _floats(text: str, what: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise EvalkitError(f"plan: {what} must be comma-separated numbers (got {text!r})") from None
    if not values:
        raise EvalkitError(f"plan: {what} is empty")
    return values


def _pilot(path: Path) -> tuple[np.ndarray, float | None, int]:
    """Per-problem rates c/n of a pilot run, its mean completion tokens (None when it records none) and its n."""
    from evalkit.compare.results import load_run
    from evalkit.store import RunStore

    run = load_run(path)
    ids = [p.id for p in run.problems if run.n(p.id)]
    if not ids:
        raise EvalkitError(f"{path}: the pilot run has no problem with verified samples")
    rates = np.array([run.c(pid) / run.n(pid) for pid in ids])
    total, count = 0, 0
    for table in RunStore.open(path).completion_batches(["n_tokens"]):
        col = table.column("n_tokens").to_numpy()
        total, count = total + int(col[col > 0].sum()), count + int((col > 0).sum())
    return rates, (total / count if count else None), min(run.n(pid) for pid in ids)


def _rates(pilot: Path | None, rates: str | None, prior: str | None) -> tuple[np.ndarray, float | None, str]:
    given = [x for x in (pilot, rates, prior) if x is not None]
    if len(given) != 1:
        raise EvalkitError("plan: give exactly one of a PILOT run, --rates or --prior")
    if pilot is not None:
        values, tokens, n = _pilot(pilot)
        return values, tokens, f"pilot {pilot} ({len(values)} problems, n = {n})"
    if rates is not None:
        values = np.array(_floats(rates, "--rates"))
        source = f"assumed rates ({len(values)} values)"
    else:
        ab = _floats(str(prior), "--prior")
        if len(ab) != 2 or min(ab) <= 0:
            raise EvalkitError(f"plan: --prior takes two positive numbers A,B of a beta prior (got {prior!r})")
        from evalkit.compare.power import beta_rates

        values = beta_rates(ab[0], ab[1])
        source = f"beta({ab[0]:g}, {ab[1]:g}) prior"
    if np.any((values < 0) | (values > 1)):
        raise EvalkitError("plan: rates must lie in [0, 1]")
    return values, None, source


def _ns(k: int, n_max: int) -> list[int]:
    ns = [k]
    while ns[-1] * 2 <= n_max:
        ns.append(ns[-1] * 2)
    return ns


def _drop_plan(
    values: np.ndarray, drop: float, k: int, max_drop: float, checks: int, n_max: int, max_problems: int,
    tokens: float | None, confidence: float,
) -> dict[str, Any]:  # fmt: skip
    from evalkit.compare.power import pass_at_k_true, plan_drop

    if drop <= max_drop:
        raise EvalkitError(
            f"plan: impossible target: a gate tolerating a drop of {max_drop:g} (--max-drop) cannot catch a drop "
            f"of {drop:g}; give --drop above --max-drop"
        )
    base = float(pass_at_k_true(values, k).mean())
    if drop > base:
        raise EvalkitError(f"plan: impossible target: mean pass@{k} is {base:.3f}, so it cannot drop by {drop:g}")
    options = plan_drop(values, k, drop, max_drop, _ns(k, n_max), tokens, confidence, checks, max_problems)
    if not options:
        raise EvalkitError(
            f"plan: impossible target: no design with at most {max_problems} problems and n <= {n_max} reaches "
            f"power 0.8 for a drop of {drop:g} at pass@{k}; raise --max-problems or --n-max, or plan a larger drop"
        )
    best = min(options, key=lambda o: (o.completions, o.n))
    return {
        "target": "drop",
        "k": k,
        "drop": drop,
        "max_drop": max_drop,
        "checks": checks,
        "confidence": confidence,
        "baseline_pass_at_k": base,
        "options": [vars(o) for o in options],
        "best": vars(best),
    }


def _bound_plan(
    bound: float, problems: int | None, pilot_problems: int | None, tokens: float | None, confidence: float
) -> dict[str, Any]:
    from evalkit.compare.power import samples_for_bound

    if not 0 < bound < 1:
        raise EvalkitError(f"plan: impossible target: --rl-only-bound must lie strictly between 0 and 1 (got {bound})")
    size = problems or pilot_problems
    if not size:
        raise EvalkitError("plan: --rl-only-bound needs the number of compared problems: --problems N or a pilot run")
    n = samples_for_bound(bound, size, confidence)
    completions = 2 * size * n
    return {
        "target": "rl_only_bound",
        "bound": bound,
        "problems": size,
        "n": n,
        "completions": completions,
        "tokens": completions * tokens if tokens is not None else None,
        "note": f"exact: 1 - ({1 - confidence:g}/{size})^(1/{n}) <= {bound:g} (one-sided Clopper-Pearson at "
        f"1 - {1 - confidence:g}/N, Bonferroni over the N compared problems)",
    }


def _cost(completions: int, tokens: float | None) -> str:
    text = f"{completions:,} completions"
    if tokens is None:
        return text + " (tokens unknown: no token counts; give --tokens-per-completion)"
    return text + f", about {tokens:,.0f} tokens"


@app.command("plan", cls=_Command)
def plan_cmd(
    pilot: Annotated[Path | None, typer.Argument(help="A pilot run: its per-problem rates c/n and tokens.")] = None,
    rates: Annotated[str | None, typer.Option(help="Assumed per-sample rates, a,b,... (default: the pilot's).")] = None,
    prior: Annotated[str | None, typer.Option(help="Beta prior A,B of the rates (default: none).")] = None,
    drop: Annotated[float | None, typer.Option(help="Target: catch this drop of pass@k (default: none).")] = None,
    k: Annotated[int, typer.Option("--k", help="The k of --drop.")] = 1,
    max_drop: Annotated[float, typer.Option("--max-drop", help="The gate's tolerance (as `evalkit gate`).")] = 0.02,
    checks: Annotated[int, typer.Option(help="Checks in the gate (tasks x k): Holm's family size.")] = 1,
    rl_only_bound: Annotated[
        float | None, typer.Option("--rl-only-bound", help="Target: RL-only bound X (default: none).")
    ] = None,
    problems: Annotated[int | None, typer.Option(help="Problems, for --rl-only-bound (default: pilot's).")] = None,
    n_max: Annotated[int, typer.Option("--n-max", help="Largest samples per problem to consider.")] = 1024,
    max_problems: Annotated[int, typer.Option("--max-problems", help="Most problems available.")] = 100_000,
    tokens_per_completion: Annotated[
        float | None, typer.Option("--tokens-per-completion", help="Mean tokens per completion (default: the pilot's).")
    ] = None,
    confidence: Annotated[float, typer.Option(help="1 - the false alarm rate (as `evalkit gate`).")] = 0.95,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:  # fmt: skip
    """Problems and samples per problem a comparison needs, and the cost in completions (both models) and tokens.

    Targets: --drop D --k K (a gate that catches a drop of D in pass@K with power 0.8, normal approximation of
    its sign-flip test, checked by simulation) and --rl-only-bound X (exact). Rates from a PILOT run, --rates
    or --prior. An impossible target is one line and exit 2."""
    if drop is None and rl_only_bound is None:
        raise EvalkitError("plan: give a target: --drop D (with --k K) or --rl-only-bound X")
    if k < 1 or k > n_max:
        raise EvalkitError(f"plan: --k must be between 1 and --n-max {n_max} (got {k})")
    if not 0 <= max_drop < 1 or not 0.5 <= confidence < 1 or checks < 1 or max_problems < 2:
        raise EvalkitError(
            "plan: --max-drop must be in [0, 1), --confidence in [0.5, 1), --checks >= 1, --max-problems >= 2"
        )
    values, pilot_tokens, source = _rates(pilot, rates, prior)
    if not np.all(np.isfinite(values)):
        raise EvalkitError("plan: the rates are not finite")
    tokens = tokens_per_completion if tokens_per_completion is not None else pilot_tokens
    out: dict[str, Any] = {"rates": source, "tokens_per_completion": tokens, "plans": []}
    if drop is not None:
        out["plans"].append(_drop_plan(values, drop, k, max_drop, checks, n_max, max_problems, tokens, confidence))
    if rl_only_bound is not None:
        out["plans"].append(_bound_plan(rl_only_bound, problems, len(values) if pilot else None, tokens, confidence))
    if as_json:
        typer.echo(json.dumps(out, indent=1))
        return
    typer.echo(f"rates from {source}; cost counts both models (base and RL)")
    for plan in out["plans"]:
        if plan["target"] == "drop":
            typer.echo(
                f"gate catching a drop of {plan['drop']:g} in pass@{plan['k']} "
                f"(mean now {plan['baseline_pass_at_k']:.3f}) "
                f"at power 0.8, --max-drop {plan['max_drop']:g}, {plan['checks']} check(s):"
            )
            for o in plan["options"]:
                mark = "  <- cheapest" if o == plan["best"] else ""
                typer.echo(
                    f"  n = {o['n']:<5d} problems {o['problems']:<7d} power {o['power']:.2f}  "
                    f"{_cost(o['completions'], o['tokens'])}{mark}"
                )
        else:
            typer.echo(
                f"RL-only bound below {plan['bound']:g} over {plan['problems']} problems: n = {plan['n']} samples per "
                f"problem, {_cost(plan['completions'], plan['tokens'])} ({plan['note']})"
            )
