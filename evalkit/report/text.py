"""Display text from the summary: sanitising (valid UTF-8, visible controls, no bidi tricks) and cutting.

The templates escape every value (Jinja2 autoescape); this module makes a value safe to *look at* first.
:func:`clean_text` is the ``clean`` filter and :func:`clip` the ``clip`` filter of the report's templates;
:func:`esc` sanitises and escapes in one step for callers that build HTML outside the templates.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any

#: Displayed completions, prompts and references are cut to this many characters.
MAX_TEXT_CHARS = 2000
#: References are usually short; a long one is cut harder so that 400 rows stay small.
MAX_REFERENCE_CHARS = 500

# Characters that must not reach the page as themselves:
# - C0 controls except \t and \n, DEL, C1 controls (HTML parse errors, invisible or terminal escapes),
# - surrogates (not encodable as UTF-8), noncharacters U+FDD0..U+FDEF, U+xFFFE/U+xFFFF,
# - bidi embeddings/overrides/isolates (they can reorder what the reader sees).
_UNSAFE_RE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
    "\u202a-\u202e\u2066-\u2069\U0001fffe\U0001ffff\U0010fffe\U0010ffff]"
)


def _replace_unsafe(match: re.Match[str]) -> str:
    ch = match.group()
    cp = ord(ch)
    if cp == 0:
        return ""
    if cp < 0x20:
        return chr(0x2400 + cp)  # U+2400 block: visible symbols for C0 controls
    if cp == 0x7F:
        return "\u2421"
    if 0xD800 <= cp <= 0xDFFF:
        return "\ufffd"
    return f"<U+{cp:04X}>"


def _to_text(value: Any) -> str:
    """Return a display string for any summary value (chat-message prompts are shown as JSON)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except ValueError:  # circular structures: str() is good enough for display
        return str(value)


def clean_text(value: Any, limit: int | None = None) -> tuple[str, int]:
    """Sanitise a value for display: valid UTF-8, no NULs, control characters made visible.

    Lone surrogates become U+FFFD, NUL bytes are dropped, other control characters are shown as visible
    symbols (U+2400 "control pictures" or ``<U+XXXX>``), bidi overrides are shown rather than obeyed and
    CRLF becomes LF.

    Args:
        value: Any summary value; non-strings are shown as JSON.
        limit: Cut the raw text to this many characters first (None: no cut).

    Returns:
        The sanitised text (not HTML-escaped) and the length of the raw text, so callers can say how much
        was cut.
    """
    text = _to_text(value)
    total = len(text)
    if limit is not None and total > limit:
        text = text[:limit]  # cut before sanitising: a megabyte line costs nothing more than 2,000 chars
    text = text.replace("\r\n", "\n")
    return _UNSAFE_RE.sub(_replace_unsafe, text), total


def clean(value: Any, limit: int | None = None) -> str:
    """The templates' ``clean`` filter: :func:`clean_text`'s text alone (cut silently at ``limit``)."""
    return clean_text(value, limit)[0]


@dataclass(frozen=True)
class Clipped:
    """A sanitised display text (not escaped: the template escapes it) and what the cut removed.

    Attributes:
        text: The sanitised text, at most ``limit`` characters of the raw text.
        total: Characters in the raw text.
        limit: The cut (None: none).
    """

    text: str
    total: int
    limit: int | None

    @property
    def cut(self) -> bool:
        """Whether characters were cut (the page then says how many it shows of how many)."""
        return self.limit is not None and self.total > self.limit


def clip(value: Any, limit: int | None = MAX_TEXT_CHARS) -> Clipped:
    """The templates' ``clip`` filter: sanitise ``value`` and cut it to ``limit`` characters, keeping the count."""
    text, total = clean_text(value, limit)
    return Clipped(text, total, limit)


def esc(value: Any, limit: int | None = None) -> str:
    """Sanitise and HTML-escape one summary value; append a visible marker when it was cut.

    For HTML built outside the templates; the templates use ``clean``/``clip`` and autoescape instead.
    """
    c = clip(value, limit)
    out = html.escape(c.text, quote=True)
    if c.cut:
        out += f'<span class="cut">… [cut: showing {c.limit:,} of {c.total:,} characters]</span>'
    return out


def plot_label(value: Any, limit: int = 40) -> str:
    """Sanitised, short text for a plot title; mathtext is off at the call site so '$' is literal."""
    text, total = clean_text(value, limit)
    text = text.replace("\n", " ")
    return text + "…" if total > limit else text
