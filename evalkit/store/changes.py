"""A run's identity changes in the words of the command line: which option's value changed, from what to what.

``evalkit sample`` and ``evalkit import`` refuse to resume a run directory that was made under other options
(:meth:`evalkit.store.RunStore.create`). The refusal names the options a user typed (``--temperature: 0.7 ->
0.8``, ``--task: add -> add@digits=4``), not the manifest's keys (``sampling.temperature``). An import
(backend ``replay``) names ``evalkit import``'s options and shows a setting nobody stated as ``unknown``; where
values came from (the manifest's ``provenance.from``) is left out, since the values themselves are named.
A key no option sets (a key some command adds to the identity) is named as it is.
"""

from __future__ import annotations

import json
from typing import Any

#: identity key (``sampling.*`` one level down) -> the option of ``evalkit sample`` that sets it
SAMPLE_OPTIONS = {
    "model": "MODEL",
    "model_hash": "MODEL (its weights, commit or file)",
    "revision": "--revision",
    "backend": "--backend",
    "tasks": "--task",
    "problem_seed": "--problem-seed",
    "limit": "--limit",
    "sampling.temperature": "--temperature",
    "sampling.top_p": "--top-p",
    "sampling.top_k": "--top-k",
    "sampling.max_tokens": "--max-tokens",
    "sampling.stop": "--stop",
    "seed": "--seed",
    "prompt_format": "--chat",
    "system": "--system",
    "prompt_template": "--prompt-template",
    "adaptive": "--adaptive",
    "shard": "--shard",
}
#: the same for ``evalkit import``
IMPORT_OPTIONS = {
    **SAMPLE_OPTIONS,
    "model": "--model-name",
    "model_hash": "SAMPLES (the file's contents)",
    "prompt_format": "--prompt-format",
    "provenance.format": "--format",
    "provenance.file": "SAMPLES (the file's name)",
}
#: how an absent key reads (a sampled run records some keys only when they are not the default)
ABSENT = {"prompt_format": "raw", "system": "none", "prompt_template": "the tasks' own", "adaptive": "off"}
#: settings an import may leave unknown (null)
IMPORT_SETTINGS = {"sampling.temperature", "sampling.top_p", "sampling.top_k", "sampling.max_tokens",
                   "sampling.stop", "seed", "prompt_format"}  # fmt: skip


def _task_text(entry: Any) -> str:
    """A task of the identity as its ``--task`` spec: ``add@digits=4,reverse=true`` (the name alone without
    parameters)."""
    if not isinstance(entry, dict) or "name" not in entry:
        return json.dumps(entry, sort_keys=True)
    params = entry.get("params") or {}
    spec = ",".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in sorted(params.items()))
    return f"{entry['name']}@{spec}" if spec else str(entry["name"])


def _shown(key: str, value: Any, present: bool, imported: bool) -> str:
    if not present:
        return ABSENT.get(key, "none")
    if value is None:
        return "unknown" if imported and key in IMPORT_SETTINGS else "none"
    if key == "tasks" and isinstance(value, list):
        return " ".join(_task_text(t) for t in value) or "none"
    if key == "prompt_template" and isinstance(value, dict):
        digest = str(value.get("sha256", "?")).removeprefix("sha256:")
        return f"sha256:{digest[:12]}"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def _flat(identity: dict[str, Any]) -> dict[str, Any]:
    """The identity with ``sampling`` and ``provenance`` one level down (``sampling.temperature``)."""
    out: dict[str, Any] = {}
    for key, value in identity.items():
        if key in ("sampling", "provenance") and isinstance(value, dict):
            out.update({f"{key}.{sub}": v for sub, v in value.items()})
        else:
            out[key] = value
    return out


def option_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between two run identities, one ``OPTION: old -> new`` each, in the identity's key order
    (``--temperature: 0.7 -> 0.8``; ``--top-p: unknown -> 0.95`` for an import that did not state it before)."""
    imported = "replay" in (old.get("backend"), new.get("backend"))
    names = IMPORT_OPTIONS if imported else SAMPLE_OPTIONS
    a, b = _flat(old), _flat(new)
    out = []
    for key in [*a, *(k for k in b if k not in a)]:
        if key in ("provenance.from", "provenance.unknown") or (a.get(key) == b.get(key) and (key in a) == (key in b)):
            continue
        before, after = _shown(key, a.get(key), key in a, imported), _shown(key, b.get(key), key in b, imported)
        if before != after or (key in a and key in b):  # absent and null read alike: no change
            out.append(f"{names.get(key, key)}: {before} -> {after}")
    return out
