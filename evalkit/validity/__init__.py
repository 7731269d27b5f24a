"""Threats to the validity of a pass@k comparison, measured from runs.

* :mod:`.overlap`: ROUGE-L on whitespace tokens and the word-boundary cut of a statement (pure functions).
* :mod:`.contamination`: the partial-prompt completion audit (Wu et al. 2025, arXiv 2507.10532): does a model
  reproduce the withheld rest of a problem statement it was shown only the start of?
* :mod:`.guess`: which problems' observed pass@k lies within reach of guessing from a small answer space
  (Dragoi et al. 2025, arXiv 2510.08325).
* :mod:`.health`: per problem and per run, completions cut at the token limit, looping, empty or of unknown
  finish reason, passes read by fallback rules, tokens per completion; flags with stated thresholds.
* :mod:`.budget`: pass@k against generated tokens, and the comparison at a matched token limit.
* :mod:`.threats`: the ``validity`` section of ``evalkit compare``: each threat's flagged problems and the
  comparison recomputed without them (claims that hold only with them are marked).
"""
