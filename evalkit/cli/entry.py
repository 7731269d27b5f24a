"""The console entry point: runs the typer app and turns errors, usage errors and Ctrl-C into exit codes."""

from __future__ import annotations

import contextlib
import difflib
import importlib
import json
import sys
from collections.abc import Sequence
from typing import Any

import typer

from evalkit.cli.common import _DEBUG, _RESUMABLE, Interrupted, app
from evalkit.errors import EvalkitError


def _click_classes(name: str) -> tuple[type[BaseException], ...]:
    """Exception class ``name`` (ClickException, Abort, Exit) of every click that may parse the command line:
    the copy that typer bundles (``typer._click``, recent typer) and the click package (older typer), plus
    typer's own ``Exit`` and ``Abort``."""
    found: list[type[BaseException]] = []
    for module in ("typer._click.exceptions", "click.exceptions", "typer.exceptions"):
        with contextlib.suppress(ImportError):
            cls = getattr(importlib.import_module(module), name, None)
            if isinstance(cls, type) and issubclass(cls, BaseException):
                found.append(cls)
    return tuple(found)


def _is_click_error(exc: BaseException) -> bool:
    """A click usage error of any click flavour (also one bundled under another module name)."""
    if isinstance(exc, _click_classes("ClickException")):
        return True
    return any(c.__name__ == "ClickException" for c in type(exc).__mro__) and callable(getattr(exc, "show", None))


def _give_usage_context(exc: BaseException, args: list[str]) -> None:
    """Give a usage error raised without a click context (click's parser raises "Option '--out' requires an
    argument" so) the context of the command that ``args`` names, so that it shows that command's usage line."""
    if not hasattr(exc, "ctx") or exc.ctx is not None:
        return
    try:
        import typer.main

        command: Any = typer.main.get_command(app)
        ctx = command.context_class(command, info_name="evalkit")
        for word in args:
            sub = command.get_command(ctx, word) if hasattr(command, "get_command") else None
            if sub is None:
                if word.startswith("-"):  # an option of the group (--debug)
                    continue
                break
            command, ctx = sub, sub.context_class(sub, info_name=word, parent=ctx)
        exc.ctx = ctx
    except Exception:  # the message alone is still shown
        return


# option names other tools use, and what evalkit calls them (an upper-case name is an argument)
OPTION_ALIASES = {
    "--samples": "--n",
    "--num-samples": "--n",
    "--n-samples": "--n",
    "--num_samples": "--n",
    "--output": "--out",
    "--output-dir": "--out",
    "--out-dir": "--out",
    "-o": "--out",
    "--model": "MODEL",
    "--model-path": "MODEL",
}


def _is_argument(param: Any) -> bool:
    """A positional argument (typer's TyperArgument is not a click Argument subclass in every version)."""
    kinds = {c.__name__ for c in type(param).__mro__}
    return bool(kinds & {"Argument", "TyperArgument"}) or getattr(param, "param_type_name", "") == "argument"


def _suggest_alias(exc: BaseException) -> None:
    """Turn click's "No such option: --samples" into "... Did you mean --n?" where ``--samples`` is another
    tool's name for an option (or argument) of this command (:data:`OPTION_ALIASES`)."""
    name = getattr(exc, "option_name", None)
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ != "NoSuchOption" or not isinstance(name, str) or ctx is None:
        return
    params = getattr(ctx.command, "params", [])
    options = {o for p in params for o in (*getattr(p, "opts", ()), *getattr(p, "secondary_opts", ()))}
    arguments = {str(p.name).upper() for p in params if _is_argument(p)}
    target = OPTION_ALIASES.get(name)
    if target is None and not getattr(exc, "possibilities", None):  # a typo of an alias: --sampels
        close = difflib.get_close_matches(name, sorted(OPTION_ALIASES), n=1, cutoff=0.8)
        target = OPTION_ALIASES[close[0]] if close else None
    if target in options:
        suggestion = target
    elif target in arguments:
        suggestion = f"the {target} argument ({ctx.command_path} {target} ...)"
    else:
        return
    exc.possibilities = None  # type: ignore[attr-defined]
    exc.message = f"No such option: {name}. Did you mean {suggestion}?"  # type: ignore[attr-defined]


def _wants_json(args: list[str]) -> bool:
    """``--json`` among the options (before a ``--`` that ends them)."""
    return "--json" in (args[: args.index("--")] if "--" in args else args)


def _json_error(message: str, code: int) -> None:
    """The error as a JSON object on stdout (with ``--json``), for scripts that parse stdout."""
    typer.echo(json.dumps({"error": message, "exit_code": code}))


def _say_interrupted(command: str | None) -> int:
    hint = "; rerun the same command to resume" if command in _RESUMABLE else ""
    typer.echo(f"interrupted{hint}", err=True)
    return 130


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: run the app and return its exit code.

    Exit codes: 0 success, 1 a regression found by ``evalkit gate``, 2 a usage error (click's usage line and
    message, whichever click typer uses) or an :class:`~evalkit.errors.EvalkitError` (one line; ``--debug``
    shows the traceback), 130 Ctrl-C (with how to resume). With ``--json``, an error (exit 2) also prints
    ``{"error": MESSAGE, "exit_code": 2}`` on stdout.

    Args:
        argv: The arguments after ``evalkit`` (default: ``sys.argv[1:]``).
    """
    _DEBUG["on"] = False
    args = list(argv) if argv is not None else sys.argv[1:]
    from evalkit.determinism import share_cpus_env

    share_cpus_env()  # before any command imports torch: OpenMP threads wait passively on shared cores
    try:
        # without standalone mode click returns the code of a typer.Exit instead of raising it
        code = app(args=args, prog_name="evalkit", standalone_mode=False)
    except EvalkitError as exc:
        if _DEBUG["on"]:
            raise
        typer.echo(f"error: {exc}", err=True)
        if _wants_json(args):
            _json_error(str(exc), 2)
        return 2
    except Interrupted as exc:
        return _say_interrupted(exc.command)
    except KeyboardInterrupt:
        return _say_interrupted(None)
    except Exception as exc:
        if isinstance(exc, _click_classes("Exit")):
            return int(getattr(exc, "exit_code", 0))
        if isinstance(exc, _click_classes("Abort")):  # older click turns Ctrl-C while parsing into Abort
            return _say_interrupted(None)
        if _is_click_error(exc):
            _give_usage_context(exc, args)
            _suggest_alias(exc)
            usage_error: Any = exc  # a ClickException of some click: it has show() and exit_code
            usage_error.show()
            # exit 1 means "regression" for the gate: a usage error is never 1
            code = max(2, int(getattr(exc, "exit_code", 2)))
            if _wants_json(args):
                _json_error(str(usage_error.format_message()), code)
            return code
        raise
    if code == 130:  # recent typer turns Ctrl-C outside a command into a silent Exit(130)
        return _say_interrupted(None)
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
