"""Training: supervised warm-up of tiny base models (:mod:`.sft`) and GRPO (:mod:`.grpo`)."""
