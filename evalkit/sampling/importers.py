"""Readers of the sample files other tools write, for ``evalkit import --format``.

Each format is read into evalkit's sample rows (``problem_id``, ``completion``, optional ``sample_idx``,
``finish_reason``, ``n_tokens``), each with the place it came from (``file:line`` or ``file:row N``) for
errors; :mod:`evalkit.sampling.replay` validates the rows and stores them. Each format's own record of how the
samples were made is read too (:func:`carried_provenance`).

- ``jsonl``: one JSON object per line, evalkit's fields by default; ``--field NAME=KEY`` maps a field to
  another key, a dotted path into nested objects (``completion=output.text``). A ``completion`` holding a
  list of strings gives one sample per item. ``position`` (an integer: the problem's place in the task,
  counted from 0) may stand in for ``problem_id``.
- ``lm-eval``: lm-evaluation-harness 0.4 ``--log_samples`` files (``samples_<task>_<date>.jsonl``). ``doc_id`` is
  the document's position in the task, ``resps[0]`` the list of the request's ``repeats`` completions (the
  raw texts; ``filtered_resps`` are the harness's extracted answers and are not imported). The harness writes
  one line per document and filter: the first filter's lines are read, the others skipped. Provenance: the
  request's ``gen_kwargs`` on the first line (``do_sample`` false: temperature 0; ``temperature``, ``top_p``,
  ``top_k`` (-1: none), ``max_gen_toks``, ``until``, ``seed``) and the sibling ``results_<date>.json``
  (``model_name``; ``chat_template``: null is a raw prompt). Only generation tasks (one request per document)
  are imported.
- ``lighteval``: lighteval 0.13 details (``details_<task>_<date>.parquet``: columns ``doc``,
  ``model_response``, ``metric``). ``doc.id`` is the document's position in the task, ``model_response.text``
  the list of samples. Provenance: ``config_general.model_config`` of ``results/<model>/results_<date>.json``
  beside ``details/`` (``model_name``; ``generation_parameters``: ``temperature`` (lighteval decodes greedily at
  its default 0), ``top_p``, ``top_k``, ``max_new_tokens``, ``seed``, ``stop_tokens``).

Positions are matched to the problems of the one ``--task`` given, in the task's order (a data set's own order;
the problems a generated task makes for indices 0, 1, ...), so the task must be the one the tool ran on.
Not read: finish reasons (lm-eval and lighteval do not record them: stored as unknown), log-probabilities,
the tools' metrics.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError, json_error_detail

FORMATS = ("jsonl", "lm-eval", "lighteval")
#: The fields ``--field`` may map.
FIELDS = ("problem_id", "completion", "sample_idx", "finish_reason", "n_tokens", "position")


@dataclass(frozen=True)
class SampleSource:
    """A samples file and how to read it.

    Attributes:
        path: The file.
        format: One of :data:`FORMATS`.
        fields: For ``jsonl``: evalkit field -> key (dotted path) in the file's objects.
        positions: Position in the task -> problem id, for rows that name a position (lm-eval, lighteval,
            a ``position`` field); None before the task's problems are known.
    """

    path: Path
    format: str = "jsonl"
    fields: Mapping[str, str] = field(default_factory=dict)
    positions: Mapping[int, str] | None = None

    def uses_positions(self) -> bool:
        """Whether the rows name problems by their position in the task rather than by id."""
        return self.format in ("lm-eval", "lighteval") or "position" in self.fields


def parse_fields(specs: list[str]) -> dict[str, str]:
    """``--field NAME=KEY`` options as a mapping.

    Raises:
        EvalkitError: for a malformed option, a NAME not in :data:`FIELDS` or a NAME given twice.
    """
    out: dict[str, str] = {}
    for spec in specs:
        name, eq, key = spec.partition("=")
        name, key = name.strip(), key.strip()
        if not eq or not name or not key:
            raise EvalkitError(f"--field {spec!r}: expected NAME=KEY, e.g. completion=output.text")
        if name not in FIELDS:
            raise EvalkitError(f"--field {spec!r}: unknown field {name!r}; known: {', '.join(FIELDS)}")
        if name in out:
            raise EvalkitError(f"--field {name} given twice")
        out[name] = key
    return out


def detect_format(path: Path) -> str:
    """The format of ``path``: ``lighteval`` for Parquet, ``lm-eval`` for JSON lines with ``doc_id`` and ``resps``,
    else ``jsonl``.

    Raises:
        EvalkitError: when the file does not exist.
    """
    if not path.is_file():
        raise EvalkitError(f"{path}: no such file")
    if path.suffix == ".parquet":
        return "lighteval"
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    return "jsonl"  # its reader names the line
                return "lm-eval" if isinstance(row, dict) and "doc_id" in row and "resps" in row else "jsonl"
    return "jsonl"


def check_format(name: str | None, path: Path, fields: Mapping[str, str]) -> str:
    """The format named by ``--format`` (checked), or detected; ``--field`` only with ``jsonl``."""
    if name is None:
        name = "jsonl" if fields else detect_format(path)
    if name not in FORMATS:
        raise EvalkitError(f"--format {name!r}: unknown format; known: {', '.join(FORMATS)}")
    if fields and name != "jsonl":
        raise EvalkitError(f"--field maps the keys of a plain JSONL file; {path} is read as {name}")
    return name


def _dig(row: Any, key: str) -> Any:
    """``row[a][b]...`` for the dotted ``key`` ``a.b...``; a list index may be a number; None when absent."""
    value = row
    for part in key.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _position_id(source: SampleSource, value: Any, where: str, what: str) -> str:
    """The problem id at position ``value`` of the task."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise EvalkitError(f"{where}: {what} must be a position in the task (an integer >= 0), got {value!r}")
    if source.positions is None:
        raise EvalkitError(f"{where}: {what} names a position in a task; give one --task")
    pid = source.positions.get(value)
    if pid is None:
        raise EvalkitError(
            f"{where}: {what} {value} is past the task's last problem (position {len(source.positions) - 1}); "
            "check --task and --problem-seed"
        )
    return pid


