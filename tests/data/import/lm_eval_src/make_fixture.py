"""Makes tests/data/import/lm_eval/*: a real lm-evaluation-harness 0.4.13 run (its own CLI, task loader,
filters and sample logger) of the task arith.yaml over ../arith.jsonl, with a scripted model registered in
lm-eval's model registry in place of a network model. Run from the repository root, in an environment with
lm-eval installed (not evalkit's):

    python tests/data/import/lm_eval_src/make_fixture.py
"""

import re
import sys

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model


@register_model("scripted")
class Scripted(LM):
    """Answers sample j of problem i correctly when (i + j) is even, else off by one."""

    def __init__(self, **kwargs):
        super().__init__()
        self.seen = {}

    @classmethod
    def create_from_arg_string(cls, arg_string, additional_config=None):
        return cls()

    def generate_until(self, requests, disable_tqdm=False):
        out = []
        for req in requests:
            context = req.arguments[0]
            a, op, b = re.search(r"(\d+) ([-+*]) (\d+)", context).groups()
            value = eval(f"{a}{op}{b}")
            j = self.seen.get(context, 0)
            self.seen[context] = j + 1
            i = req.doc_id
            out.append(f"Let me think. The answer is {value if (i + j) % 2 == 0 else value + 1}.")
        return out

    def loglikelihood(self, requests, disable_tqdm=False):
        raise NotImplementedError

    def loglikelihood_rolling(self, requests, disable_tqdm=False):
        raise NotImplementedError


if __name__ == "__main__":
    from lm_eval.__main__ import cli_evaluate

    sys.argv = [
        "lm_eval",
        "--model",
        "scripted",
        "--model_args",
        "pretrained=example-org/tiny-math-1b",
        "--tasks",
        "arith",
        "--include_path",
        "tests/data/import/lm_eval_src",
        "--output_path",
        "tests/data/import/lm_eval",
        "--log_samples",
        "--seed",
        "0,1234,1234,1234",
    ]
    cli_evaluate()
