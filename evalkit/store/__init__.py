"""The run store: one directory per run (manifest, problems, append-only completion and verdict shards).

Modules: :mod:`~evalkit.store.run` (:class:`RunStore`), :mod:`~evalkit.store.parquet` (format 2 shards),
:mod:`~evalkit.store.jsonl` (format 1 shards), :mod:`~evalkit.store.convert` (format 1 -> 2),
:mod:`~evalkit.store.frame` (``evalkit.load_run`` DataFrames), :mod:`~evalkit.store.keys` (:class:`KeySet`,
identity fingerprints), :mod:`~evalkit.store.atomic` (atomic file replacement).
"""

from evalkit.store.atomic import write_atomic
from evalkit.store.convert import ConvertResult, convert_run
from evalkit.store.keys import KeySet, describe_changes, fingerprint
from evalkit.store.run import FORMAT_VERSION, FORMATS, RunStore, by_problem

_write_atomic = write_atomic  # the name evalkit.likelihood.run imports

__all__ = [
    "FORMATS",
    "FORMAT_VERSION",
    "ConvertResult",
    "KeySet",
    "RunStore",
    "by_problem",
    "convert_run",
    "describe_changes",
    "fingerprint",
    "write_atomic",
]
