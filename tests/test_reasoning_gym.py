"""``rg:<dataset>``: the registry contract over every reasoning-gym dataset, plus spec parsing and verification.

For each dataset (5 problems each): the reference answer, given the way the prompt asks for it
(``<answer>{reference}</answer>``), verifies as passed with score 1.0 from the Problem alone after a JSON
round trip (what a verifier worker sees when a run is rescored); the same seed gives the same problems
(ids, prompts, references), and the same ids and prompts in another process with another hash seed.
Known upstream failures are marked xfail with the reason below, so they show in the summary and turn
into XPASS when fixed upstream.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from fractions import Fraction
from typing import Any

import pytest

rg = pytest.importorskip("evalkit_tasks.rg", reason="reasoning-gym is not installed")

from evalkit.errors import EvalkitError  # noqa: E402
from evalkit.tasks import TaskSpec, get_family, make_problems, prefix_task_names, task_names  # noqa: E402
from evalkit.types import Problem  # noqa: E402
from evalkit.verify.stage import verify_items  # noqa: E402

N = 5
DATASETS = rg.names()
SPECS = {
    # composite needs the datasets it mixes
    "composite": 'rg:composite@datasets=[{"name":"leg_counting","weight":1,"config":{}},'
    '{"name":"gcd","weight":1,"config":{"min_numbers":2}}]',
}

# Datasets whose entries have no reference answer (answer None and no example solution in the metadata):
# several answers are correct and score_answer checks a proposed solution by simulation.
NO_REFERENCE = {
    "boxnet": "entry answer is None and there is no example plan; score_answer simulates the proposed plan",
    "rush_hour": "entry answer is None and there is no example solution; score_answer simulates the moves",
}
# Datasets whose prompts depend on the interpreter's string hash seed, so the same seed gives other
# problems in another process unless PYTHONHASHSEED is fixed. (knight_swap and word_ladder also vary, but
# only in the reference: which of several valid solutions the search finds; their scorers check any.)
HASH_SEED_DEPENDENT = {
    "isomorphic_strings": "upstream draws with rng.choice(list(a_set)) of letters: order depends on PYTHONHASHSEED",
    "polynomial_multiplication": "upstream orders variables by sympy free_symbols (a set): depends on PYTHONHASHSEED",
    "ransom_note": "upstream draws with rng.choice(list(a_set)) of letters: order depends on PYTHONHASHSEED",
}
# Datasets that give different problems for the same seed within one process.
NONDETERMINISTIC: dict[str, str] = {}


def spec_for(name: str) -> TaskSpec:
    return TaskSpec.parse(SPECS.get(name, f"rg:{name}"))


def marked(known: dict[str, str]) -> list[Any]:
    return [
        pytest.param(n, marks=pytest.mark.xfail(reason=known[n], strict=False)) if n in known else n for n in DATASETS
    ]


def stored(problem: Problem) -> Problem:
    """The problem as read back from a run's problems.jsonl."""
    row = json.loads(json.dumps(problem.to_json()))
    return Problem(row["problem_id"], row["task"], row["prompt"], row["reference"], row["meta"])


def fingerprint(problems: list[Problem]) -> list[list[str]]:
    return [[p.id, p.prompt, p.reference] for p in problems]


def ids_and_prompts(problems: list[Problem]) -> list[list[str]]:
    return [[p.id, p.prompt] for p in problems]


def test_every_dataset_is_covered() -> None:
    assert len(DATASETS) > 90 and "leg_counting" in DATASETS
    assert set(NO_REFERENCE) | set(HASH_SEED_DEPENDENT) | set(SPECS) <= set(DATASETS)


