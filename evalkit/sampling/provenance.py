"""How imported completions were made: the model's name and the sampler's settings, or "unknown".

``evalkit import`` records the settings it is told (options, a ``--settings`` JSON file, or a sidecar
``<samples stem>.settings.json`` beside the samples file) and those the source format carries (an
lm-evaluation-harness results file, a lighteval results file; :mod:`evalkit.sampling.importers`). Options
win over the settings file, which wins over the format's own record. Everything else is ``null`` in the run
manifest and shown as ``unknown``: a missing setting is never filled with a default (a default temperature
of 1.0 for outputs sampled at 0.6 would make every later check wrong).

The manifest's identity then holds ``model`` (the name given, the one the format records, or
``imported:<file name>``; never a machine path unless the user gives one), ``sampling`` (``temperature``,
``top_p``, ``top_k``, ``max_tokens``, ``stop``), ``seed``, ``prompt_format`` and ``provenance`` (the source
format, the file name, where each known value came from, and the list of unknown ones).

What unknown settings stop: ``evalkit likelihood`` refuses a run whose temperature, top-p or top-k is unknown
(the sampler's distribution cannot be rebuilt; :func:`sampler_or_refuse`) or whose prompt format is unknown (the
prompts cannot be rebuilt as the sampler saw them; :func:`prompt_format_or_refuse`), unless options state them,
and comparisons warn (:func:`unknown_settings`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError, json_error_detail

#: The settings an import records, in the order they are shown.
SETTINGS = ("temperature", "top_p", "top_k", "max_tokens", "stop", "seed", "prompt_format")
#: Keys a settings file may hold: the settings and the model's name.
FILE_KEYS = ("model_name", *SETTINGS)
#: The settings a likelihood needs to rebuild the sampler's distribution.
SAMPLER_KEYS = ("temperature", "top_p", "top_k")
UNKNOWN = "unknown"
SIDECAR_SUFFIX = ".settings.json"


def shown(value: Any) -> str:
    """A recorded setting as text: ``unknown`` for None, else the value."""
    return UNKNOWN if value is None else str(value)


def _check(key: str, value: Any, where: str) -> Any:
    """``value`` of setting ``key`` checked (None passes: unknown); raises naming ``where``."""
    if value is None:
        return None
    bad = f"{where}: {key} "
    if key in ("temperature", "top_p"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise EvalkitError(f"{bad}must be a number (got {value!r})")
        if key == "temperature" and value < 0:
            raise EvalkitError(f"{bad}must be >= 0 (got {value})")
        if key == "top_p" and not 0 < value <= 1:
            raise EvalkitError(f"{bad}must be in (0, 1] (got {value})")
        return float(value)
    if key in ("top_k", "max_tokens", "seed"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise EvalkitError(f"{bad}must be an integer (got {value!r})")
        if key == "top_k" and value < 0:
            raise EvalkitError(f"{bad}must be >= 0 (0: no top-k; got {value})")
        if key == "max_tokens" and value < 1:
            raise EvalkitError(f"{bad}must be >= 1 (got {value})")
        return value
    if key == "stop":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
            raise EvalkitError(f"{bad}must be a list of strings (got {value!r})")
        return list(value)
    if key in ("prompt_format", "model_name"):
        if not isinstance(value, str) or not value.strip():
            raise EvalkitError(f"{bad}must be a non-empty string (got {value!r})")
        return value.strip()
    raise EvalkitError(f"{where}: unknown setting {key!r}; known: {', '.join(FILE_KEYS)}")


def _is_machine_path(name: str) -> bool:
    """Whether a model name a file records is a path on some machine (``/home/x/ckpt``, ``C:\\m``, ``./m``)."""
    return name.startswith(("/", "~", "./", "../", "\\")) or re.match(r"^[A-Za-z]:[\\/]", name) is not None


@dataclass
class Provenance:
    """What is known of how a samples file was made.

    Attributes:
        model_name: The model's name, or None (the label becomes ``imported:<file name>``).
        settings: Setting name (:data:`SETTINGS`) -> value; a missing key is unknown.
        sources: Setting name (and ``model_name``) -> where its value came from (``--temperature``,
            ``run.settings.json``, ``results_<date>.json``...).
    """

    model_name: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    named_by_user: bool = False

    def add(self, values: Mapping[str, Any], source: str, override: bool = True, user: bool = True) -> None:
        """Take the known (not None) ``values`` from ``source``; with ``override`` False only where unknown.
        ``user``: the user stated them (an option, a settings file), rather than a tool's own record.

        Raises:
            EvalkitError: on an unknown key or a value of the wrong type or range, naming ``source``.
        """
        for key, raw in values.items():
            value = _check(key, raw, source)
            if value is None:
                continue
            if key == "model_name":
                if override or self.model_name is None:
                    self.model_name, self.sources[key], self.named_by_user = value, source, user
            elif override or key not in self.settings:
                self.settings[key], self.sources[key] = value, source

    def label(self, samples: Path) -> str:
        """The model label: the name given or recorded (a machine path reduced to its last part), else
        ``imported:<file name>``."""
        name = self.model_name
        if name is None:
            return f"imported:{samples.name}"
        if self.named_by_user or not _is_machine_path(name):
            return name
        return f"imported:{Path(name.rstrip('/').replace(chr(92), '/')).name or samples.name}"

    def unknown(self) -> list[str]:
        """The settings nobody stated, in :data:`SETTINGS` order."""
        return [k for k in SETTINGS if k not in self.settings]

    def identity(self, samples: Path, source_format: str) -> dict[str, Any]:
        """The run manifest's identity fields for an import of ``samples`` (see the module docstring)."""
        s = self.settings
        return {
            "model": self.label(samples),
            "sampling": {k: s.get(k) for k in ("temperature", "top_p", "top_k", "max_tokens", "stop")},
            "seed": s.get("seed"),
            "prompt_format": s.get("prompt_format"),
            "provenance": {
                "format": source_format,
                "file": samples.name,
                "from": dict(sorted(self.sources.items())),
                "unknown": self.unknown(),
            },
        }


