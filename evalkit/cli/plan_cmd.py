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


def _pilot(path: Path) -> tuple[np.ndarray, np.ndarray, float | None]:
    """Per-problem samples n and correct samples c of a pilot run (problems with verified samples), shape
    (problems,) each, and its mean completion tokens (None when it records none)."""
    from evalkit.compare.results import load_run
    from evalkit.store import RunStore

    run = load_run(path)
    ids = [p.id for p in run.problems if run.n(p.id)]
    if not ids:
        raise EvalkitError(f"{path}: the pilot run has no problem with verified samples")
    n = np.array([run.n(pid) for pid in ids], dtype=np.int64)
    c = np.array([run.c(pid) for pid in ids], dtype=np.int64)
    total, count = 0, 0
    for table in RunStore.open(path).completion_batches(["n_tokens"]):
        col = table.column("n_tokens").to_numpy()
        total, count = total + int(col[col > 0].sum()), count + int((col > 0).sum())
    return n, c, (total / count if count else None)


Counts = tuple[np.ndarray, np.ndarray]


def _rates(
    pilot: Path | None, rates: str | None, prior: str | None
) -> tuple[np.ndarray, float | None, str, Counts | None]:
    """The rates (c/n of a pilot's problems, assumed rates, or a beta prior's quantiles), the pilot's mean
    tokens, a description, and the pilot's counts (n, c) (None without a pilot)."""
    given = [x for x in (pilot, rates, prior) if x is not None]
    if len(given) != 1:
        raise EvalkitError("plan: give exactly one of a PILOT run, --rates or --prior")
    if pilot is not None:
        n, c, tokens = _pilot(pilot)
        return c / n, tokens, f"pilot {pilot} ({len(n)} problems, n = {int(n.min())})", (n, c)
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
    return values, None, source, None


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


POSTERIOR_DRAWS = 20  # rates drawn per pilot problem for a forecast target


def _forecast_rates(values: np.ndarray, counts: Counts | None) -> tuple[np.ndarray, str]:
    """The population of rates a forecast target is planned on, and what it is.

    Without a pilot, the given rates (or prior quantiles) themselves. With a pilot, not its c/n: a forecast
    beyond n is decided by the rates below 1/n, where c/n is 0 for every unsolved problem (no unsolved problem
    could ever be solved) and a per-problem Jeffreys posterior gives every one of them a rate near 1/(2n)
    (none unsolvable). Instead each pilot problem contributes :data:`POSTERIOR_DRAWS` draws from the
    forecast's own posterior given the pilot's counts (:func:`evalkit.stats.forecast.posterior_rates`: the
    zero-inflated beta fitted to the low counts, with its hyperparameters' uncertainty; Jeffreys for the
    solved bulk), which is what ``evalkit forecast`` would believe of these problems. A pilot below
    ``MIN_N`` samples per problem has too few samples for that fit: its problems' Jeffreys posteriors are used.
    """
    from evalkit.stats.forecast import MIN_N, posterior_rates

    if counts is None:
        return values, "the --rates or --prior values themselves"
    n, c = counts
    if int(n.min()) >= MIN_N:
        drawn = posterior_rates(n, c, POSTERIOR_DRAWS, seed=0)
        text = f"{POSTERIOR_DRAWS} draws per pilot problem from the forecast's posterior given its counts"
    else:
        rng = np.random.default_rng(0)
        drawn = rng.beta(c + 0.5, n - c + 0.5, size=(POSTERIOR_DRAWS, n.size))
        text = f"{POSTERIOR_DRAWS} draws per pilot problem from its Jeffreys posterior (pilot n < {MIN_N})"
    return drawn.ravel(), text