@pytest.mark.parametrize("name", marked(NO_REFERENCE))
def test_reference_answer_verifies(name: str) -> None:
    problems = make_problems(spec_for(name), 3, N)
    worker_family = rg.ReasoningGym()  # what a verifier worker builds: no arguments
    for problem in problems:
        assert problem.reference, f"{name}: no reference answer ({problem.meta['rg']['reference_from']})"
        completion = get_family(problem.task).reference_completion(problem)
        assert completion == f"<answer>{problem.reference}</answer>"
        verdict = worker_family.verify(stored(problem), "Thinking...\n" + completion)
        assert verdict.passed and verdict.score == 1.0 and verdict.status == "ok", (problem.id, verdict)


@pytest.mark.parametrize("name", marked(NONDETERMINISTIC))
def test_same_seed_same_problems(name: str) -> None:
    spec = spec_for(name)
    first = make_problems(spec, 7, N)
    rg._dataset.cache_clear()  # build the upstream dataset again rather than reuse the cached instance
    assert fingerprint(make_problems(spec, 7, N)) == fingerprint(first)
    assert fingerprint(make_problems(spec, 7, 2, start=3)) == fingerprint(first[3:5])
    other = make_problems(spec, 8, N)
    assert not {p.id for p in first} & {p.id for p in other}
    pattern = re.compile(rf"^rg:{name}-[0-9a-f]{{8}}-s7-\d{{5}}$")
    assert all(pattern.match(p.id) for p in first), [p.id for p in first]
    assert all(p.prompt.endswith(rg.INSTRUCTION) for p in first)


@pytest.fixture(scope="module")
def other_process() -> dict[str, Any]:
    """Every dataset's problems made in a fresh interpreter with another hash seed."""
    code = (
        "import json, sys\n"
        "from evalkit.tasks import TaskSpec, make_problems\n"
        "specs = json.loads(sys.argv[1])\n"
        "out = {n: [[p.id, p.prompt] for p in make_problems(TaskSpec.parse(s), 7, int(sys.argv[2]))] "
        "for n, s in specs.items()}\n"
        "print(json.dumps(out))\n"
    )
    specs = {n: SPECS.get(n, f"rg:{n}") for n in DATASETS}
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(specs), str(N)], capture_output=True, text=True, timeout=600, env=env
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("name", marked({**NONDETERMINISTIC, **HASH_SEED_DEPENDENT}))
def test_same_problems_in_another_process(name: str, other_process: dict[str, Any]) -> None:
    assert ids_and_prompts(make_problems(spec_for(name), 7, N)) == other_process[name]


# -- verification details -------------------------------------------------------------------------------


def leg_problem() -> Problem:
    return make_problems(TaskSpec.parse("rg:leg_counting"), 0, 1)[0]


def test_last_answer_block_wins_and_partial_credit_is_kept() -> None:
    p = leg_problem()
    fam = rg.ReasoningGym()
    ref = p.reference
    assert fam.verify(p, f"<answer>1</answer> wait, <answer>{ref}</answer>").passed
    assert not fam.verify(p, f"<answer>{ref}</answer> no: <answer>1</answer>").passed
    partial = fam.verify(p, f"<answer>{ref}0</answer>")  # the default scorer's partial credit
    assert not partial.passed and 0 < partial.score < 1 and partial.status == "ok"


def test_unclosed_last_block_counts_and_no_block_is_a_miss() -> None:
    p = leg_problem()
    fam = rg.ReasoningGym()
    assert fam.verify(p, f"so <answer> {p.reference}").passed  # as left by a </answer> stop string
    miss = fam.verify(p, p.reference)
    assert not miss.passed and miss.score == 0 and miss.detail == "no <answer> block"
    assert fam.verify(p, "  ").status == "empty"


def test_extract_tagged_answer() -> None:
    assert rg.extract_tagged_answer("<answer>\n a b \n</answer>") == "a b"
    assert rg.extract_tagged_answer("<answer>1</answer><answer>2</answer>") == "2"
    assert rg.extract_tagged_answer("<answer>1</answer> then <answer>3") == "3"
    assert rg.extract_tagged_answer("none") is None


