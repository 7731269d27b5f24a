"""Problems: the task registry, data files, user task folders, named benchmarks and prompt formats.

* :mod:`.registry`: task families by name, ``NAME@key=value`` specs, problem generation (re-exported here:
  ``from evalkit.tasks import TaskFamily, register`` is how a task family is written).
* :mod:`.datafile`: JSONL / Parquet / hub-layout rows read and checked (one-line errors naming file and line).
* :mod:`.taskdir`: ``--tasks-dir DIR``: every ``DIR/*.jsonl`` becomes a task (answer files and code files).
* :mod:`.benchmark`: the base class of named benchmarks (a public data set at a pinned revision).
* :mod:`.prompting`: prompt templates (``--prompt-template``).

The built-in task families themselves (``add``, ``math500``, ``humaneval``, ``rg:*``...) live in the top-level
``tasks/`` folder of the repository, installed as the ``evalkit_tasks`` package; they register themselves when
the registry first needs them. Task verifiers are built from :mod:`evalkit.grading`.
"""

from evalkit.tasks.registry import (
    TaskFamily,
    TaskSpec,
    config_hash,
    default_max_tokens,
    exact_answer_key,
    exact_answer_verdict,
    family_class_for,
    get_family,
    make_problems,
    prefix_names,
    prefix_task_names,
    problems_for,
    register,
    register_factory,
    register_prefix,
    sandbox_only,
    seeded_subset,
    task_names,
    unregister_factory,
)

__all__ = [
    "TaskFamily",
    "TaskSpec",
    "config_hash",
    "default_max_tokens",
    "exact_answer_key",
    "exact_answer_verdict",
    "family_class_for",
    "get_family",
    "make_problems",
    "prefix_names",
    "prefix_task_names",
    "problems_for",
    "register",
    "register_factory",
    "register_prefix",
    "sandbox_only",
    "seeded_subset",
    "task_names",
    "unregister_factory",
]
