"""What a verifier checks, as pure functions of model text: no task, run or worker knowledge here.

* :mod:`.extraction`: where the final answer is (``\\boxed{}``, ``<answer>``, "answer is", last number; after a
  reasoning block), with the rule that found it.
* :mod:`.equivalence`: when two answers are the same (normalisation, numbers, sets, intervals, math-verify).
* :mod:`.answers`: extraction plus equivalence as one verdict with a detail naming the rule.
* :mod:`.sandbox`: a program run against its tests in a confined process tree (the code families' verdict).

Task families (:mod:`evalkit.tasks`, ``evalkit_tasks``) build their ``verify`` from these; the verification
stage (:mod:`evalkit.verify`) runs those verifiers confined, over whole runs.
"""
