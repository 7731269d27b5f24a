"""Named benchmarks: a public data set's rows at a pinned revision, a local copy of them, or a bundled sample.

A named benchmark (``math500``, ``aime24``, ``aime25``, ``amc23``, ``gsm8k``, ``mbpp``; one file each in the
``tasks/`` folder) is a :class:`Benchmark`: it names its Hugging Face data set (:class:`HubDataset`: repo,
config, split and a pinned revision), a default prompt template over the data set's own field names and a
default ``max_tokens``, and turns rows into Problems whose ids are the data set's own
(``math500:test/precalculus/807.json``; ``gsm8k:test-00042`` by row index where the data set has no id).

Where the rows come from (task spec parameters, :class:`BenchmarkConfig`):

- ``sample=true``: ``tasks/data/<name>_sample.jsonl``, a small file written for evalkit in the data set's
  format (not rows of the data set): tests and demos run offline;
- ``path=FILE``: a local copy with the data set's field names: a ``.jsonl`` file, a ``.parquet`` file, a
  directory written by ``datasets.Dataset.save_to_disk``, or a directory in the hub's layout (a clone of the
  data set repository), read through the ``datasets`` package;
- otherwise the hub: ``datasets.load_dataset(repo, config, split=..., revision=revision)``, ``revision=``
  overriding the pinned one. One metadata request (``HUB_TIMEOUT_S``) first asks the hub which commit the
  revision is; when it cannot be reached, or ``HF_HUB_OFFLINE``/``HF_DATASETS_OFFLINE`` is set, the rows come
  from the local ``datasets`` cache with offline mode on for that call (without it ``datasets`` retries for
  about 20 s), and data missing from the cache is a one-line :class:`EvalkitError` saying how to get it.

The run manifest records :meth:`Benchmark.data_identity`: the hub data set with its configured revision, or
the sha256 of the local file, directory or sample, plus the default prompt template's hash; so resuming
after the data or the template changed is refused. The commit a branch name resolved to, when the hub
answered, is recorded in each problem's ``meta["source"]``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.resources
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from evalkit.errors import EvalkitError
from evalkit.tasks.datafile import Row, file_sha256, read_jsonl
from evalkit.tasks.prompting import check_fields, render
from evalkit.tasks.registry import TaskFamily
from evalkit.types import Problem

HUB_TIMEOUT_S = 10.0
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class HubDataset:
    """Where a benchmark lives on the Hugging Face hub.

    Attributes:
        repo: The data set id, ``org/name``.
        split: The split evaluated.
        revision: The pinned commit (40 hex digits), or a branch name where no commit is pinned.
        config: The data set config (``main`` for gsm8k, ``sanitized`` for mbpp), None for the default.
    """

    repo: str
    split: str
    revision: str
    config: str | None = None

    def label(self, revision: str) -> str:
        """``repo[/config]@revision:split``, as error messages and the manifest show it."""
        return f"{self.repo}{'/' + self.config if self.config else ''}@{revision}:{self.split}"


@dataclass(frozen=True)
class BenchmarkConfig:
    """Where a benchmark's rows come from (see the module docstring); ``revision`` empty means the pinned one."""

    sample: bool = False
    path: str = ""
    revision: str = ""

    def __post_init__(self) -> None:
        if self.sample and self.path:
            raise ValueError("sample=true and path=... exclude each other")


def bundled_sample(name: str) -> Path:
    """The bundled sample file of benchmark ``name`` (``tasks/data/<name>_sample.jsonl``)."""
    path = importlib.resources.files("evalkit_tasks") / "data" / f"{name}_sample.jsonl"
    if not path.is_file():
        raise EvalkitError(f"{name}: no bundled sample file {name}_sample.jsonl")
    return Path(str(path))


def offline_spec(name: str) -> str:
    """A task spec of ``name`` that needs no network: a named benchmark's bundled sample
    (``math500@sample=true``), any other task as it is named (contract tests, demos)."""
    from evalkit.tasks.registry import get_family

    return f"{name}@sample=true" if isinstance(get_family(name), Benchmark) else name


