"""Convert a format 1 run (JSON-line shards) to format 2 (Parquet shards) in place.

Order of the steps, so that a kill at any moment leaves a readable run and a rerun finishes the job:

1. with the run's writer lock held, write ``NNNNNN.parquet`` beside each ``NNNNNN.jsonl`` shard (each one
   atomically). The manifest still says format 1, so readers use the JSON-line shards and ignore these;
2. replace the manifest with the same manifest saying ``"format": 2`` (atomic): from here readers use the
   Parquet shards and ignore the JSON-line ones;
3. delete the JSON-line shards.

A rerun after a kill in step 1 writes every Parquet shard again; after step 2 it only deletes leftovers.
Torn-tail quarantine files (``*.jsonl.torn``) are kept: they hold no sample the run counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.store import jsonl, parquet
from evalkit.store.atomic import fsync_dir
from evalkit.store.run import RunStore


@dataclass(frozen=True)
class ConvertResult:
    """What :func:`convert_run` did.

    Attributes:
        converted: Whether the run was format 1 when called (False: it was already format 2).
        completions: Completion records written to Parquet shards.
        verdicts: Verdict records written to Parquet shards.
        removed: JSON-line shard files deleted.
    """

    converted: bool
    completions: int
    verdicts: int
    removed: int


def convert_run(root: Path) -> ConvertResult:
    """Convert the run at ``root`` to format 2 (see the module docstring for the order of steps).

    Raises:
        EvalkitError: when ``root`` is not a run, another process writes it, or a shard is corrupt (naming it;
            nothing is changed then beyond Parquet shards that readers ignore).
    """
    store = RunStore.open(root)
    store.lock()
    try:
        completions = verdicts = 0
        converted = store.format == 1
        if converted:
            for shard in store.shards("completions", 1):
                completions += parquet.write_completions(
                    shard.with_suffix(parquet.SUFFIX), jsonl.read_completions(shard)
                )
            for shard in store.shards("verdicts", 1):
                verdicts += parquet.write_verdicts(shard.with_suffix(parquet.SUFFIX), jsonl.read_verdicts(shard))
            manifest = store.manifest()
            if manifest.get("format", 1) != 1:
                raise EvalkitError(f"{root}: the manifest changed during conversion")
            store.write_manifest({**manifest, "format": 2})
        removed = 0
        for kind in ("completions", "verdicts"):
            for shard in store.shards(kind, 1):
                shard.unlink()
                removed += 1
            if (store.root / kind).is_dir():
                fsync_dir(store.root / kind)
        return ConvertResult(converted, completions, verdicts, removed)
    finally:
        store.unlock()
