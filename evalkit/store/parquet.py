"""Format 2 shards: one Parquet file (zstd) per append, with explicit Arrow schemas.

A shard is written whole to a temporary file, fsynced and renamed into place, so it is either complete or
absent: there is no torn tail to repair. A shard that cannot be read (truncated by a copy, overwritten, a
wrong schema) is an :class:`EvalkitError` naming the file.

Text: Arrow strings must be valid UTF-8, but a completion may hold lone surrogates (undecodable model
bytes kept by ``surrogateescape``, or half a surrogate pair). Such a text is stored in
``text_surrogatepass`` (large_binary, the text encoded with Python's ``surrogatepass`` error handler) and its
``text`` is null; every other text is in ``text`` and ``text_surrogatepass`` is null. NUL bytes are valid
UTF-8 and stay in ``text``.

Log-probabilities recorded while sampling (``logprob_sampler``, ``logprob_raw``: float64 natural logs;
``logprob_tokens``: the tokens they sum over; see :class:`evalkit.types.Completion`) are nullable columns added
later: null where the backend did not record them, and read as null from a shard written before they existed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from evalkit.errors import EvalkitError
from evalkit.store.atomic import replace_atomic
from evalkit.types import STATUSES, Completion, Verdict

SUFFIX = ".parquet"
COMPRESSION = "zstd"
_DICTIONARY_COLUMNS = ("problem_id", "finish_reason", "status", "detail", "isolation")
COMPLETION_ROW_GROUP = 1024  # rows per row group: about 4 MiB of 4 KB texts, the unit a problem filter skips

COMPLETION_SCHEMA = pa.schema(
    [
        pa.field("problem_id", pa.string(), nullable=False),
        pa.field("sample_idx", pa.int32(), nullable=False),
        pa.field("text", pa.large_string()),
        pa.field("text_surrogatepass", pa.large_binary()),
        pa.field("n_tokens", pa.int32(), nullable=False),
        pa.field("finish_reason", pa.string(), nullable=False),
        pa.field("seed", pa.int64(), nullable=False),
        # added later (see read_table): null where not recorded
        pa.field("logprob_sampler", pa.float64()),
        pa.field("logprob_raw", pa.float64()),
        pa.field("logprob_tokens", pa.int32()),
    ]
)
VERDICT_SCHEMA = pa.schema(
    [
        pa.field("problem_id", pa.string(), nullable=False),
        pa.field("sample_idx", pa.int32(), nullable=False),
        pa.field("passed", pa.bool_(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("detail", pa.string(), nullable=False),
        # added later: a shard written before holds no such column and reads as null (see read_table)
        pa.field("isolation", pa.string()),
    ]
)
# Nullable columns a shard may lack (written before they existed): read_table gives them as nulls.
_LATER_COLUMNS = frozenset(("isolation", "logprob_sampler", "logprob_raw", "logprob_tokens"))


def completions_table(completions: Iterable[Completion]) -> pa.Table:
    """Completions as a table of :data:`COMPLETION_SCHEMA` (rows in the given order)."""
    cols: dict[str, list[object]] = {name: [] for name in COMPLETION_SCHEMA.names}
    for c in completions:
        cols["problem_id"].append(c.problem_id)
        cols["sample_idx"].append(c.sample_idx)
        try:
            c.text.encode("utf-8")
            cols["text"].append(c.text)
            cols["text_surrogatepass"].append(None)
        except UnicodeEncodeError:  # lone surrogates: not representable as an Arrow string
            cols["text"].append(None)
            cols["text_surrogatepass"].append(c.text.encode("utf-8", "surrogatepass"))
        cols["n_tokens"].append(c.n_tokens)
        cols["finish_reason"].append(c.finish_reason)
        cols["seed"].append(c.seed)
        cols["logprob_sampler"].append(c.logprob_sampler)
        cols["logprob_raw"].append(c.logprob_raw)
        cols["logprob_tokens"].append(c.logprob_tokens)
    return pa.table(cols, schema=COMPLETION_SCHEMA)


def verdicts_table(verdicts: Iterable[tuple[str, int, Verdict]]) -> pa.Table:
    """(problem_id, sample_idx, verdict) records as a table of :data:`VERDICT_SCHEMA`."""
    cols: dict[str, list[object]] = {name: [] for name in VERDICT_SCHEMA.names}
    for pid, idx, v in verdicts:
        cols["problem_id"].append(pid)
        cols["sample_idx"].append(idx)
        cols["passed"].append(v.passed)
        cols["score"].append(v.score)
        cols["status"].append(v.status)
        # a verdict's detail quotes the completion; a lone surrogate there (a text that is not valid UTF-8) is
        # written as its escape (\\udcff): the detail is for reading, the text itself is kept losslessly
        cols["detail"].append(v.detail.encode("utf-8", "backslashreplace").decode("utf-8"))
        cols["isolation"].append(v.isolation or None)
    return pa.table(cols, schema=VERDICT_SCHEMA)


def write_table(path: Path, table: pa.Table, row_group_size: int | None = None) -> int:
    """Write ``table`` as a new shard at ``path`` atomically; returns its rows (0: no file written).

    Only the short, repetitive string columns are dictionary-encoded: trying it on completion texts costs a
    hash of every text and is abandoned by the writer anyway.
    """
    dictionary = [name for name in table.column_names if name in _DICTIONARY_COLUMNS]

    def write(tmp: Path) -> None:
        pq.write_table(table, tmp, compression=COMPRESSION, row_group_size=row_group_size, use_dictionary=dictionary)

    if table.num_rows:
        replace_atomic(path, write)
    return table.num_rows


def write_completions(path: Path, completions: Iterable[Completion]) -> int:
    """Write ``completions`` as a new shard at ``path``; returns the rows written."""
    return write_table(path, completions_table(completions), COMPLETION_ROW_GROUP)


def write_verdicts(path: Path, verdicts: Iterable[tuple[str, int, Verdict]]) -> int:
    """Write (problem_id, sample_idx, verdict) records as a new shard at ``path``; returns the rows written."""
    return write_table(path, verdicts_table(verdicts))


def _unreadable(path: Path, exc: BaseException) -> EvalkitError:
    reason = " ".join(str(exc).split())[:300]  # pyarrow messages span lines; the error is one
    return EvalkitError(f"{path}: unreadable Parquet shard ({reason}); move the file away to regenerate its samples")


def read_table(
    path: Path, schema: pa.Schema, columns: Sequence[str], problem_ids: Collection[str] | None = None
) -> pa.Table:
    """Read ``columns`` of one shard, only the rows of ``problem_ids`` when given.

    Row groups whose ``problem_id`` statistics exclude every wanted id are not read at all.

    Args:
        path: A shard file.
        schema: The schema the shard must have (:data:`COMPLETION_SCHEMA` or :data:`VERDICT_SCHEMA`).
        columns: Column names to read (a subset of ``schema``).
        problem_ids: Keep only these problems' rows (None: all rows).

    Returns:
        A table with ``columns`` in that order, rows in file order.

    A nullable column added to the format later (``_LATER_COLUMNS``) that an older shard lacks is read as
    nulls.

    Raises:
        EvalkitError: naming the file when it is not readable Parquet, lacks a column, holds another type
            or holds nulls in a required column.
    """
    try:
        shard = pq.ParquetFile(path)
        have = shard.schema_arrow
        later = [name for name in columns if name in _LATER_COLUMNS and name not in have.names]
        if later:
            present = [name for name in columns if name not in later] or ["problem_id"]
            table = read_table(path, schema, present, problem_ids)
            nulls = {name: pa.nulls(table.num_rows, schema.field(name).type) for name in later}
            return pa.table(
                [nulls[n] if n in nulls else table.column(n) for n in columns],
                schema=pa.schema([schema.field(n) for n in columns]),
            )
        for name in columns:
            want = schema.field(name)
            if name not in have.names or not have.field(name).type.equals(want.type):
                found = have.field(name).type if name in have.names else "missing"
                raise EvalkitError(f"{path}: column {name!r} is {found}, expected {want.type}")
        if problem_ids is None:
            table = shard.read(columns=list(columns))
        else:
            wanted = sorted(set(problem_ids))
            read = list(columns) if "problem_id" in columns else [*columns, "problem_id"]
            groups = _groups_holding(shard, wanted)
            table = shard.read_row_groups(groups, columns=read) if groups else have.empty_table().select(read)
            table = table.filter(pc.is_in(table.column("problem_id"), value_set=pa.array(wanted, pa.string())))
            table = table.select(list(columns))
    except EvalkitError:
        raise
    except (pa.ArrowException, OSError) as exc:
        raise _unreadable(path, exc) from None
    for name in columns:
        if not schema.field(name).nullable and table.column(name).null_count:
            raise EvalkitError(f"{path}: column {name!r} holds nulls")
    return table


def _groups_holding(shard: pq.ParquetFile, wanted: list[str]) -> list[int]:
    """Row groups whose problem_id min/max admit one of ``wanted`` (sorted); all of them without statistics."""
    import bisect

    column = shard.schema_arrow.get_field_index("problem_id")
    groups = []
    for g in range(shard.metadata.num_row_groups):
        stats = shard.metadata.row_group(g).column(column).statistics
        if stats is None or not stats.has_min_max:
            groups.append(g)
            continue
        at = bisect.bisect_left(wanted, stats.min)
        if at < len(wanted) and wanted[at] <= stats.max:
            groups.append(g)
    return groups


def texts(table: pa.Table) -> list[str]:
    """The completion texts of a table holding both text columns, surrogates restored."""
    plain = table.column("text").to_pylist()
    if table.column("text").null_count:
        raw = table.column("text_surrogatepass").to_pylist()
        pairs = zip(plain, raw, strict=True)
        return [t if t is not None else (r or b"").decode("utf-8", "surrogatepass") for t, r in pairs]
    return plain


def read_completions(path: Path, problem_ids: Collection[str] | None = None) -> Iterator[Completion]:
    """The completions of one shard in file order (only ``problem_ids``' when given).

    Raises:
        EvalkitError: naming the file (see :func:`read_table`), or a row with neither text column set.
    """
    table = read_table(path, COMPLETION_SCHEMA, COMPLETION_SCHEMA.names, problem_ids)
    if pc.sum(pc.and_(pc.is_null(table.column("text")), pc.is_null(table.column("text_surrogatepass")))).as_py():
        raise EvalkitError(f"{path}: a completion has no text")
    rows = zip(
        table.column("problem_id").to_pylist(),
        table.column("sample_idx").to_pylist(),
        texts(table),
        table.column("n_tokens").to_pylist(),
        table.column("finish_reason").to_pylist(),
        table.column("seed").to_pylist(),
        table.column("logprob_sampler").to_pylist(),
        table.column("logprob_raw").to_pylist(),
        table.column("logprob_tokens").to_pylist(),
        strict=True,
    )
    for pid, idx, text, n_tokens, finish, seed, lp_sampler, lp_raw, lp_tokens in rows:
        yield Completion(pid, idx, text, n_tokens, finish, seed, lp_sampler, lp_raw, lp_tokens)


def check_statuses(path: Path, table: pa.Table) -> None:
    """Raise an EvalkitError naming ``path`` when the ``status`` column holds a value outside STATUSES."""
    unknown = set(pc.unique(table.column("status")).to_pylist()) - set(STATUSES)
    if unknown:
        raise EvalkitError(f"{path}: unknown verdict status {sorted(unknown)[0]!r}")


def read_verdicts(path: Path) -> Iterator[tuple[str, int, Verdict]]:
    """(problem_id, sample_idx, verdict) for each row of one shard, in file order.

    Raises:
        EvalkitError: naming the file (see :func:`read_table`) or an unknown status.
    """
    table = read_table(path, VERDICT_SCHEMA, VERDICT_SCHEMA.names)
    check_statuses(path, table)
    rows = zip(*(table.column(name).to_pylist() for name in VERDICT_SCHEMA.names), strict=True)
    for pid, idx, passed, score, status, detail, isolation in rows:
        yield pid, idx, Verdict(passed, score, status, detail, isolation or "")