def dir_sha256(root: Path) -> str:
    """``sha256:<hex>`` over a directory's files (relative paths and bytes, in sorted order)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and ".cache" not in p.relative_to(root).parts):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(file_sha256(path).encode() + b"\0")
    return f"sha256:{digest.hexdigest()}"


def _datasets() -> Any:
    try:
        import datasets  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise EvalkitError("named benchmarks need the `datasets` package (pip install datasets)") from None
    # "using the latest cached version", progress chatter, and error logs ("Failed to read file ...") that repeat
    # what the one-line EvalkitError says
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)
    datasets.disable_progress_bars()
    return datasets


def _records(loaded: Any, where: str) -> list[Row]:
    rows = [Row(f"{where} row {i}", dict(record)) for i, record in enumerate(loaded)]
    if not rows:
        raise EvalkitError(f"{where}: no rows")
    return rows


def read_local(path_text: str, hub: HubDataset) -> list[Row]:
    """Rows of a local copy: ``.jsonl`` (line numbers in errors), ``.parquet``, a ``save_to_disk`` directory,
    or a directory in the hub's layout (``hub.config`` and ``hub.split`` select the rows)."""
    path = Path(path_text).expanduser()
    if not path.exists():
        raise EvalkitError(f"path={path_text}: no such file or directory")
    if path.is_file() and path.suffix in (".jsonl", ".json"):
        return read_jsonl(path)
    datasets = _datasets()
    try:
        if path.is_file() and path.suffix == ".parquet":
            # the datasets cache keys a local file by path and mtime: a copy that kept the mtime (cp -p, rsync,
            # tar) would be read from the old cache, so local copies are always read again
            loaded = datasets.load_dataset(
                "parquet", data_files=str(path), split="train", download_mode="force_redownload"
            )
        elif path.is_file():
            raise EvalkitError(f"path={path_text}: expected a .jsonl or .parquet file, or a data set directory")
        elif (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file():
            loaded = datasets.load_from_disk(str(path))
            if isinstance(loaded, datasets.DatasetDict):
                if hub.split not in loaded:
                    raise EvalkitError(f"path={path_text}: no split {hub.split!r} (splits: {', '.join(loaded)})")
                loaded = loaded[hub.split]
        else:
            # a clone's README declares the configs; without one, the config's folder holds its files
            declared = (path / "README.md").is_file()
            in_folder = bool(hub.config) and (path / str(hub.config)).is_dir() and not declared
            loaded = datasets.load_dataset(
                str(path),
                hub.config if declared else None,
                data_dir=hub.config if in_folder else None,
                split=hub.split,
                download_mode="force_redownload",
            )
    except EvalkitError:
        raise
    except Exception as exc:  # unreadable parquet, a directory without data files, a missing split...
        raise EvalkitError(f"path={path_text}: cannot read it as a data set ({_reason(exc)})") from None
    return _records(loaded, str(path))


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"


def _offline_env() -> bool:
    from huggingface_hub import constants

    datasets = _datasets()
    return bool(constants.HF_HUB_OFFLINE or datasets.config.HF_HUB_OFFLINE)


@contextlib.contextmanager
def _offline_mode() -> Iterator[None]:
    """Offline mode for one ``load_dataset`` call: the cache answers at once instead of after retries.

    ``datasets`` and ``huggingface_hub`` read these flags at call time; they are restored afterwards.
    """
    from huggingface_hub import constants

    datasets = _datasets()
    saved = (constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE)
    constants.HF_HUB_OFFLINE = datasets.config.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE = saved


def resolve_revision(hub: HubDataset, revision: str) -> tuple[str | None, str | None]:
    """(commit, None) when the hub says which commit ``revision`` is, (None, why) when it cannot be asked.

    Raises:
        EvalkitError: the hub answers that there is no such data set or revision.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    if _offline_env():
        return None, "HF_HUB_OFFLINE or HF_DATASETS_OFFLINE is set"
    try:
        info = HfApi().dataset_info(hub.repo, revision=revision, timeout=HUB_TIMEOUT_S)
    except RevisionNotFoundError:
        raise EvalkitError(f"{hub.label(revision)}: the hub has no revision {revision!r} of this data set") from None
    except RepositoryNotFoundError:
        raise EvalkitError(f"{hub.repo}: no such data set on the Hugging Face hub (or it is gated)") from None
    except Exception as exc:  # connection refused, DNS failure, timeout, proxy errors...
        return None, " ".join(str(exc).split())[:160] or type(exc).__name__
    return (str(info.sha) if info.sha else None), None


def read_hub(hub: HubDataset, revision: str, task: str) -> list[Row]:
    """Rows of the hub data set at ``revision``, from the hub or, when it cannot be reached, the local cache.

    Raises:
        EvalkitError: one line: no such data set or revision, or unreachable and not cached (what to do).
    """
    commit, offline_reason = resolve_revision(hub, revision)
    datasets = _datasets()
    try:
        if offline_reason is None:
            loaded = datasets.load_dataset(hub.repo, hub.config, split=hub.split, revision=revision)
        else:
            with _offline_mode():
                loaded = datasets.load_dataset(hub.repo, hub.config, split=hub.split, revision=revision)
    except Exception as exc:
        if offline_reason is not None:
            raise EvalkitError(
                f"{task}: {hub.label(revision)} is not in the local datasets cache and the Hugging Face hub cannot "
                f"be reached ({offline_reason}); load it once where the hub is reachable, or pass "
                f"{task}@path=FILE.jsonl|FILE.parquet|DIR, or {task}@sample=true for the bundled sample"
            ) from None
        raise EvalkitError(f"{task}: cannot load {hub.label(revision)} ({_reason(exc)})") from None
    return _records(loaded, hub.label(commit or revision))


def row_text(row: Row, pid: str, name: str) -> str:
    """A non-empty string field of a row.

    Raises:
        EvalkitError: naming the row, problem id and field, when it is missing, not a string or empty.
    """
    value = row.data.get(name)
    if value is None:
        raise EvalkitError(f"{row.where}: problem {pid!r}: missing field {name!r}")
    if not isinstance(value, str):
        raise EvalkitError(f"{row.where}: problem {pid!r}: field {name!r} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise EvalkitError(f"{row.where}: problem {pid!r}: field {name!r} is empty")
    return value


def row_answer(row: Row, pid: str, name: str) -> str:
    """A row's answer field as text: a string, or a number (``27.0`` becomes ``27``).

    Raises:
        EvalkitError: naming the row, problem id and field, when it is missing, empty, not finite or of
            another type.
    """
    value = row.data.get(name)
    if value is None:
        raise EvalkitError(f"{row.where}: problem {pid!r}: missing field {name!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EvalkitError(f"{row.where}: problem {pid!r}: field {name!r} must be finite, got {value}")
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise EvalkitError(
            f"{row.where}: problem {pid!r}: field {name!r} must be a string or a number, got {type(value).__name__}"
        )
    text = str(value).strip()
    if not text:
        raise EvalkitError(f"{row.where}: problem {pid!r}: field {name!r} is empty")
    return text


def row_id(row: Row, index: int, name: str | None, fallback: str) -> str:
    """The row's id: field ``name`` (a string or an integer) when the data set has one, else ``fallback``
    formatted with the row index (``"test-{index:05d}"``); errors name the row and field."""
    if name is not None and row.data.get(name) is not None:
        value = row.data[name]
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise EvalkitError(
                f"{row.where}: field {name!r} must be a string or an integer, got {type(value).__name__}"
            )
        text = str(value).strip()
        if not text or "\n" in text:
            raise EvalkitError(f"{row.where}: field {name!r} must be non-empty and on one line, got {text!r}")
        return text
    return fallback.format(index=index)


class Benchmark(TaskFamily):
    """A named benchmark: subclasses set ``name``, ``description``, ``hub``, ``prompt_template``,
    ``default_max_tokens``, ``id_field`` (or None) and ``Config``, and define :meth:`problem`."""

    hub: ClassVar[HubDataset]
    id_field: ClassVar[str | None] = None  # the data set's id column; None: rows are numbered
    id_fallback: ClassVar[str] = "{index:05d}"  # the id of row ``index`` when there is no id column
    question_fields: ClassVar[tuple[str, ...]] = ()  # the data set's fields a template may name besides {prompt}
    takes_prompt_template = True  # verifiers read meta and the reference (the prompt only for restatements)
    Config: type[Any] = BenchmarkConfig

    def build_config(self, params: dict[str, Any]) -> Any:
        if params.get("revision") and (params.get("sample") or params.get("path")):
            raise ValueError("revision= selects a hub revision; it does not apply to sample=true or path=")
        config = self.Config(**params)
        if config.revision or config.sample or config.path:
            return config
        return dataclasses.replace(config, revision=self.hub.revision)  # the manifest records the pinned commit

    def problem(self, row: Row, pid: str, config: Any) -> tuple[dict[str, str], str, dict[str, Any]]:
        """(prompt fields, reference, meta) of one row; ``fields["prompt"]`` is the question text."""
        raise NotImplementedError

    def rows(self, config: Any) -> list[Row]:
        """The rows the config selects: the bundled sample, a local copy or the hub data set."""
        if config.sample:
            return read_jsonl(bundled_sample(self.name))
        if config.path:
            return read_local(config.path, self.hub)
        return read_hub(self.hub, config.revision, self.name)

    def load(self, config: Any) -> list[Problem]:
        check_fields(self.prompt_template, self._template_fields(), f"{self.name} default template", self.name)
        problems: list[Problem] = []
        seen: dict[str, str] = {}
        for index, row in enumerate(self.rows(config)):
            pid = row_id(row, index, self.id_field, self.id_fallback)
            if pid in seen:
                raise EvalkitError(f"{row.where}: duplicate id {pid!r} (first at {seen[pid]}); ids must be unique")
            seen[pid] = row.where
            fields, reference, meta = self.problem(row, pid, config)
            info = {**meta, "source": row.where, "source_id": pid, "prompt_fields": fields}
            prompt = render(self.prompt_template, fields)
            problems.append(Problem(f"{self.name}:{pid}", self.name, prompt, reference, info))
        return problems

    def _template_fields(self) -> tuple[str, ...]:
        return ("prompt", *self.question_fields)

    def data_identity(self, config: Any) -> str | None:
        template = hashlib.sha256(self.prompt_template.encode()).hexdigest()[:16]
        if config.sample:
            data = f"bundled {self.name}_sample.jsonl {file_sha256(bundled_sample(self.name))}"
        elif config.path:
            path = Path(config.path).expanduser()
            if not path.exists():
                raise EvalkitError(f"path={config.path}: no such file or directory")
            data = f"{path.name} {file_sha256(path) if path.is_file() else dir_sha256(path)}"
        else:
            data = f"hf:{self.hub.label(config.revision)}"
        return f"{data}; prompt template sha256:{template}"

    def data_source(self) -> str:
        """The hub data set and pinned revision, for ``evalkit tasks``."""
        pinned = self.hub.revision if not _COMMIT_RE.match(self.hub.revision) else self.hub.revision[:12]
        return self.hub.label(pinned)
