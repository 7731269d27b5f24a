"""Makes tests/data/import/lighteval/*: details and results written by lighteval 0.13's own EvaluationTracker
(its Doc, ModelResponse, DetailsLogger and Parquet writer) for four problems of ../arith.jsonl, four samples
each, with a model config that states temperature, top-p, max_new_tokens and seed (top-k left unset).
Run from the repository root, in an environment with lighteval installed (not evalkit's):

    python tests/data/import/lighteval_src/make_fixture.py
"""

import json
import re

from lighteval.logging.evaluation_tracker import EvaluationTracker
from lighteval.models.dummy.dummy_model import DummyModelConfig
from lighteval.models.model_input import GenerationParameters
from lighteval.models.model_output import ModelResponse
from lighteval.tasks.requests import Doc

TASK = "arith"
N = 4

if __name__ == "__main__":
    tracker = EvaluationTracker(output_dir="tests/data/import/lighteval", save_details=True)
    params = GenerationParameters(temperature=0.7, top_p=0.9, max_new_tokens=128, seed=7, stop_tokens=["\n\n"])
    tracker.general_config_logger.log_model_info(
        DummyModelConfig(model_name="example-org/tiny-math-1b-rl", generation_parameters=params)
    )
    with open("tests/data/import/arith.jsonl") as fh:
        rows = [json.loads(line) for line in fh]
    for ix, row in enumerate(rows):
        doc = Doc(
            query=f"Question: {row['prompt']}\nAnswer:",
            choices=[row["answer"]],
            gold_index=0,
            task_name=TASK,
            num_samples=N,
            generation_size=128,
            stop_sequences=["\n\n"],
        )
        doc.id = str(ix)  # as LightevalTask does: the position of the document in the task
        a, op, b = re.search(r"(\d+) ([-+*]) (\d+)", row["prompt"]).groups()
        value = eval(f"{a}{op}{b}")
        texts = [f"So the answer is {value if (ix * j) % 3 == 0 else value - 1}." for j in range(N)]
        response = ModelResponse(input=doc.query, text=texts, output_tokens=[[1, 2, 3]] * N)
        tracker.details_logger.log(TASK, doc, response, {"pass@k:k=1&n=4": 0.0})
    tracker.save()