def read_rows(source: SampleSource) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, row) for every sample of ``source``, rows in evalkit's fields (see the module docstring).

    Raises:
        EvalkitError: on a line or row that cannot be read, naming ``file:line`` (or ``file:row N``).
    """
    if not source.path.is_file():
        raise EvalkitError(f"{source.path}: no such file")
    if source.format == "lighteval":
        yield from _lighteval_rows(source)
        return
    first_filter: str | None = None
    with source.path.open("r", encoding="utf-8", errors="surrogateescape") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{source.path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EvalkitError(
                    f"{where}: not valid JSON ({json_error_detail(exc)}); each line must be one JSON object "
                    + ('{"problem_id": ..., "completion": ...}' if source.format == "jsonl" else "")
                ) from None
            if not isinstance(row, dict):
                raise EvalkitError(f"{where}: expected a JSON object")
            if source.format == "lm-eval":
                first_filter = row.get("filter") if first_filter is None else first_filter
                if row.get("filter") != first_filter:
                    continue  # the same document again, under another of the harness's answer filters
                yield from _lm_eval_rows(source, row, where)
            else:
                yield from _jsonl_rows(source, row, where)


def _jsonl_rows(source: SampleSource, row: dict[str, Any], where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if not source.fields:
        yield where, row
        return
    mapped = {name: _dig(row, source.fields.get(name, name)) for name in FIELDS}
    out = {k: v for k, v in mapped.items() if v is not None and k != "position"}
    if "problem_id" not in out and mapped["position"] is not None:
        out["problem_id"] = _position_id(source, mapped["position"], where, f"field {source.fields.get('position')!r}")
    texts = out.get("completion")
    if isinstance(texts, list):
        if "sample_idx" in out:
            raise EvalkitError(f"{where}: a list of completions takes sample indices from its order; map no sample_idx")
        for text in texts:
            yield where, {**out, "completion": text}
        return
    if "completion" not in out and "completion" in source.fields:
        raise EvalkitError(f"{where}: no key {source.fields['completion']!r} (mapped by --field completion=...)")
    yield where, out


def _lm_eval_rows(source: SampleSource, row: dict[str, Any], where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    resps = row.get("resps")
    if "doc_id" not in row or not isinstance(resps, list):
        raise EvalkitError(f"{where}: not an lm-eval sample line (needs 'doc_id' and 'resps')")
    if len(resps) != 1 or not isinstance(resps[0], list) or not all(isinstance(t, str) for t in resps[0]):
        raise EvalkitError(
            f"{where}: 'resps' holds {len(resps)} requests; evalkit imports generation tasks "
            "(output_type generate_until: one request per document, its completions as strings)"
        )
    pid = _position_id(source, row["doc_id"], where, "doc_id")
    for j, text in enumerate(resps[0]):
        yield where, {"problem_id": pid, "completion": text, "sample_idx": j}


def _lighteval_rows(source: SampleSource) -> Iterator[tuple[str, dict[str, Any]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(source.path)
    except (pa.ArrowException, OSError) as exc:
        raise EvalkitError(f"{source.path}: not a readable Parquet file ({exc})") from None
    names = parquet.schema_arrow.names
    if "doc" not in names or "model_response" not in names:
        raise EvalkitError(f"{source.path}: not lighteval details (needs columns 'doc' and 'model_response')")
    index = 0
    for batch in parquet.iter_batches(columns=["doc", "model_response"]):
        for record in batch.to_pylist():
            index += 1
            where = f"{source.path}:row {index}"
            doc, response = record.get("doc") or {}, record.get("model_response") or {}
            texts = response.get("text")
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise EvalkitError(f"{where}: model_response.text must be a list of strings")
            pid = _position_id(source, doc.get("id"), where, "doc.id")
            tokens = response.get("output_tokens") or []
            for j, text in enumerate(texts):
                out: dict[str, Any] = {"problem_id": pid, "completion": text, "sample_idx": j}
                if j < len(tokens) and isinstance(tokens[j], list) and tokens[j]:
                    out["n_tokens"] = len(tokens[j])
                yield where, out


def max_position(source: SampleSource) -> int:
    """The largest position a position-naming file names (-1 for none), to build that many task problems."""
    probe = SampleSource(source.path, source.format, source.fields, _AnyPosition())
    top = -1
    for _where, row in read_rows(probe):
        top = max(top, int(row["problem_id"]))
    return top


class _AnyPosition(Mapping[int, str]):
    """Every position maps to itself as text (for :func:`max_position`)."""

    def __getitem__(self, key: int) -> str:
        return str(key)

    def get(self, key: int, default: Any = None) -> str:
        return str(key)

    def __iter__(self) -> Iterator[int]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _json_file(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def carried_provenance(source: SampleSource) -> list[tuple[dict[str, Any], str]]:
    """The settings ``source``'s format records (keys of :data:`evalkit.sampling.provenance.FILE_KEYS`), each
    group with the file it came from; empty when it records none (plain JSONL, a missing results file)."""
    if source.format == "lm-eval":
        return _lm_eval_provenance(source)
    if source.format == "lighteval":
        found = _lighteval_provenance(source)
        return [found] if found else []
    return []


def _lm_eval_provenance(source: SampleSource) -> list[tuple[dict[str, Any], str]]:
    groups: list[tuple[dict[str, Any], str]] = []
    out: dict[str, Any] = {}
    kwargs: Any = None
    with source.path.open("r", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip():
                try:
                    args = json.loads(line).get("arguments")
                except (json.JSONDecodeError, AttributeError):
                    break
                if isinstance(args, dict):  # 0.4.3 and later: {"gen_args_0": {"arg_0": context, "arg_1": kwargs}}
                    kwargs = _dig(args, "gen_args_0.arg_1")
                elif isinstance(args, list):  # earlier: [[context, kwargs]]
                    kwargs = _dig(args, "0.1")
                break
    if isinstance(kwargs, dict):
        if kwargs.get("do_sample") is False:
            out["temperature"] = 0.0
        elif isinstance(kwargs.get("temperature"), int | float):
            out["temperature"] = float(kwargs["temperature"])
        for key, ours in (("top_p", "top_p"), ("max_gen_toks", "max_tokens"), ("until", "stop"), ("seed", "seed")):
            if kwargs.get(key) is not None:
                out[ours] = kwargs[key]
        if isinstance(kwargs.get("top_k"), int):
            out["top_k"] = max(0, kwargs["top_k"])  # -1: no top-k
    if out:
        groups.append((out, f"{source.path.name} (gen_kwargs)"))
    date = source.path.stem.rpartition("_")[2]
    results = _json_file(source.path.with_name(f"results_{date}.json"))
    if results is not None:
        out = {}
        config = results.get("config")
        model_args = config.get("model_args") if isinstance(config, dict) else None
        pretrained = model_args.get("pretrained") if isinstance(model_args, dict) else None
        if isinstance(model_args, str):  # "pretrained=org/name,dtype=..." (0.4.0 - 0.4.7)
            pairs = dict(p.partition("=")[::2] for p in model_args.split(","))
            pretrained = pairs.get("pretrained") or pairs.get("model")
        name = results.get("model_name") or pretrained
        if isinstance(name, str) and name:
            out["model_name"] = name
        if "chat_template" in results:
            out["prompt_format"] = "raw" if results["chat_template"] is None else "chat"
        if out:
            groups.append((out, f"results_{date}.json"))
    return groups


def _lighteval_provenance(source: SampleSource) -> tuple[dict[str, Any], str] | None:
    parts = source.path.parts
    if "details" not in parts or len(source.path.parents) < 2:
        return None
    top = len(parts) - 1 - parts[::-1].index("details")  # <output_dir>/details/<model>/<date>/details_*.parquet
    date = source.path.parent.name
    model_dir = Path(*parts[top + 1 : -2]) if top + 1 < len(parts) - 2 else Path()
    results_path = Path(*parts[:top]) / "results" / model_dir / f"results_{date}.json"
    results = _json_file(results_path)
    if results is None:
        return None
    config = _dig(results, "config_general.model_config")
    if not isinstance(config, dict):
        return None
    out: dict[str, Any] = {}
    if isinstance(config.get("model_name"), str) and config["model_name"]:
        out["model_name"] = config["model_name"]
    params = config.get("generation_parameters")
    if isinstance(params, dict):
        for key, ours in (
            ("temperature", "temperature"), ("top_p", "top_p"), ("top_k", "top_k"),
            ("max_new_tokens", "max_tokens"), ("seed", "seed"), ("stop_tokens", "stop"),
        ):  # fmt: skip
            if params.get(key) is not None:
                out[ours] = float(params[key]) if key == "temperature" else params[key]
    if isinstance(config.get("use_chat_template"), bool):
        out["prompt_format"] = "chat" if config["use_chat_template"] else "raw"
    return (out, results_path.name) if out else None
