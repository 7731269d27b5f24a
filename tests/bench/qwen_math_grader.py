"""Run the Qwen2.5-Math evaluation grader (its published code, unchanged) on rows read from stdin.

Not part of evalkit and not imported by it: ``bench_graders.py`` runs this file in a separate virtual
environment that has the Qwen2.5-Math evaluation requirements (sympy 1.12, antlr4-python3-runtime 4.11.1,
regex, word2number, numpy and its bundled ``latex2sympy``), with ``--qwen-dir`` pointing at the
``evaluation/`` folder of a checkout of https://github.com/QwenLM/Qwen2.5-Math.

The grading is that folder's own pipeline for chain-of-thought outputs (``math_eval.py`` ->
``parser.run_execute`` -> ``evaluate.py``): ``prediction = strip_string(extract_answer(completion,
data_name))``, the reference as ``strip_string(reference)`` (its ``parse_ground_truth`` for rows with
a ``gt`` field), and ``grader.math_equal(prediction, reference)``.

Input: one JSON object per line with ``reference``, ``completion`` and ``data_name`` (``math`` or
``gsm8k``). Output: one JSON line per input, ``{"passed": bool, "pred": str}``; a row whose grading raises
prints ``{"passed": false, "pred": null, "error": "..."}``.
"""

from __future__ import annotations

import argparse
import json
import sys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--qwen-dir", required=True, help="the evaluation/ folder of a Qwen2.5-Math checkout")
    args = parser.parse_args()
    sys.path.insert(0, args.qwen_dir)
    from grader import math_equal
    from parser import extract_answer, strip_string

    for line in sys.stdin:
        row = json.loads(line)
        try:
            pred = strip_string(extract_answer(row["completion"], row["data_name"]))
            passed = bool(math_equal(pred, strip_string(row["reference"])))
            print(json.dumps({"passed": passed, "pred": pred}), flush=True)
        except Exception as error:  # a grader crash is that grader's miss on the row
            print(json.dumps({"passed": False, "pred": None, "error": repr(error)[:200]}), flush=True)


if __name__ == "__main__":
    main()
