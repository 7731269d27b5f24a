"""The README's recipe for two real checkpoints, run as written on this machine: the commands are read from
the README, and only what needs a GPU or the network is swapped (hub ids served from a local Hugging Face
cache holding two local Llama checkpoints with a chat template, the benchmarks' bundled samples, the hf
backend instead of vLLM, n = 8 and short completions)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[1] / "README.md"
HEADING = "## Comparing two real checkpoints on a GPU box"
CHAT_TEMPLATE = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}assistant: "

# what this machine cannot do, swapped for what it can (each must match, so a changed recipe fails here)
SWAPS = [
    (r"--backend vllm", "--backend hf"),
    (r"--n 1024", "--n 8 --max-tokens 24 --device cpu --workers 1"),
    (r"--task math500", "--task math500@sample=true"),
    (r"--task aime24", "--task aime24@sample=true"),
    (r"--k 1024", "--k 8"),
]


def recipe_lines() -> list[str]:
    """The shell lines of the README's recipe block."""
    text = README.read_text(encoding="utf-8")
    block = re.search(re.escape(HEADING) + r".*?```bash\n(.*?)```", text, re.S)
    assert block, f"README has no bash block under {HEADING!r}"
    return [line for line in block.group(1).splitlines() if line.strip()]


def _hub_entry(hf_home: Path, model: str, checkpoint: Path) -> None:
    """A local hub cache entry for ``model`` (refs/main -> one snapshot) holding ``checkpoint`` with a chat
    template added to its tokenizer."""
    repo = hf_home / "hub" / ("models--" + model.replace("/", "--"))
    snapshot = repo / "snapshots" / ("c" * 40)
    shutil.copytree(checkpoint, snapshot)
    config = json.loads((snapshot / "tokenizer_config.json").read_text())
    config["chat_template"] = CHAT_TEMPLATE
    (snapshot / "tokenizer_config.json").write_text(json.dumps(config))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("c" * 40)


def test_readme_recipe_runs_end_to_end(tmp_path: Path) -> None:
    from tiny_helpers import train_tiny

    hf_home = tmp_path / "hf"  # contexts long enough for the benchmarks' prompts (up to about 400 characters)
    _hub_entry(hf_home, "evalkit-test/base", train_tiny(tmp_path / "base-ckpt", steps=40, max_positions=640))
    _hub_entry(hf_home, "evalkit-test/rl", train_tiny(tmp_path / "rl-ckpt", steps=120, max_positions=640))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "evalkit").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m evalkit "$@"\n')
    (bin_dir / "evalkit").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE"))}
    env.update(HF_HOME=str(hf_home), HF_HUB_OFFLINE="1", PATH=f"{bin_dir}{os.pathsep}{env['PATH']}")

    lines = recipe_lines()
    script = "\n".join(lines)
    for pattern, replacement in SWAPS:
        assert re.search(pattern, script), f"the recipe no longer has {pattern!r}"
        script = re.sub(pattern, replacement, script)
    script = re.sub(r"^BASE=\S+; RL=\S+", "BASE=evalkit-test/base; RL=evalkit-test/rl", script, flags=re.M)
    assert "BASE=evalkit-test/base" in script
    done = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800
    )
    # the last line is the gate: 0 (no regression shown) or 1 (a regression): both are answers; 2 would be an error
    assert done.returncode in (0, 1), done.stderr[-3000:]
    for run in ("base", "rl"):
        identity = json.loads((tmp_path / "runs" / run / "manifest.json").read_text())["identity"]
        assert identity["model_hash"] == f"hub:evalkit-test/{run}@{'c' * 40}" and identity["prompt_format"] == "chat"
        assert [t["name"] for t in identity["tasks"]] == ["math500", "aime24"]
        assert identity["sampling"]["top_k"] == 20 and identity["sampling"]["max_tokens"] == 24
    data = json.loads((tmp_path / "reports" / "math" / "report.json").read_text())
    assert data["overall"]["n_problems"] == 32 and data["overall"]["n"] == 8  # 16 bundled problems per task
    assert set(data["tasks"]) == {"math500", "aime24"} and data["verdict"]
    for run, other in (("rl", "base"), ("base", "rl")):
        assert list((tmp_path / "runs" / run / "likelihood").glob(f"under-hub_evalkit-test_{other}_*.jsonl"))