def read_settings_file(path: Path) -> dict[str, Any]:
    """A settings JSON file: an object with any of :data:`FILE_KEYS` (null: unknown).

    Raises:
        EvalkitError: for a missing or unreadable file, bad JSON, an unknown key or a bad value (naming it).
    """
    if not path.is_file():
        raise EvalkitError(f"{path}: no such settings file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise EvalkitError(f"{path}: not valid JSON ({json_error_detail(exc)})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalkitError(f"{path}: cannot read it ({exc})") from None
    if not isinstance(data, dict):
        raise EvalkitError(f"{path}: expected a JSON object of settings ({', '.join(FILE_KEYS)})")
    for key, value in data.items():
        _check(key, value, str(path))
    return data


def sidecar(samples: Path) -> Path:
    """The automatic settings file of a samples file: ``<dir>/<stem>.settings.json``."""
    return samples.with_name(samples.stem + SIDECAR_SUFFIX)


def manifest_unknown(identity: Mapping[str, Any]) -> list[str]:
    """The settings a run's identity records as unknown (null): empty for a sampled run, which records all."""
    prov = identity.get("provenance")
    if isinstance(prov, Mapping) and isinstance(prov.get("unknown"), list):
        return [str(k) for k in prov["unknown"]]
    sampling = identity.get("sampling")
    if not isinstance(sampling, Mapping):  # nothing recorded: not an import (a test's bare manifest)
        return []
    return [k for k in (*SAMPLER_KEYS, "max_tokens") if sampling.get(k, 0) is None]


def unknown_settings(identity: Mapping[str, Any], label: str) -> list[str]:
    """One warning sentence when the run ``label`` has unknown settings (empty list otherwise)."""
    unknown = manifest_unknown(identity)
    if not unknown:
        return []
    return [
        f"the {label} run's {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} unknown (not stated when "
        "it was imported): evalkit cannot check that the runs were sampled alike"
    ]


def settings_line(identity: Mapping[str, Any]) -> str:
    """The settings of a run in one line, unknown ones said so: ``temperature 0.6  top_p unknown ...``."""
    sampling = identity.get("sampling") if isinstance(identity.get("sampling"), Mapping) else {}
    assert isinstance(sampling, Mapping)
    values = {**sampling, "seed": identity.get("seed"), "prompt_format": identity.get("prompt_format")}
    return "  ".join(f"{k} {shown(values.get(k))}" for k in SETTINGS if k != "stop")


def sampler_or_refuse(sampling: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``sampling``'s temperature, top-p and top-k, or an error naming the unknown ones.

    Raises:
        EvalkitError: when one of them is None (an import that did not state it): a likelihood under an
            unknown sampler is not the sampler's.
    """
    missing = [k for k in SAMPLER_KEYS if k in sampling and sampling[k] is None]
    if missing:
        options = " ".join(f"--{k.replace('_', '-')} VALUE" for k in missing)
        raise EvalkitError(
            f"{where}: the run's {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} unknown (imported "
            "without them), so the sampler's distribution cannot be rebuilt; state them with "
            f"{options}, or import the run again with them"
        )
    return {k: sampling[k] for k in SAMPLER_KEYS if k in sampling}


#: The prompt formats ``evalkit likelihood`` can rebuild.
SCORED_FORMATS = ("raw", "chat")


def prompt_format_or_refuse(identity: Mapping[str, Any], stated: str | None, where: str) -> str:
    """The prompt format a likelihood rebuilds the run's prompts in: ``stated`` (``--prompt-format``) when
    given, else the run's own (a sampled run that records none used raw prompts).

    Raises:
        EvalkitError: for a ``stated`` format other than raw or chat, or, when none is stated, a run whose
            prompt format is unknown (an import that did not state it: null in its identity), which would
            otherwise be scored as raw prompts that the sampler may never have seen.
    """
    if stated is not None:
        if stated not in SCORED_FORMATS:
            raise EvalkitError(f"--prompt-format {stated!r}: likelihood rebuilds {' or '.join(SCORED_FORMATS)} prompts")
        return stated
    if "prompt_format" in identity and identity["prompt_format"] is None:
        raise EvalkitError(
            f"{where}: the run's prompt_format is unknown (imported without it), so its prompts cannot be rebuilt "
            "as the sampler saw them; state it with --prompt-format raw|chat, or import the run again with it"
        )
    fmt = identity.get("prompt_format")
    return "raw" if fmt is None else str(fmt)
