"""Reading the final answer of a completion: reasoning blocks, boxes, "the answer is", the last number.

Pure string work, linear in the length of the text (it also runs in the evalkit process, as a dedup key).
The rules, in the order they apply:

1. **Reasoning block** (``think``): with ``strip`` (the default of the final-answer tasks) only the text
   after the last ``</think>`` (or ``</thinking>``) is read, whether or not the opening tag is there
   (R1- and Qwen3-style templates put ``<think>`` in the prompt). An opening tag that never closes means
   the completion stopped inside its reasoning: there is no final answer, and a box inside the
   reasoning is not taken for one. ``keep`` reads the whole text.
2. **Boxes** (``\\boxed{...}``, ``\\fbox{...}``, braces balanced, escaped ``\\{`` ``\\}`` skipped): the
   *last* box decides. If it never closes there is no answer from an earlier box, which is never read
   in its place, since the model had moved on from it; only when the unclosed box ends the text and
   lacks nothing but its own closing brace (``... so \\boxed{12``) is its content read
   (``boxed[unclosed]``), and that reading counts only for a completion known to have stopped by itself
   (finish reason ``stop``, see :attr:`Extraction.requires`): a cut-off box is not a final answer.
   The boxes just before the last one that are joined to it by a short connector (at most
   :data:`JOIN_CHARS` characters with no word of retraction such as "wait", "no", "wrong") form the
   *final group*, e.g. ``x = \\boxed{2}`` and ``x = \\boxed{3}``; the comparison uses the
   group only when the reference is a list or a set (see :mod:`evalkit.grading.equivalence`).
3. **"The answer is"** (also "answer:", "final answer is", "answer would be", "the answer (arabic
   numerals) is"; case-insensitive): the last such phrase; its span is what follows on the same line (or the
   next line when the phrase ends its line), and it stops at the answer: a ``$...$`` or ``\\(...\\)`` math
   span, a box, a choice letter ``(B)`` (several letters, "A, B, C, D, or E", are no answer), or else the
   text up to the end of the sentence, a comma or parenthesis followed by words ("12, since ...",
   "12 (twelve)"), a conjunction ("because", "since", "which"...) or a word right after a number
   ("12 apples"). A phrase with nothing at all after it ends the text: the answer was cut off, and
   there is no answer. A phrase that ends its line and is followed by a numbered or bulleted item
   ("verify the final answer:" then "1. **Identify ...") introduces steps, not an answer, and is skipped.
   "The answer (arabic numerals) is" (a phrase a prompt template appends after cut-short reasoning) that ends
   its line and is followed by more working rather than an answer (math, a box, bold, a number, a letter)
   ends the phrase reading: the working's conclusion is read by the last-number rule. A span in number words
   or a worked sum ("110+32=142") reads as its number (:mod:`evalkit.grading.spans`).
   An answer with nothing at all after it (``Answer: 9`` ending the text) may have been cut itself: it
   counts only for a completion not cut at max tokens (:attr:`Extraction.requires`); ``Answer: 9.``,
   ``$9$`` or a following line show that it ended.
4. **Last number** (not in strict mode), a fallback: the last number of the text read (integers,
   decimals, simple fractions ``3/4``, a leading minus, also before a currency sign ``-$1,234.50``,
   Unicode minus, thousands separators ``1,234`` and ``11,\\!111`` dropped; a time or ratio ``11:00`` is
   one answer, never its last part). It never reads a completion that **loops** (:func:`loop`: a block
   of words repeated at least :data:`LOOP_MIN_REPEATS` times at the end, making up at least
   :data:`LOOP_SHARE` of the text; a model repeating the question until its token limit) and never
   counts for a completion cut at max tokens (finish reason ``length``, :attr:`Extraction.requires`).
   A box or an answer phrase is an explicit answer statement: a completion that states its answer and
   then repeats that statement is read as that answer.
   With the question (``prompt``), a last number that is one of the question's own givens is not taken
   when the sentence it ends holds a number that is not (``last new number``, :func:`last_new_number`):
   in "Jean can fill 14 bags with 2 lollipops in each bag" the 2 restates the question and the 14 answers
   it; number words up to twenty count there ("Three trucks will be needed to carry 80 flagstones").

``auto`` tries 2, 3, 4 in that order on the text after rule 1; ``boxed``, ``answer_is`` and
``last_number`` use one rule. The rules follow how math-verify (``LatexExtractionConfig`` with boxed
priority, the "final answer is" target of Minerva/lighteval) and human graders read answers, with the
reasoning-block and cut-off rules added for reasoning models.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

from evalkit.grading.spans import sum_span, two_units

AnswerFormat = Literal["auto", "boxed", "answer_is", "last_number"]
ANSWER_FORMATS: tuple[str, ...] = get_args(AnswerFormat)
ThinkMode = Literal["strip", "keep"]
THINK_MODES: tuple[str, ...] = get_args(ThinkMode)

JOIN_CHARS = 80  # the most text between two boxes of one final group
SPAN_WINDOW = 2_000  # the most text read after "the answer is" (an answer is shorter)
UNCLOSED_CHARS = 100  # the longest content of an unclosed last box read as an answer

_THINK_CLOSE_RE = re.compile(r"</think(?:ing)?>", re.IGNORECASE)
_THINK_OPEN_RE = re.compile(r"<think(?:ing)?>", re.IGNORECASE)
_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_RETRACT_RE = re.compile(
    r"\b(?:wait|but|however|actually|no|not|wrong|mistake|incorrect|instead|correct\w*|re-?check\w*|redo\w*"
    r"|hmm+|oops|sorry|again|revis\w*|reconsider\w*)\b",
    re.IGNORECASE,
)
# "the answer (arabic numerals) is 45": a short parenthesis may name the answer's form
_ANSWER_IS_RE = re.compile(
    r"answer\s*(?:\([^()\n]{1,40}\)\s*)?(?:is|:|=|would\s+be|will\s+be|should\s+be)\s*:?", re.IGNORECASE
)
_STOP_RE = re.compile(r"\.(?:\s|$)|[;!?,]")
# a line that states an answer by itself: math, a box, bold, a number, a choice letter
_ANSWER_LINE_RE = re.compile(
    r"\s*(?:\$[^$\n]+\$[\s.]*$|\\[(\[]|\\boxed|\*\*|[-+]?\\?\$?\d[\d,.]*[\s.]*$|\(?[A-J]\)?[\s.]*$)"
)
# several choice letters offered as the answer: "the answer is A, B, C, D, or E" commits to none
_CHOICES_RE = re.compile(r"\(?[A-J]\)?(?:\s*(?:,|\bor\b|\band\b|/)\s*\(?[A-J]\)?)+(?=[\s.,;:!)]|$)")
_CHOICE_RE = re.compile(r"\(([A-J])\)|([A-J])(?=[\s.,;:!)]|$)")
_MATH_SPANS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
_SPAN_END_RE = re.compile(
    r"\.(?:\s|$)"  # end of sentence ("3.5" stays)
    r"|[;!?]"
    r"|,\s*(?=[A-Za-z]{2})"  # "12, since" / "12, which" (", x" and ", \infty" stay)
    r"|\s+\((?=[A-Za-z]{2})"  # "12 (twelve)"
    r"|\s+(?:since|because|as|which|so|where|when|if|for|hence|thus|therefore|that|from|in|of|per)\b"
    r"|(?<=[\d}%])\s*(?!(?:and|or|pi|sqrt)\b)(?=[A-Za-z]{2})"  # "12 apples", "12apples"
)
# 11:00 | -$1,234.5 | 3/4 | .5 ; the thousands group needs exactly three digits so "1,2,3" stays three numbers;
# a time or ratio h:mm is one answer (never its last part), and a minus before a currency sign is kept
_NUMBER_RE = re.compile(
    r"(?<![\w.:])\d+(?::\d+)+(?![\d:])"
    r"|(?<![\w.])(?<!\d:)(?:-\s*\\?\$\s*|\\?\$\s*-|-)?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?(?![\d:])"
    r"|(?<![\w.])-?\.\d+"
)
_CURRENCY_RE = re.compile(r"\\?\$|\s+")
# LaTeX thousands separators (11,\!111 | 1\,234 | 1{,}234) read as a comma before the last number is sought
_LATEX_THOUSANDS_RE = re.compile(r"(?<=\d)(?:,\s*\\[!,;: ]|\\[!,;: ]|\{,\})\s*(?=\d{3}(?!\d))")
# a numbered or bulleted item starting a line: "1. **Identify", "2) Compute", "- Step" (a list, not an answer)
_ITEM_RE = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*\u2022]|Step\s+\d+[.:])\s+\S", re.IGNORECASE)
# the marker of a numbered item ("1. **Identify", "2) Compute") is not a number of the text
_ITEM_MARKER_RE = re.compile(r"^[ \t]*(\d{1,2})[.)](?=[ \t]+(\*\*)?\S)", re.MULTILINE)
LOOP_MIN_REPEATS = 3  # a block repeated this many times at the end of a text ...
LOOP_SHARE = 0.5  # ... making up at least this share of its words is a loop
LOOP_MAX_BLOCK = 400  # the longest block (in words) looked for
_MINUSES = str.maketrans({"\u2212": "-", "\u2012": "-", "\u2013": "-", "\ufe63": "-", "\uff0d": "-"})


@dataclass(frozen=True)
class Extraction:
    """What was read from a completion.

    Attributes:
        answer: The final answer as written (stripped), or None when there is none.
        rule: The rule that found it: ``boxed[last]``, ``answer is``, ``last number`` ("" when none).
        region: Where it was read: ``after </think>`` or "" (the whole text).
        group: For ``boxed[last]``: the final group of boxes, in order, ending with ``answer``.
        reason: Why there is no answer (None ``answer`` only).
        open_end: For ``answer is``: nothing at all follows the answer (``Answer: 9`` at the end of the text).
    """

    answer: str | None
    rule: str = ""
    region: str = ""
    group: tuple[str, ...] = ()
    reason: str = ""
    open_end: bool = False

    @property
    def requires(self) -> str:
        """How the completion must have ended for this reading to count (``Verdict.requires``): ``stop``
        for an unclosed last box, ``not length`` for the last number and for an answer phrase whose answer
        runs to the very end of the text (``open_end``: a cut there may have cut the answer), "" for a box
        or a complete answer phrase."""
        if self.rule == "answer is":
            return "not length" if self.open_end else ""
        return {"boxed[unclosed]": "stop", "last number": "not length", "last new number": "not length"}.get(
            self.rule, ""
        )

    def describe(self, answer: str | None = None, rule: str | None = None) -> str:
        """The verdict detail: ``boxed[last] after </think>: 72``, or why there is no answer."""
        where = f" {self.region}" if self.region else ""
        if self.answer is None:
            return f"no answer{where}: {self.reason}"
        return f"{rule or self.rule}{where}: {answer if answer is not None else self.answer}"


def final_region(text: str, think: str = "strip") -> tuple[str | None, str]:
    """(the text to read the answer from, its label); the text is None when the reasoning never closed.

    Raises:
        ValueError: unknown ``think`` mode.
    """
    if think == "keep":
        return text, ""
    if think != "strip":
        raise ValueError(f"think must be one of {', '.join(THINK_MODES)}, got {think!r}")
    closes = list(_THINK_CLOSE_RE.finditer(text))
    if closes:
        return text[closes[-1].end() :], f"after {closes[-1].group(0)}"
    if _THINK_OPEN_RE.search(text):
        return None, ""
    return text, ""


def _close(text: str, start: int, limit: int) -> int | None:
    """Index of the brace that closes a box whose content starts at ``start``, scanning up to ``limit``."""
    depth, i = 1, start
    while i < limit:
        ch = text[i]
        if ch == "\\":  # skip escaped characters such as \{ and \}
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def boxes(text: str) -> tuple[tuple[str, ...], bool]:
    """(the final group of boxes, in order; whether the last box is unclosed), see the module docstring.

    An unclosed last box gives ``((), True)``. Boxes are scanned from the last one back, each scan
    stopping at the start of the box after it: a box that has not closed by then cannot close (the
    next box's brace raises the depth), so the scans together are linear in the text.
    """
    matches = list(_BOX_RE.finditer(text))
    group: list[str] = []
    limit, group_start = len(text), -1
    for match in reversed(matches):
        end = _close(text, match.end(), limit)
        if end is None:
            if not group:
                return (), True
            break
        if group and not _joins(text[end + 1 : group_start]):
            break
        group.insert(0, text[match.end() : end].strip())
        limit = group_start = match.start()
    return tuple(group), False


def unclosed_box(text: str) -> str | None:
    """The content of a last box that only lacks its own closing brace at the very end of the text
    (``... so \\boxed{12``, ``\\boxed{\\frac{1}{2}$.``): one line of at most :data:`UNCLOSED_CHARS` characters
    with balanced braces inside; None otherwise (``\\boxed{\\frac{24}{`` was cut inside its content)."""
    matches = list(_BOX_RE.finditer(text))
    if not matches:
        return None
    content = text[matches[-1].end() :].strip().rstrip("$.").strip()
    if not content or len(content) > UNCLOSED_CHARS or "\n" in content:
        return None
    depth, i = 0, 0
    while i < len(content):
        if content[i] == "\\":
            i += 2
            continue
        depth += {"{": 1, "}": -1}.get(content[i], 0)
        if depth < 0:
            return None
        i += 1
    return content if depth == 0 else None


def _joins(connector: str) -> bool:
    return len(connector) <= JOIN_CHARS and _RETRACT_RE.search(connector) is None


def extract_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}``, stripped; None if there is none or it never closes."""
    group, _ = boxes(text)
    return group[-1] if group else None


def _delimited(rest: str) -> str | None:
    """The content of a math span (``$...$``, ``\\(...\\)``...) that ``rest`` starts with, if closed. An
    escaped dollar ``\\$`` inside a ``$...$`` span is a currency sign, not its end (``$\\$3.25$`` is
    ``\\$3.25``)."""
    for opening, closing in _MATH_SPANS:
        if rest.startswith(opening):
            end = rest.find(closing, len(opening))
            while end > 0 and closing.startswith("$") and rest[end - 1] == "\\":
                end = rest.find(closing, end + 1)
            return rest[len(opening) : end].strip() if end >= 0 else None
    return None


def answer_span(rest: str) -> str | None:
    """The answer at the start of ``rest`` (the text after "the answer is"), stopped at the answer."""
    rest = rest.strip().lstrip("*:").strip()
    if not rest:
        return None
    worked = sum_span(rest)  # "$2200 - $1980 = $220": currency signs, not math delimiters
    if worked is not None:
        return worked
    math = _delimited(rest)
    if math is not None:
        rest = math
    elif rest.startswith("$"):  # an unclosed $: read on without it
        rest = rest.lstrip("$").strip()
    if _BOX_RE.match(rest):
        return extract_boxed(rest[: _box_end(rest)])
    if _CHOICES_RE.match(rest):
        return None  # several letters offered ("A, B, C, D, or E"): no one choice
    choice = _CHOICE_RE.match(rest)
    if choice:
        return f"({choice.group(1) or choice.group(2)})"
    if math is None:
        cut = _SPAN_END_RE.search(rest)
        if cut is not None and two_units(rest[cut.start() :]):
            cut = _STOP_RE.search(rest, cut.start())  # "4 hours and 30 minutes" is one answer: to the sentence's end
        if cut is not None:
            rest = rest[: cut.start()]
    rest = rest.strip().strip("*").rstrip(".,:").strip()
    if len(rest) >= 2 and rest[0] == "$" and rest[-1] == "$":
        rest = rest.strip("$").strip()
    return rest or None


def _box_end(text: str) -> int:
    """The end of the first box of ``text`` (the text's end if it never closes)."""
    match = _BOX_RE.match(text)
    end = _close(text, match.end(), len(text)) if match else None
    return len(text) if end is None else end + 1


def _answer_is(text: str) -> tuple[str | None, bool, bool]:
    """(the span after the last "the answer is" phrase, whether the text ends at that phrase, whether the
    span runs to the very end of the text)."""
    matches = list(_ANSWER_IS_RE.finditer(text))
    if matches and not text[matches[-1].end() :].strip():
        return None, True, False  # the text ends at the phrase: the answer was cut off
    for match in reversed(matches):
        # a window, not text[match.end():]: no copy of the rest of the text per match (linear time)
        window = text[match.end() : match.end() + SPAN_WINDOW]
        line, newline, after = window.partition("\n")
        next_line = "\n" in match.group(0)  # the phrase's trailing spaces ran over the line's end
        if not line.strip() and newline:
            line, _, after = after.lstrip().partition("\n")
            next_line = True
        if next_line and _ITEM_RE.match(line):
            continue  # "verify the final answer:\n\n1. **Identify...": a list of steps follows, not an answer
        if next_line and "(" in match.group(0) and not _ANSWER_LINE_RE.match(line):
            break  # "the answer (arabic numerals) is" then more working: the working's conclusion is read
        span = answer_span(line)
        if span is not None:
            whole = len(text) - match.end() <= SPAN_WINDOW  # the window reaches the end of the text
            return span, False, whole and not after.strip() and line.rstrip().endswith(span)
    return None, False, False


def extract_answer_is(text: str) -> str | None:
    """The span after the last "the answer is" phrase (module docstring, rule 3); None if none or cut off."""
    return _answer_is(text)[0]


def extract_last_number(text: str) -> str | None:
    """The last number in the text (thousands separators and currency signs removed, a minus kept; a time
    or ratio ``11:00`` whole; the marker of a numbered item, ``1. **Identify``, is not a number); None if
    there is none."""
    matches = _NUMBER_RE.findall(_number_text(text))
    return _CURRENCY_RE.sub("", matches[-1]).replace(",", "") if matches else None


_NUMBER_WORDS = tuple(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"  # noqa: SIM905
    " seventeen eighteen nineteen twenty".split()
)
_NUMBER_WORD_RE = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)
_SENTENCE_END_RE = re.compile(r"[.!?](?=\s)|\n")


def _number_text(text: str) -> str:
    """The text as the last-number rule reads it (Unicode minus, LaTeX thousands separators, item markers)."""
    return _without_item_markers(_LATEX_THOUSANDS_RE.sub(",", text.translate(_MINUSES)))


def _plain(number: str) -> str:
    """A number as an answer: currency signs and thousands separators dropped, a number word as digits."""
    word = number.lower()
    if word in _NUMBER_WORDS:
        return str(_NUMBER_WORDS.index(word))
    return _CURRENCY_RE.sub("", number).replace(",", "")


def _value(number: str) -> str:
    """A number's value as a comparable string: ``$1,234.50`` -> ``1234.5``, ``three`` and ``3.0`` -> ``3``."""
    plain = _plain(number)
    if "/" in plain or ":" in plain:
        return plain
    try:
        value = float(plain)
    except ValueError:
        return plain
    return str(int(value)) if value.is_integer() else repr(value)


def _numbers(text: str) -> list[tuple[int, str]]:
    """(position, number) of every number and number word (up to twenty) of an already normalised text."""
    found = [(m.start(), m.group(0)) for m in _NUMBER_RE.finditer(text)]
    found += [(m.start(), m.group(0)) for m in _NUMBER_WORD_RE.finditer(text)]
    return sorted(found)


def last_new_number(text: str, prompt: str) -> str | None:
    """The answer of the final sentence when the last number is one of the question's givens, else None.

    When the last number of ``text`` (:func:`extract_last_number`) also occurs in ``prompt`` (the
    question), the sentence it ends is read: its last number, or number word up to twenty, that is *not*
    in the question is the answer ("Jean can fill 14 bags with 2 lollipops in each bag" for a question
    about packing 2 lollipops a bag gives 14). None when the last number is new, or when every number of
    that sentence is a given (then the last number stands). Values are compared, not spellings
    (``2,000`` = ``2000``, ``three`` = ``3``).
    """
    body = _number_text(text)
    digits = list(_NUMBER_RE.finditer(body))
    if not digits or not prompt:
        return None
    givens = {_value(number) for _, number in _numbers(_number_text(prompt))}
    last = digits[-1]
    if _value(last.group(0)) not in givens:
        return None
    ends = [m.end() for m in _SENTENCE_END_RE.finditer(body, 0, last.start())]
    start = ends[-1] if ends else 0
    after = _SENTENCE_END_RE.search(body, last.end())
    stop = after.start() if after else len(body)
    fresh = [number for _, number in _numbers(body[start:stop]) if _value(number) not in givens]
    return _plain(fresh[-1]) if fresh else None


def _without_item_markers(text: str) -> str:
    """``text`` without the markers of its numbered items: a marker before bold text (``1. **Add**``), or any
    marker when the text numbers at least two items (``42. That is all.`` alone keeps its 42)."""
    numbers = {m.group(1) for m in _ITEM_MARKER_RE.finditer(text)}
    if len(numbers) >= 2:
        return _ITEM_MARKER_RE.sub("", text)
    return _ITEM_MARKER_RE.sub(lambda m: "" if m.group(2) else m.group(0), text)


def loop(text: str) -> tuple[int, int] | None:
    """(block length in words, repeats) when the text ends in a loop, else None.

    A loop: the words at the end of the text repeat a block of at most :data:`LOOP_MAX_BLOCK` words at
    least :data:`LOOP_MIN_REPEATS` times in a row, and that repeated run is at least :data:`LOOP_SHARE`
    of the text's words (a model that repeats the question, or a step, until its token limit). The last
    word is left out (a cut text may end inside a word). The shortest such block is reported.
    """
    words = text.split()[:-1]
    n = len(words)
    for block in range(1, min(LOOP_MAX_BLOCK, n // LOOP_MIN_REPEATS) + 1):
        i = n - 1
        while i - block >= 0 and words[i] == words[i - block]:
            i -= 1
        run = n - 1 - i + block  # words in the periodic tail, the first block included
        if run >= LOOP_MIN_REPEATS * block and run >= LOOP_SHARE * n:
            return block, run // block
    return None


def extract(
    text: str, answer_format: str = "auto", think: str = "strip", strict: bool = False, prompt: str = ""
) -> Extraction:
    """Read the final answer of a completion by the rules of the module docstring.

    Args:
        text: The completion.
        answer_format: ``auto``, ``boxed``, ``answer_is`` or ``last_number``.
        think: ``strip`` (read after the reasoning block) or ``keep`` (read everything).
        strict: Never guess: ``auto`` stops after the box and "the answer is" rules (no last number).
        prompt: The question; when given, a last number that only restates one of its givens gives way to
            the new number of the final sentence (:func:`last_new_number`).

    Raises:
        ValueError: unknown ``answer_format`` or ``think``.
    """
    if answer_format not in ANSWER_FORMATS:
        raise ValueError(f"answer_format must be one of {', '.join(ANSWER_FORMATS)}, got {answer_format!r}")
    region, where = final_region(text, think)
    if region is None:
        return Extraction(None, reason="the reasoning block never closed")
    if answer_format in ("auto", "boxed"):
        group, unclosed = boxes(region)
        if unclosed:
            content = unclosed_box(region)
            if content is None or loop(region) is not None:
                return Extraction(None, region=where, reason="the last \\boxed{} is cut off")
            return Extraction(content, "boxed[unclosed]", where)
        if group and group[-1]:
            return Extraction(group[-1], "boxed[last]", where, group)
        if group:
            return Extraction(None, region=where, reason="the last \\boxed{} is empty")
    if answer_format in ("auto", "answer_is"):
        span, cut, open_end = _answer_is(region)
        if span is not None:
            return Extraction(span, "answer is", where, open_end=open_end)
        if cut:
            return Extraction(None, region=where, reason='nothing after "the answer is" (cut off)')
    if answer_format == "last_number" or (answer_format == "auto" and not strict):
        looping = loop(region)
        if looping is not None:
            block, repeats = looping
            reason = f"the text loops (a block of {block} words repeated {repeats} times) and states no answer"
            return Extraction(None, region=where, reason=reason)
        number = extract_last_number(region)
        fresh = last_new_number(region, prompt) if number is not None and prompt else None
        if fresh is not None:
            return Extraction(fresh, "last new number", where)
        if number is not None:
            return Extraction(number, "last number", where)
    rules = {"auto": "box or answer phrase" if strict else "box, answer phrase or number"}.get(
        answer_format, answer_format
    )
    return Extraction(None, region=where, reason=f"no {rules} found")


def extract_answer(text: str, answer_format: str = "auto", think: str = "strip", strict: bool = False) -> str | None:
    """The final answer of a completion (see :func:`extract`); None if none.

    Raises:
        ValueError: unknown ``answer_format`` or ``think``.
    """
    return extract(text, answer_format, think, strict).answer