def test_entries_round_trip_exactly_through_json() -> None:
    # tuples (arc grids), fractions (gsm_symbolic), int dict keys (graph_color) survive the tagged encoding
    for name in ("arc_agi", "gsm_symbolic", "graph_color", "codeio", "knights_knaves"):
        ds = rg._dataset(name, "{}", 11, rg.BLOCK)
        for i in range(3):
            entry = ds[i]
            assert rg.decode(json.loads(json.dumps(rg.encode(entry)))) == entry


def test_unstorable_entry_is_regenerated_in_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rg, "_storable", lambda entry: None)
    p = make_problems(TaskSpec.parse("rg:gcd"), 0, 1)[0]
    assert p.meta["rg"]["entry"] is None
    assert rg.ReasoningGym().verify(stored(p), f"<answer>{p.reference}</answer>").passed
    tampered = Problem(p.id, p.task, "another prompt", p.reference, p.meta)
    assert rg.ReasoningGym().verify(tampered, f"<answer>{p.reference}</answer>").status == "error"


def test_verification_in_spawned_workers() -> None:
    problems = [
        stored(p)
        for spec in ("rg:leg_counting", "rg:arc_1d", "rg:gsm_symbolic", "rg:graph_color", SPECS["composite"])
        for p in make_problems(TaskSpec.parse(spec), 1, 2)
    ]
    items = [(p, f"<answer>{p.reference}</answer>", "stop") for p in problems]
    items.append((problems[0], "<answer>-1</answer>", "stop"))
    verdicts = verify_items(items, workers=2, timeout_s=60)
    assert all(v.passed and v.score == 1.0 for v in verdicts[:-1]), verdicts
    assert not verdicts[-1].passed


# -- registry and spec parsing ----------------------------------------------------------------------


def test_names_and_suggestions() -> None:
    assert not any(n.startswith("rg:") for n in task_names())  # not expanded: see test_tasks.py
    assert "rg:leg_counting" in prefix_task_names("rg")
    assert get_family("rg:leg_counting").name == "rg:leg_counting"
    with pytest.raises(EvalkitError, match="did you mean rg:leg_counting"):
        get_family("rg:leg_countin")
    with pytest.raises(EvalkitError, match="did you mean rg:leg_counting"):
        get_family("leg_counting")


def test_params_are_coerced_and_validated() -> None:
    spec = TaskSpec.parse("rg:leg_counting@min_animals=3,max_animals=4")
    assert spec.params == {"min_animals": 3, "max_animals": 4}
    assert all(3 <= p.meta["rg"]["entry"]["metadata"]["num_animals"] <= 4 for p in make_problems(spec, 0, 5))
    assert TaskSpec.parse(spec.label()) == spec
    with pytest.raises(EvalkitError, match="min_animals must be int"):
        TaskSpec.parse("rg:leg_counting@min_animals=three")
    with pytest.raises(EvalkitError, match="rg:leg_counting"):
        TaskSpec.parse("rg:leg_counting@min_animals=0")  # upstream validate() asserts
    with pytest.raises(EvalkitError, match="set by evalkit; use --problem-seed"):
        TaskSpec.parse("rg:leg_counting@seed=3")
    with pytest.raises(EvalkitError, match="set by evalkit; use --limit"):
        TaskSpec.parse("rg:leg_counting@size=3")
    floats = TaskSpec.parse('rg:basic_arithmetic@operators=["+","-"],allow_parentheses=false')
    assert floats.params == {"operators": ("+", "-"), "allow_parentheses": False}  # tuple like the default
    assert TaskSpec.parse(floats.label()) == floats


