"""The ``evalkit`` command line: one module per command group, each thin (parse, call, print).

* :mod:`.common`: the typer app, shared options and the command class (Ctrl-C handling).
* :mod:`.tasks_cmds` (``tasks``, ``problems``), :mod:`.sample_cmds` (``sample``), :mod:`.runs_cmds`
  (``import``, ``merge``, ``score``, ``convert``, ``summary``), :mod:`.compare_cmds` (``compare``, ``report``,
  ``gate``), :mod:`.forecast_cmd` (``forecast``), :mod:`.likelihood_cmd` (``likelihood``), :mod:`.suite_cmd`
  (``suite zero-baseline``), :mod:`.audit_cmd` (``audit contamination``, ``audit guess``), :mod:`.train_cmds`
  (``train sft``, ``train grpo``, ``demo``); :mod:`.demo` is the demo's pipeline.
* :mod:`.entry`: :func:`main`, the console entry point: errors become one line and exit 2, usage errors
  click's usage line and exit 2, Ctrl-C exit 130.
"""

# importing the command modules registers their commands on the app, in the order the help page lists them
from evalkit.cli import tasks_cmds, sample_cmds, runs_cmds, compare_cmds  # noqa: F401, I001
from evalkit.cli import forecast_cmd, likelihood_cmd, suite_cmd, train_cmds  # noqa: F401
from evalkit.cli import audit_cmd, plan_cmd  # noqa: F401
from evalkit.cli.common import app
from evalkit.cli.entry import main

__all__ = ["app", "main"]