def _forecast_plan(
    values: np.ndarray, counts: Counts | None, k: int, within: float, n_max: int, max_problems: int,
    tokens: float | None,
) -> dict[str, Any]:  # fmt: skip
    from evalkit.compare.forecast_plan import CONFIDENCE, PROBABILITY, SIMULATE_UP_TO, forecast_ns, plan_forecast
    from evalkit.stats.forecast import MIN_N

    if not 0 < within < 1:
        raise EvalkitError(f"plan: impossible target: --within must lie strictly between 0 and 1 (got {within:g})")
    if k <= 1:
        raise EvalkitError(f"plan: --forecast-k must be at least 2 (got {k})")
    if n_max < MIN_N:
        raise EvalkitError(f"plan: a forecast needs n >= {MIN_N} samples per problem; give --n-max >= {MIN_N}")
    ns = forecast_ns(k, n_max)
    if not ns:
        raise EvalkitError(
            f"plan: impossible target: --forecast-k {k} is not above the smallest n a forecast fits ({MIN_N}); "
            f"for k <= n pass@k is observed, not forecast"
        )
    population, drawn = _forecast_rates(values, counts)
    options = plan_forecast(population, k, within, ns, tokens, max_problems)
    if not options:
        raise EvalkitError(
            f"plan: impossible target: no design with at most {max_problems} problems and {ns[0]} <= n <= {ns[-1]} "
            f"forecasts pass@{k} within +-{within:g} (95% interval, with probability {PROBABILITY:g}); raise "
            f"--max-problems or --n-max, or plan a wider --within"
        )
    best = min(options, key=lambda o: (o.completions, o.n))
    return {
        "target": "forecast",
        "k": k,
        "within": within,
        "confidence": CONFIDENCE,
        "probability": PROBABILITY,
        "statistic": f"{PROBABILITY:.0%} quantile over problem sets of the half-width (high - low) / 2 of "
        f"`evalkit forecast`'s {CONFIDENCE:.0%} interval of pass@{k}, simulated",
        "rates": drawn,
        "models": 1,
        "simulated_up_to": SIMULATE_UP_TO,
        "max_problems": max_problems,
        "n_considered": ns,
        "options": [vars(o) for o in options],
        "best": vars(best),
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
    forecast_k: Annotated[
        int | None, typer.Option("--forecast-k", help="Target: pass@K beyond n, with --within (default: none).")
    ] = None,
    within: Annotated[
        float | None, typer.Option(help="Half-width E of the forecast's 95% interval (--forecast-k; default: none).")
    ] = None,
    n_max: Annotated[int, typer.Option("--n-max", help="Largest samples per problem to consider.")] = 1024,
    max_problems: Annotated[int, typer.Option("--max-problems", help="Most problems available.")] = 100_000,
    tokens_per_completion: Annotated[
        float | None, typer.Option("--tokens-per-completion", help="Mean tokens per completion (default: the pilot's).")
    ] = None,
    confidence: Annotated[float, typer.Option(help="1 - the false alarm rate (as `evalkit gate`).")] = 0.95,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:  # fmt: skip
    """Problems and samples per problem a comparison or a forecast needs, and the cost in completions and tokens.

    Targets: --drop D --k K (a gate that catches a drop of D in pass@K with power 0.8, normal approximation of
    its sign-flip test, checked by simulation), --rl-only-bound X (exact), both costed for two models, and
    --forecast-k K --within E (`evalkit forecast`'s 95% interval of pass@K has half-width at most E with
    probability 0.8, simulated; costed for one model). Rates from a PILOT run, --rates or --prior. An
    impossible target is one line and exit 2."""
    if drop is None and rl_only_bound is None and forecast_k is None:
        raise EvalkitError("plan: give a target: --drop D (with --k K), --rl-only-bound X or --forecast-k K --within E")
    if (forecast_k is None) != (within is None):
        raise EvalkitError("plan: a forecast target takes both --forecast-k K and --within E")
    if k < 1 or k > n_max:
        raise EvalkitError(f"plan: --k must be between 1 and --n-max {n_max} (got {k})")
    if not 0 <= max_drop < 1 or not 0.5 <= confidence < 1 or checks < 1 or max_problems < 2:
        raise EvalkitError(
            "plan: --max-drop must be in [0, 1), --confidence in [0.5, 1), --checks >= 1, --max-problems >= 2"
        )
    values, pilot_tokens, source, counts = _rates(pilot, rates, prior)
    if not np.all(np.isfinite(values)):
        raise EvalkitError("plan: the rates are not finite")
    tokens = tokens_per_completion if tokens_per_completion is not None else pilot_tokens
    out: dict[str, Any] = {"rates": source, "tokens_per_completion": tokens, "plans": []}
    if drop is not None:
        out["plans"].append(_drop_plan(values, drop, k, max_drop, checks, n_max, max_problems, tokens, confidence))
    if rl_only_bound is not None:
        out["plans"].append(_bound_plan(rl_only_bound, problems, len(values) if pilot else None, tokens, confidence))
    if forecast_k is not None and within is not None:
        out["plans"].append(_forecast_plan(values, counts, forecast_k, within, n_max, max_problems, tokens))
    if as_json:
        typer.echo(json.dumps(out, indent=1))
        return
    both = drop is not None or rl_only_bound is not None
    typer.echo(f"rates from {source}" + ("; cost counts both models (base and RL)" if both else ""))
    for plan in out["plans"]:
        if plan["target"] == "forecast":
            _echo_forecast(plan)
        elif plan["target"] == "drop":
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


def _echo_forecast(plan: dict[str, Any]) -> None:
    typer.echo(
        f"forecast of pass@{plan['k']} within +-{plan['within']:g}: the {plan['confidence']:.0%} interval's "
        f"half-width at most {plan['within']:g} with probability {plan['probability']:g} (the half-width shown "
        f"is its {plan['probability']:.0%} quantile over problem sets; rates: {plan['rates']}); "
        f"cost counts one model:"
    )
    for o in plan["options"]:
        mark = "  <- cheapest" if o == plan["best"] else ""
        how = "" if o["simulated"] else f"  (extrapolated beyond {plan['simulated_up_to']:,} problems)"
        p = o["within_probability"]
        share = f"; within +-{plan['within']:g} in {p:.0%} of simulated sets" if p is not None else ""
        typer.echo(
            f"  n = {o['n']:<5d} problems {o['problems']:<7d} half-width {o['half_width']:.4f} "
            f"(median {o['median_half_width']:.4f}{share})  {_cost(o['completions'], o['tokens'])}{mark}{how}"
        )
    found = {o["n"] for o in plan["options"]}
    missing = [str(n) for n in plan["n_considered"] if n not in found]
    if missing:
        typer.echo(f"  (n = {', '.join(missing)}: more than {plan['max_problems']:,} problems needed)")
