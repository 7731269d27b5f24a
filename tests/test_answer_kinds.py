"""Equivalence of the answer kinds that need more than a number: matrices, grouped digits, money, times and
ratios, divisions by zero, percentages, units, square roots written with parentheses."""

from __future__ import annotations

import pytest

from evalkit.grading.equivalence import colon_form, is_unit, math_equivalent, matrix, normalise

COL = r"\begin{pmatrix} -7 \\ 16 \\ 5 \end{pmatrix}"


@pytest.mark.parametrize(
    ("gold", "answer", "expected"),
    [
        (COL, COL, True),
        (COL, r"\begin{pmatrix}-7\\16\\5\end{pmatrix}", True),
        (COL, r"\begin{bmatrix} -7 \\ 16 \\ 5 \end{bmatrix}", True),
        (COL, "-7", False),  # the first entry is not the vector
        (COL, r"\begin{pmatrix} -7 \\ 16 \\ -5 \end{pmatrix}", False),  # last sign wrong
        (COL, r"\begin{pmatrix} -7 \\ 16 \end{pmatrix}", False),  # shape
        (COL, "(-7, 16, 5)", True),  # a vector written as a tuple
        (COL, "(-7, 16, -5)", False),
        (r"\begin{pmatrix} 1/3 \\ 2 \end{pmatrix}", r"\begin{pmatrix} \frac{1}{3} \\ 2 \end{pmatrix}", True),
        (r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", True),
        (r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", r"\begin{pmatrix} 1 & 3 \\ 2 & 4 \end{pmatrix}", False),
        (r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", r"\begin{pmatrix} 1 & 2 & 3 & 4 \end{pmatrix}", False),
        (
            r"\begin{pmatrix} \sqrt{2} \\ 0.5 \end{pmatrix}",
            r"\left(\begin{array}{c} \sqrt{2} \\ 1/2 \end{array}\right)",
            True,
        ),
        ("(1, 2, 3)", r"\begin{pmatrix} 1 \\ 2 \\ 3 \end{pmatrix}", True),
        ("(1, 2, 3)", r"\begin{pmatrix} 1 \\ 2 \\ 4 \end{pmatrix}", False),
    ],
)
def test_matrices_compare_element_wise_with_the_same_shape(gold: str, answer: str, expected: bool) -> None:
    assert math_equivalent(gold, answer) is expected


def test_a_row_break_survives_normalisation() -> None:
    assert normalise(COL) == COL
    assert matrix(normalise(COL)) == [["-7"], ["16"], ["5"]]
    assert matrix("(1, 2)") is None
    assert matrix(r"\begin{pmatrix} 1 & 2 \\ 3 \end{pmatrix}") is None  # ragged


@pytest.mark.parametrize(
    ("gold", "answer", "expected"),
    [
        ("11111111100", r"11,\! 111,\! 111,\! 100", True),
        ("1234567", "1,234,567", True),
        ("1234", r"1\,234", True),
        ("1234", r"1{,}234", True),
        ("1234567", r"1\,234\,567", True),
        ("1234", r"1,\!234", True),
        ("1235", r"1\,234", False),
        ("1, 2, 3", "1, 2, 3", True),
        ("1, 2, 3", "3, 2, 1", True),
        ("123", "1, 2, 3", False),  # a list, not a number
        ("1, 234", "1234", False),  # "1, 234" is two numbers
        ("12, 34", "1234", False),  # a thousands group has three digits
    ],
)
def test_grouped_digits_are_one_number(gold: str, answer: str, expected: bool) -> None:
    assert math_equivalent(gold, answer) is expected


@pytest.mark.parametrize(
    ("gold", "answer", "expected"),
    [
        ("-1234.5", r"-\$1,234.50", True),
        ("1234.50", r"-\$1,234.50", False),
        ("-1234.5", "-$1,234.50", True),
        ("1234.5", "-$1,234.50", False),
        ("-5", r"\$-5", True),
        ("5", r"\$-5", False),
        ("-5", "$-5", True),
        ("12.50", r"\$12.50", True),
        (r"\$12.50", "12.5", True),
    ],
)
def test_money_keeps_its_sign(gold: str, answer: str, expected: bool) -> None:
    assert math_equivalent(gold, answer) is expected


@pytest.mark.parametrize(
    ("gold", "answer", "expected"),
    [
        ("12:00", "1:00", False),
        ("12:00", "5:00", False),
        ("12:00", "12:00", True),
        ("11:00", "11:00", True),
        ("3:45", "3:45 pm", True),  # one side without am/pm: a 12-hour clock
        ("15:45", "3:45 p.m.", True),
        ("3:45 am", "3:45 pm", False),
        ("2:0", "5:0", False),  # not two divisions by zero
        ("2:3", "2:3", True),
        ("2:3", "4:6", False),  # a ratio in the reference's terms
        ("2:3", "2/3", False),
        ("1:30", "90", False),
    ],
)
def test_times_and_ratios_compare_part_by_part(gold: str, answer: str, expected: bool) -> None:
    assert math_equivalent(gold, answer) is expected


def test_colon_form() -> None:
    assert colon_form("7:30 pm") == ([7, 30], "p")
    assert colon_form("1:2:3") == ([1, 2, 3], "")
    assert colon_form("x:3") is None


@pytest.mark.parametrize(
    ("gold", "answer", "expected"),
    [
        (r"\frac{3}{0}", r"\frac{7}{0}", False),
        (r"\frac{3}{0}", r"\frac{3}{0}", True),  # the identical text
        ("3/0", "7/0", False),
        ("1", "1/0", False),
        (r"\infty", r"\frac{1}{0}", False),
        ("10/05", "2", True),  # not a division by zero
    ],
)
def test_a_division_by_zero_equals_only_itself(gold: str, answer: str, expected: bool) -> None:
    assert math_equivalent(gold, answer) is expected


@pytest.mark.parametrize(
    ("gold", "answer", "expected"),
    [
        ("0.5", r"\frac{1}{2}\%", False),  # 1/2 % is 0.005
        ("0.5", "50%", True),  # the same value
        ("50", r"50\%", True),  # the reference dropped the % sign
        (r"50\%", "50", True),
        (r"50\%", "0.5", True),
        ("0.25", "25%", True),
        ("0.25", r"0.25\%", False),
        ("12.5", r"12.5\%", True),
        ("50", "5%", False),
    ],
)
def test_percent_rule(gold: str, answer: str, expected: bool) -> None:
    assert math_equivalent(gold, answer) is expected


@pytest.mark.parametrize(
    ("gold", "answer", "expected"),
    [
        (r"5\text{ m/s}", "5", True),
        (r"5\text{ m/s}", "6", False),
        (r"9.8 \text{ m/s}^2", "9.8", True),
        (r"12\text{ cm}", "12", True),
        ("12", "12cm", True),
        ("3", "3x", False),  # a variable, not a unit
        ("3", "3 x", False),
        ("2", "2 pi", False),
        ("3", r"3\text{ kg}\cdot\text{m}", True),
    ],
)
def test_units(gold: str, answer: str, expected: bool) -> None:
    assert math_equivalent(gold, answer) is expected


def test_is_unit() -> None:
    assert is_unit("m/s", True) and is_unit("cm", False) and is_unit("apples", True)
    assert not is_unit("x", True) and not is_unit("x", False) and not is_unit("ab", False)


@pytest.mark.parametrize(
    ("gold", "answer", "expected"),
    [
        ("4", r"4\sqrt(2)", False),
        (r"4\sqrt{2}", r"4\sqrt(2)", True),
        (r"4\sqrt{2}", "4sqrt(2)", True),
        (r"\sqrt{8}", r"2\sqrt(2)", True),
        (r"3\sqrt{3}", r"3\sqrt(2)", False),
    ],
)
def test_square_roots_with_parentheses(gold: str, answer: str, expected: bool) -> None:
    assert math_equivalent(gold, answer) is expected
