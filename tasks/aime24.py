"""``aime24``: the 30 problems of AIME 2024 (I and II).

Data set ``HuggingFaceH4/aime_2024`` (split ``train``, its only split; fields ``id``, ``problem``,
``solution``, ``answer``, ``url``, ``year``), the copy most RL papers and open-r1 evaluate on; no commit is
pinned (``revision=main`` unless given), so the manifest records the revision asked for and each problem's
``meta["source"]`` the commit the hub served. Problem ids are the data set's ``id``: ``aime24:60``. Answers
are integers 0-999 (checked at load). Prompt: ``{problem}`` then the boxed-answer instruction; default
``max_tokens`` 16384 (long reasoning; AIME solutions of RL-trained models often run past 8k tokens).
"""

from __future__ import annotations

from evalkit_tasks.aime import AimeBenchmark

from evalkit.tasks import register
from evalkit.tasks.benchmark import HubDataset


@register
class Aime24(AimeBenchmark):
    name = "aime24"
    description = "AIME 2024 (HuggingFaceH4/aime_2024): 30 problems, integer answers 0-999"
    hub = HubDataset("HuggingFaceH4/aime_2024", "train", "main")