def test_literal_enum_and_date_params() -> None:
    natural = TaskSpec.parse("rg:basic_arithmetic@format_style=natural")
    assert natural.params == {"format_style": "natural"}
    with pytest.raises(EvalkitError, match="format_style must be one of simple, natural"):
        TaskSpec.parse("rg:basic_arithmetic@format_style=fancy")
    upper = TaskSpec.parse("rg:word_sorting@transformation=uppercase")
    assert upper.params["transformation"].value == "uppercase" and TaskSpec.parse(upper.label()) == upper
    assert make_problems(upper, 0, 1)[0].meta["rg"]["params"]["transformation"]["value"] == "uppercase"
    with pytest.raises(EvalkitError, match="transformation must be one of"):
        TaskSpec.parse("rg:word_sorting@transformation=sideways")
    dated = TaskSpec.parse("rg:time_intervals@min_date=2000-01-01")
    assert str(dated.params["min_date"]) == "2000-01-01" and TaskSpec.parse(dated.label()) == dated
    p = make_problems(dated, 0, 1)[0]
    assert rg.ReasoningGym().verify(stored(p), f"<answer>{p.reference}</answer>").passed


def test_config_changes_ids_and_defaults_do_not() -> None:
    a = make_problems(TaskSpec.parse("rg:leg_counting"), 0, 1)[0]
    b = make_problems(TaskSpec.parse("rg:leg_counting@max_animals=5"), 0, 1)[0]
    c = make_problems(TaskSpec.parse("rg:leg_counting@max_animals=10"), 0, 1)[0]  # the default value
    assert a.id != b.id and a.id == c.id


def test_manifest_records_the_reasoning_gym_version() -> None:
    assert TaskSpec.parse("rg:gcd").to_json()["data"].startswith("reasoning-gym==")


