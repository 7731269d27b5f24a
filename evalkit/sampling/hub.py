"""Hugging Face hub ids: check them and pin them to a commit before anything is created.

A hub id names a moving target: ``Qwen/Qwen2.5-Math-1.5B`` is whatever its ``main`` branch holds today.
evalkit therefore resolves every hub id (and an optional ``--revision``: a branch, tag or commit) to the
commit hash it will load, records that hash in the run manifest (``model_hash: hub:ORG/NAME@SHA`` and
``revision``) and loads exactly that commit. A resume whose id resolves to another commit is refused by the
run store, naming the change, so a run never mixes samples of two models.

Resolution asks the hub once (``HfApi.model_info``, :data:`HUB_TIMEOUT_S`). When the hub cannot be reached
(or ``HF_HUB_OFFLINE`` is set) it reads the local Hugging Face cache instead: a branch or tag name through
``models--ORG--NAME/refs/<name>``, a commit hash directly, and in both cases the snapshot must hold the
commit's ``config.json``. Local checkpoint directories are identified by their content hash instead
(:func:`evalkit.sampling.identity.checkpoint_hash`); a ``--revision`` for one is refused.

Not implemented: pinning the revision of a server's model (``--backend openai`` names what the server
serves; its base URL and model name are recorded).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from evalkit.errors import EvalkitError

HUB_TIMEOUT_S = 10.0  # one metadata request; transformers' own retries take about a minute offline
_COMMIT = re.compile(r"[0-9a-f]{40}")
_PINNED: set[tuple[str, str]] = set()  # (hub id, commit) pairs resolved in this process: loading them asks no more


def is_commit(revision: str) -> bool:
    """True for a full 40-hex-digit commit hash."""
    return bool(_COMMIT.fullmatch(revision))


@functools.cache  # one question per id and revision per process (the backend asks again when it loads)
def check_hub_model(model: str, revision: str | None = None) -> str:
    """Make sure a hub id can be loaded at ``revision`` (default ``main``) and return its commit hash.

    Called before any run directory or training folder is created, so that a wrong id, an unknown revision
    or an unreachable hub is one line (exit 2), not a minute of retries and an empty directory.

    Args:
        model: A hub id ``ORG/NAME``.
        revision: A branch, tag or 40-hex commit hash; None means ``main``.

    Returns:
        The 40-hex commit hash the id resolves to (what loading must use).

    Raises:
        EvalkitError: the hub says there is no such model or revision, the model is gated, or the hub is
            unreachable and the local cache does not hold the revision (saying what to do instead).
    """
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    if revision is not None and (model, revision) in _PINNED:
        return revision  # a commit this process resolved (and checked) already
    wanted = revision or "main"
    reason = "HF_HUB_OFFLINE is set"
    if not constants.HF_HUB_OFFLINE:
        try:
            info = HfApi().model_info(model, revision=wanted, timeout=HUB_TIMEOUT_S)
        except GatedRepoError:
            raise EvalkitError(
                f"model {model!r}: the model is gated on the Hugging Face hub; accept its terms and log in "
                "(hf auth login, or HF_TOKEN)"
            ) from None
        except RevisionNotFoundError:
            raise EvalkitError(f"model {model!r}: the hub has no revision {wanted!r} of it") from None
        except RepositoryNotFoundError:
            raise EvalkitError(
                f"model {model!r}: neither a local checkpoint directory nor a model on the Hugging Face hub"
            ) from None
        except Exception as exc:  # connection refused, DNS failure, timeout, proxy errors...
            reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        else:
            if info.sha and is_commit(info.sha):
                _PINNED.add((model, info.sha))
                return info.sha
            reason = "the hub did not say which commit it serves"
    commit = cached_commit(model, wanted)
    if commit is not None:
        _PINNED.add((model, commit))
        return commit
    at = "" if revision is None else f" at revision {revision!r}"
    raise EvalkitError(
        f"model {model!r}: the Hugging Face hub cannot be reached ({reason}) and the model{at} is not in the "
        f"local cache ({constants.HF_HUB_CACHE}); download it where the hub is reachable "
        f"(hf download {model}{'' if revision is None else ' --revision ' + revision}) "
        "or pass a local checkpoint directory"
    )


def cached_commit(model: str, revision: str) -> str | None:
    """The commit hash ``revision`` of ``model`` has in the local Hugging Face cache, when the cache holds
    that commit's ``config.json``; None otherwise."""
    from huggingface_hub import constants, try_to_load_from_cache

    repo = Path(constants.HF_HUB_CACHE) / ("models--" + model.replace("/", "--"))
    if is_commit(revision):
        commit = revision
    else:
        try:
            commit = (repo / "refs" / revision).read_text().strip()
        except (OSError, UnicodeDecodeError):
            return None
        if not is_commit(commit):
            return None
    if isinstance(try_to_load_from_cache(model, "config.json", revision=commit), str):
        return commit
    return None


def is_local_name(model: str) -> bool:
    """Whether ``model`` names a local path rather than a hub id ``ORG/NAME``: it exists; it starts with ``./``,
    ``../``, ``/`` or ``~``; it has no slash or more than one; or its first component exists here
    (``ckpt/bse`` where ``ckpt/`` exists is a misspelled checkpoint, not a hub id)."""
    if model.startswith((".", "/", "~")) or model.count("/") != 1:
        return True
    return Path(model).expanduser().exists() or Path(model.split("/")[0]).exists()


def no_such_folder(model: str) -> EvalkitError:
    """The error for a local checkpoint name that is not a checkpoint folder: the first path component that
    does not exist (or the file in the way), and the closest folder name beside it."""
    import difflib

    path = Path(model).expanduser()
    if path.exists():
        return EvalkitError(f"model {model!r}: no such checkpoint directory ({path} is a file, not a folder)")
    missing = path
    while not missing.parent.exists() and missing.parent != missing:
        missing = missing.parent
    parent = missing.parent
    hint = ""
    if parent.is_dir():
        try:
            names = sorted(c.name for c in parent.iterdir() if c.is_dir())
        except OSError:
            names = []
        close = difflib.get_close_matches(missing.name, names, n=1, cutoff=0.6)
        if close:
            hint = f"; did you mean {parent / close[0] if str(parent) != '.' else close[0]}?"
    elif parent.exists():
        return EvalkitError(f"model {model!r}: no such checkpoint directory ({parent} is a file, not a folder)")
    return EvalkitError(f"model {model!r}: no such checkpoint directory (no such folder: {missing}{hint})")


def refuse_revision_for_local(model: str, revision: str | None) -> None:
    """A ``--revision`` only means something for a hub id.

    Raises:
        EvalkitError: ``revision`` given with a local checkpoint path.
    """
    if revision is None:
        return
    if is_local_name(model):
        raise EvalkitError(
            f"--revision {revision}: {model!r} is a local checkpoint, not a hub id (its content hash identifies it)"
        )
