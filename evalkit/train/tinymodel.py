"""Tiny Llama-architecture models with a character-level tokenizer, built from scratch offline.

The tokenizer is a ``tokenizers`` BPE model with no merges over printable ASCII, so every character is
one token; it is saved as ``tokenizer.json`` and loads with ``AutoTokenizer``. The model is a
``LlamaForCausalLM`` with random weights; :mod:`evalkit.train.sft` trains it. Checkpoints are ordinary
Hugging Face directories (``save_pretrained``), loadable by transformers and vLLM.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")
ALPHABET = "".join(ch for ch in string.printable if ch not in "\t\r\x0b\x0c")


@dataclass(frozen=True)
class TinyConfig:
    """Shape of a tiny model. The defaults give about 0.9M parameters."""

    hidden_size: int = 128
    layers: int = 4
    heads: int = 4
    intermediate_size: int = 384
    max_positions: int = 64


def build_tokenizer() -> Any:
    """A character-level ``PreTrainedTokenizerFast`` that prepends ``<bos>`` to every encoded text."""
    from tokenizers import Tokenizer, decoders, models, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate([*SPECIAL_TOKENS, *ALPHABET])}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.decoder = decoders.Fuse()
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", vocab["<bos>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>"
    )


def build_model(tokenizer: Any, config: TinyConfig, seed: int = 0) -> Any:
    """A randomly initialised ``LlamaForCausalLM`` sized by ``config``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.layers,
        num_attention_heads=config.heads,
        num_key_value_heads=config.heads,
        max_position_embeddings=config.max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(cfg)


def save_checkpoint(
    model: Any,
    tokenizer: Any,
    out: Path,
    extra: dict[str, Any] | None = None,
    files: dict[str, str] | None = None,
) -> Path:
    """Save model and tokenizer as an HF directory, atomically (written beside, then renamed).

    ``extra`` goes to ``evalkit_training.json``; ``files`` maps further file names to their text.
    """
    import json
    import shutil

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if extra is not None:
        (tmp / "evalkit_training.json").write_text(json.dumps(extra, indent=1))
    for name, text in (files or {}).items():
        (tmp / name).write_text(text)
    if out.exists():
        old = out.with_name(out.name + ".old")
        if old.exists():
            shutil.rmtree(old)
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old)
    else:
        tmp.rename(out)
    return out
