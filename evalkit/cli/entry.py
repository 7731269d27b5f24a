"""The console entry point: runs the typer app and turns errors, usage errors and Ctrl-C into exit codes."""

from __future__ import annotations

import contextlib
import importlib
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


def _say_interrupted(command: str | None) -> int:
    hint = "; rerun the same command to resume" if command in _RESUMABLE else ""
    typer.echo(f"interrupted{hint}", err=True)
    return 130


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: run the app and return its exit code.

    Exit codes: 0 success, 1 a regression found by ``evalkit gate``, 2 a usage error (click's usage line and
    message, whichever click typer uses) or an :class:`~evalkit.errors.EvalkitError` (one line; ``--debug``
    shows the traceback), 130 Ctrl-C (with how to resume).

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
            usage_error: Any = exc  # a ClickException of some click: it has show() and exit_code
            usage_error.show()
            # exit 1 means "regression" for the gate: a usage error is never 1
            return max(2, int(getattr(exc, "exit_code", 2)))
        raise
    if code == 130:  # recent typer turns Ctrl-C outside a command into a silent Exit(130)
        return _say_interrupted(None)
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
