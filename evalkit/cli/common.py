"""The ``evalkit`` command line (typer).

Every command turns an :class:`~evalkit.errors.EvalkitError` into one line on stderr and exit code 2
(``--debug`` shows the traceback); a usage error (unknown command or option, missing argument, a value of
the wrong type) prints click's usage line and exits 2 too, whichever click typer parses with; Ctrl-C exits
130, saying whether a rerun resumes. ``evalkit gate`` exits 1 on a regression, and only then. Heavy modules
are imported inside the commands so that ``evalkit --help`` and spawned verifier workers start fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core

from evalkit.errors import EvalkitError

# commands that a rerun resumes: an interrupt says so
_RESUMABLE = frozenset({"sample", "import", "compare", "grpo", "demo", "likelihood", "contamination"})


class Interrupted(BaseException):  # a signal, like KeyboardInterrupt, not an error
    """Ctrl-C inside a command, carried past click to :func:`main` (click would turn a KeyboardInterrupt
    into ``Abort`` or a silent ``Exit(130)``, depending on its version).

    Args:
        command: The name of the interrupted command (``sample``, ``grpo``...).
    """

    def __init__(self, command: str) -> None:
        super().__init__(command)
        self.command = command


def _plain_flags(params: list[Any]) -> list[Any]:
    """Give flags (``--chat``, ``--force/--no-force``, ``--help``) an empty metavar, so that help pages show no
    value type for them (typer 0.29's help shows ``<bool>``; older versions show nothing either way)."""
    for param in params:
        if getattr(param, "is_flag", False) and getattr(param, "metavar", None) is None:
            param.metavar = ""
    return params


class _Group(typer.core.TyperGroup):
    """typer's group with plain flags in its help page."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_flags(super().get_params(ctx))


class _Command(typer.core.TyperCommand):
    """typer's command with plain flags in its help page and Ctrl-C raised as :class:`Interrupted`."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_flags(super().get_params(ctx))

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise Interrupted(self.name or "") from None


app = typer.Typer(
    cls=_Group,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Does RL expand what a model can solve? pass@k to k=1024, frontier classes, reports, a CI gate.",
)
train_app = typer.Typer(
    cls=_Group,
    no_args_is_help=True,
    help="Make checkpoints: a tiny base model (sft) or an RL model (grpo).",
)
app.add_typer(train_app, name="train")

_DEBUG = {"on": False}

TaskOpt = Annotated[list[str], typer.Option("--task", "-t", help="Task spec NAME or NAME@key=value,... (repeatable).")]
SelectTaskOpt = Annotated[
    list[str],
    typer.Option("--task", "-t", help="Read only this task's problems (repeatable; default: every task)."),
]
ProblemOpt = Annotated[
    list[str],
    typer.Option("--problem", help="Read only this problem id, or @FILE of ids one a line (repeatable)."),
]
TasksDirOpt = Annotated[
    Path | None,
    typer.Option("--tasks-dir", help="Folder of *.jsonl task files; each becomes a task named by its stem."),
]


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False) -> None:
    _DEBUG["on"] = debug


def _use_tasks_dir(tasks_dir: Path | None) -> None:
    if tasks_dir is not None:
        from evalkit.tasks.taskdir import register_tasks_dir

        register_tasks_dir(tasks_dir)


