"""A model's identity, resolved once: which weights a run, a score or a training run uses.

:func:`resolve_model` is the one place that checks a model name and pins it: a local checkpoint directory by
its content hash (:func:`checkpoint_hash`), a hub id by the commit its revision resolves to
(:mod:`evalkit.sampling.hub`; offline, through the local cache), a server by its base URL and served name,
a samples file by its hash. The result, a :class:`ModelIdentity`, is passed on as a value: the run manifest
records :meth:`ModelIdentity.manifest`, and the hf and vLLM backends load exactly ``source`` at ``revision``
without asking the hub or hashing the checkpoint again.

Not covered: a server's weights (``--backend openai`` records what the server calls its model).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError


@dataclass(frozen=True)
class ModelIdentity:
    """A resolved model.

    Attributes:
        backend: The backend it was resolved for (``hf``, ``vllm``, ``openai``, ``replay``).
        given: The model as the user named it.
        name: The model as the manifest records it: a local checkpoint's absolute path, a hub id, a served
            model name, ``imported:<file name>`` for a samples file.
        model_hash: Content hash of a checkpoint (16 hex digits), ``hub:ORG/NAME@COMMIT``,
            ``openai:URL#NAME`` or a samples file's hash.
        revision: The 40-hex commit a hub id is pinned to; None otherwise.
        local_dir: The checkpoint directory (absolute) for a local checkpoint; None otherwise.
    """

    backend: str
    given: str
    name: str
    model_hash: str
    revision: str | None = None
    local_dir: Path | None = None

    @property
    def source(self) -> str:
        """What to load: the checkpoint directory, or the hub id (at :attr:`revision`)."""
        return str(self.local_dir) if self.local_dir is not None else self.given

    def manifest(self) -> dict[str, Any]:
        """The manifest's model fields: ``model``, ``model_hash`` and, for a hub id, ``revision``."""
        out: dict[str, Any] = {"model": self.name, "model_hash": self.model_hash}
        if self.revision is not None:
            out["revision"] = self.revision
        return out


_FULL_HASH_LIMIT = 1 << 30  # hash whole files up to 1 GiB in total; sample larger checkpoints


def checkpoint_hash(path: Path) -> str:
    """A content hash of a checkpoint directory (file names and bytes; for checkpoints over 1 GiB,
    names, sizes and the first and last MiB of each file)."""
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    total = sum(p.stat().st_size for p in files)
    digest = hashlib.sha256()
    for p in files:
        digest.update(str(p.relative_to(path)).encode() + b"\0" + str(p.stat().st_size).encode())
        with p.open("rb") as fh:
            if total <= _FULL_HASH_LIMIT:
                while block := fh.read(1 << 20):
                    digest.update(block)
            else:
                digest.update(fh.read(1 << 20))
                fh.seek(max(0, p.stat().st_size - (1 << 20)))
                digest.update(fh.read(1 << 20))
    return digest.hexdigest()[:16]


def resolve_model(backend: str, model: str, options: Mapping[str, Any] | None = None) -> ModelIdentity:
    """Identify the model without loading it: a content hash for directories and files; for a hub id, the
    commit that ``options["revision"]`` (default ``main``) resolves to (:mod:`evalkit.sampling.hub`); for a
    server, its base URL and the served model name, which must be listed by ``/v1/models`` when it answers.

    Returns:
        The :class:`ModelIdentity` every later step uses (the backends load ``identity.source`` at
        ``identity.revision``; the manifest records :meth:`ModelIdentity.manifest`).

    Raises:
        EvalkitError: no such checkpoint, an unknown or unreachable hub id or revision, a ``revision`` for a
            local checkpoint, a server that does not serve the model.
    """
    if backend == "openai":
        from evalkit.sampling.openai_backend import HTTPClient, check_served_model

        base_url = (options or {}).get("base_url")
        if not base_url:
            raise EvalkitError("--backend openai needs --base-url http://HOST:PORT/v1 (and MODEL = the served name)")
        client = HTTPClient(str(base_url), (options or {}).get("api_key"))
        check_served_model(client, model)
        return ModelIdentity(backend, model, model, f"openai:{client.base_url}#{model}")
    if backend == "replay":
        from evalkit.sampling.replay import file_hash

        path = Path(model)
        if not path.is_file():
            raise EvalkitError(f"{model}: no such samples file")
        # the file's name, never its path on this machine (the hash says which file it was)
        return ModelIdentity(backend, model, f"imported:{path.name}", file_hash(path))
    from evalkit.sampling.hub import check_hub_model, is_local_name, no_such_folder, refuse_revision_for_local

    revision = (options or {}).get("revision")
    local = Path(model).expanduser()
    if local.is_dir():
        refuse_revision_for_local(model, revision)
        if not (local / "config.json").is_file():
            raise EvalkitError(f"model {model!r}: directory has no config.json; is it a checkpoint?")
        return ModelIdentity(backend, model, str(local.resolve()), checkpoint_hash(local), local_dir=local.resolve())
    if is_local_name(model):
        raise no_such_folder(model)
    # offline and not cached: a clear error before any run directory exists; online: the commit it serves
    commit = check_hub_model(model, revision)
    return ModelIdentity(backend, model, model, f"hub:{model}@{commit}", revision=commit)


def model_identity(backend: str, model: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The manifest fields of :func:`resolve_model` (``model``, ``model_hash``, ``revision`` for a hub id).

    Raises:
        EvalkitError: as :func:`resolve_model`.
    """
    return resolve_model(backend, model, options).manifest()


def check_context(model: str, max_tokens: int, revision: str | None = None) -> None:
    """Refuse a ``max_tokens`` that leaves no room for a prompt in the model's context, before the run directory
    is created (each prompt is checked against the context again when it is encoded).

    The context is ``max_position_embeddings`` of the checkpoint's config (of its text config for multimodal
    models); a config that does not say is not checked.

    Raises:
        EvalkitError: naming the context and the two ways out.
    """
    from evalkit.sampling.base import config_context_length

    context = config_context_length(model, revision)
    if context and max_tokens >= context:
        raise EvalkitError(
            f"--max-tokens {max_tokens} leaves no room for a prompt in the context of {model!r} ({context} tokens); "
            "pass a smaller --max-tokens (without it, the tasks' default applies: see `evalkit tasks`)"
        )