def test_cli_problems_output_is_clean_jsonl() -> None:
    # bf's generator prints progress dots; they must not reach stdout
    out = subprocess.run(
        [sys.executable, "-m", "evalkit", "problems", "rg:bf", "--limit", "2", "--jsonl"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 2 and all(r["task"] == "rg:bf" for r in rows)


# -- countdown and puzzle24: evalkit's answer checks before the scorer ---------------------------------------

OPS = ("+", "-", "*", "/")


def arithmetic_problems(name: str, count: int = 5) -> list[Problem]:
    return make_problems(TaskSpec.parse(f"rg:{name}"), 0, count)


def numbers_of(p: Problem) -> list[int]:
    return list(p.meta["rg"]["entry"]["metadata"]["numbers"])


def test_puzzle24_answer_with_other_numbers_is_refused() -> None:
    fam = rg.ReasoningGym()
    for p in arithmetic_problems("puzzle24"):
        if sorted(numbers_of(p)) != [1, 2, 3, 4]:
            v = fam.verify(p, "<answer>1*2*3*4</answer>")  # 24, but not this puzzle's numbers
            assert not v.passed and v.score == 0 and "refused by evalkit" in v.detail, v


def test_puzzle24_value_is_exact_not_truncated() -> None:
    assert rg.arithmetic_problem("7*7/2", [7, 7, 2], Fraction(24), OPS) == "equals 49/2, not 24"


def test_countdown_answer_with_sympy_symbols_is_refused() -> None:
    fam = rg.ReasoningGym()
    for p in arithmetic_problems("countdown", 2):
        target = int(p.meta["rg"]["entry"]["metadata"]["target"])
        answer = " + ".join(f"{n}*0" for n in numbers_of(p)) + " + " + " + ".join(["E/E"] * target)
        v = fam.verify(p, f"<answer>{answer}</answer>")
        assert not v.passed and v.score == 0 and "only digits" in v.detail, v


def test_countdown_power_operator_is_refused() -> None:
    assert rg.arithmetic_problem("2**3 + 1", [2, 3, 1], Fraction(9), OPS) == "operators allowed: + - * /"


def test_countdown_number_used_twice_is_refused() -> None:
    assert "each once" in str(rg.arithmetic_problem("5*5 + 3", [5, 3], Fraction(28), OPS))


def test_arithmetic_division_by_zero_is_refused() -> None:
    assert rg.arithmetic_problem("4/(2-2) + 1", [4, 2, 2, 1], Fraction(24), OPS) == "divides by zero"


def test_operator_outside_the_datasets_operators_is_refused() -> None:
    assert rg.arithmetic_problem("4*6", [4, 6], Fraction(24), ("+", "-")) == "operators allowed: + -"


@pytest.mark.parametrize("name", ["countdown", "puzzle24"])
def test_real_solutions_still_pass(name: str) -> None:
    fam = rg.ReasoningGym()
    for p in arithmetic_problems(name, 20):
        assert fam.verify(p, f"<answer>{p.reference}</answer>").passed, p.reference
        spaced = f"<answer> ( {p.reference} ) </answer>"  # the same solution, written differently
        assert fam.verify(p, spaced).passed, spaced
    assert rg.arithmetic_problem("-4 + 7*4", [4, 7, 4], Fraction(24), OPS) is None  # a leading minus sign


# -- answers that ask the scorer to do the work: sympy operation calls, the question restated -------------------


def _entry_meta(p: Problem) -> dict[str, Any]:
    return dict(rg.decode(p.meta["rg"]["entry"])["metadata"])


@pytest.mark.parametrize("name", ["simple_integration", "intermediate_integration"])
def test_integration_answers_that_call_sympy_are_refused(name: str) -> None:
    fam = rg.ReasoningGym()
    for p in arithmetic_problems(name, 3):
        meta = _entry_meta(p)
        f, x = meta["integrand"], meta["variable"]
        for answer in (f"integrate({f}, {x})", f"Integral({f}, {x}).doit()", f"Integral({f}, {x})", f"integrate({f})"):
            v = fam.verify(p, f"<answer>{answer}</answer>")
            assert (v.passed, v.score) == (False, 0.0) and "sympy call" in v.detail, (answer, v)
        assert fam.verify(p, f"<answer>{p.reference}</answer>").passed


def test_polynomial_answers_that_call_sympy_are_refused() -> None:
    fam = rg.ReasoningGym()
    for p in arithmetic_problems("polynomial_multiplication", 3):
        product = _entry_meta(p)["polynomial_expr"]
        for answer in (f"expand({product})", f"simplify({product})", f"factor({p.reference})", f"({product}).expand()"):
            v = fam.verify(p, f"</think><answer>{answer}</answer>")
            assert (v.passed, v.score) == (False, 0.0) and "refused by evalkit" in v.detail, (answer, v)
        assert fam.verify(p, f"<answer>{p.reference}</answer>").passed


def test_operation_call_and_refusal() -> None:
    assert rg.operation_call("diff(x**3, x)") is not None
    assert rg.operation_call("solve(x - 2, x)") is not None
    assert rg.operation_call("3*x**2 + 2*x") is None
    assert rg.operation_call("differentiate the function") is None  # a word, not a call
    assert rg.operation_call("the expanded form") is None
    prompt = "Calculate the following: (x + 1)*(x - 1)\nUse ** instead of ^."
    assert rg.refusal("polynomial_multiplication", "(x + 1)*(x - 1)", prompt, "x**2 - 1") is not None
    assert rg.refusal("polynomial_multiplication", "x**2 - 1", prompt, "x**2 - 1") is None
    assert rg.refusal("leg_counting", "(x + 1)*(x - 1)", prompt, "4") is None  # not a sympy-scored dataset


def test_the_reward_path_refuses_sympy_calls_too() -> None:
    [p] = arithmetic_problems("simple_integration", 1)
    meta = _entry_meta(p)
    items = [
        (p, f"<answer>integrate({meta['integrand']}, {meta['variable']})</answer>", "stop"),
        (p, f"<answer>{p.reference}</answer>", "stop"),
    ]
    called, right = verify_items(items, workers=1, timeout_s=60.0)
    assert (called.passed, called.score) == (False, 0.0) and "sympy call" in called.detail
    assert right.passed
