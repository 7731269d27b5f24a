"""Sampler settings for test runs made by ``import_samples``: every setting stated, as an import of a known
sampler records it (an import that leaves one out records it as unknown, and compare, gate and likelihood
then warn or refuse)."""

from __future__ import annotations

KNOWN_SETTINGS = {
    "temperature": 1.0,
    "top_p": 1.0,
    "top_k": 0,
    "max_tokens": 32,
    "stop": [],
    "seed": 0,
    "prompt_format": "raw",
}