def check_writable(path: Path, option: str = "--out", is_file: bool = False, advice: str | None = None) -> None:
    """Refuse (one line, exit 2) an output that cannot be written, before any work starts.

    The folder ``path`` (with ``is_file``: the folder that will hold the file ``path``) is created if it is
    missing and a probe file is written and removed in it; folders made for the probe are removed again, so a
    command that fails later leaves nothing behind. A path under a regular file, on a read-only file system or
    without permission fails here, naming ``option`` and the reason, and ending with ``advice`` (default:
    choose another ``option``).
    """
    import contextlib
    import os
    import tempfile

    advice = advice or f"choose another {option}"
    target = path.expanduser()
    if is_file and target.is_dir():
        raise EvalkitError(f"{option} {path}: is a folder; give a file path")
    folder = target.parent if is_file else target
    if folder.exists() and not folder.is_dir():
        raise EvalkitError(f"{option} {path}: {folder} is a file, not a folder; {advice}")
    ancestor = folder
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        raise EvalkitError(f"{option} {path}: cannot create it because {ancestor} is a file; {advice}")
    made: list[Path] = []
    try:
        for part in reversed([folder, *folder.parents]):
            if not part.exists():
                part.mkdir()
                made.append(part)
        fd, probe = tempfile.mkstemp(prefix=".evalkit-write-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise EvalkitError(f"{option} {path}: cannot write there ({reason}); {advice}") from None
    finally:
        for part in reversed(made):
            with contextlib.suppress(OSError):
                part.rmdir()


def _specs(tasks: list[str]) -> list[Any]:
    from evalkit.tasks.registry import TaskSpec

    if not tasks:
        raise EvalkitError("no task given; pass --task NAME (see `evalkit tasks`)")
    return [TaskSpec.parse(t) for t in tasks]


def load_runs(
    paths: list[Path], tasks: list[str] | None = None, problems: list[str] | None = None, adaptive_ok: bool = False
) -> list[Any]:
    """The runs at ``paths``, each cut to the ``--task`` and ``--problem`` selection, the same way in every
    command (:mod:`evalkit.compare.selection`); an unknown task or id is an error naming it and the run.
    Runs sampled with ``--adaptive`` are refused unless ``adaptive_ok`` (see :func:`load_run`)."""
    from evalkit.compare.results import load_run
    from evalkit.compare.selection import Selection

    selection = Selection.parse(tasks, problems)
    return [load_run(path, selection, adaptive_ok=adaptive_ok) for path in paths]


TRUNCATION_WARN = 0.05  # above this fraction of completions cut at --max-tokens, the summary warns


def print_run_summary(run: Path, results: Any = None, allow_partial: bool = False) -> None:
    """Print pass@k per task of the run at ``run`` (or of ``results``, the run as loaded with a selection), its
    truncation rate, and warnings (after sample, import, score). ``allow_partial``: summarise the problems with
    verified samples only (``evalkit summary --allow-partial``)."""
    from evalkit.compare.results import load_run, summarize

    results = results if results is not None else load_run(run, adaptive_ok=True)
    summary = summarize(results, allow_partial=allow_partial)
    for task, row in summary["tasks"].items():
        cells = "  ".join(f"@{k}={v:.3f}" for k, v in row["pass_at_k"].items() if v is not None)
        typer.echo(f"{task:10s} {row['n_problems']:4d} problems  n={row.get('n_target', row['n_min'])}  pass{cells}")
        if "samples_fixed" in row:  # --adaptive: what the stopping rule drew, against a fixed-n run
            drawn, fixed = row["samples_drawn"], row["samples_fixed"]
            typer.echo(
                f"{'':10s} --adaptive: {drawn} of {fixed} samples drawn ({100 * drawn / fixed:.1f}% of n = "
                f"{row['n_target']}); {row['stopped_early']} problems stopped at "
                f"{summary['adaptive']['successes']} correct"
            )
    truncated = float(summary["rates"].get("truncated", 0.0))
    unknown = float(summary["rates"].get("finish_unknown", 0.0))
    if unknown >= 1.0:
        typer.echo("truncated  unknown: the completions were stored without finish reasons")
    elif unknown > 0:
        typer.echo(
            f"truncated  {100 * truncated:.1f}% of completions stopped at the token limit "
            f"(finish reason unknown for {100 * unknown:.1f}%)"
        )
    else:
        typer.echo(f"truncated  {100 * truncated:.1f}% of completions stopped at the token limit")
    _print_settings(results.manifest.get("identity", {}))
    if truncated > TRUNCATION_WARN:
        limit = results.manifest.get("identity", {}).get("sampling", {}).get("max_tokens")
        at = f" --max-tokens {limit}" if limit else " the token limit"
        typer.echo(
            f"warning: {100 * truncated:.1f}% of completions were cut at{at} and count as failures; "
            "pass@k mostly measures the length limit: raise --max-tokens",
            err=True,
        )
    if summary["unverified"]:
        typer.echo(f"note: {summary['unverified']} completions have no verdict yet; run `evalkit score`", err=True)
    _warn_uneven(results)
    warn_isolation(run)


def _warn_uneven(results: Any) -> None:
    """Warn on stderr when a task's problems hold uneven numbers of samples (an import whose file lacks some):
    ``summary``, ``compare``, ``report`` and ``gate`` refuse such a run unless --truncate-n."""
    from evalkit.compare.common_n import OPTION, uneven_tasks

    if results.manifest.get("identity", {}).get("adaptive") is not None:
        return
    for task in uneven_tasks([("run", results)]):
        typer.echo(
            f"warning: uneven samples per problem, {task.text()}; summary, compare, report and gate refuse it "
            f"unless {OPTION} (every problem at n = {task.n})",
            err=True,
        )


def _print_settings(identity: dict[str, Any]) -> None:
    """An imported run's settings in one line, each one nobody stated said to be unknown."""
    from evalkit.sampling.provenance import manifest_unknown, settings_line

    if identity.get("backend") == "replay" or manifest_unknown(identity):
        typer.echo(f"model      {identity.get('model')}")
        typer.echo(f"settings   {settings_line(identity)}")


def warn_isolation(run: Path) -> None:
    """Warn on stderr when verdicts of the run at ``run`` held fewer isolation layers than they could have."""
    from evalkit.store import RunStore
    from evalkit.verify.stage import isolation_shortfall

    shortfall = isolation_shortfall(RunStore.open(run))
    if shortfall:
        typer.echo(f"warning: {shortfall}", err=True)
