"""Writing a narrative: the clause builder :class:`Text`, the token budget and small word helpers.

A narrative is built from clauses, each with a priority; clauses of one group form one sentence.
When the text would not fit the sentence encoder's token budget, the lowest-priority clauses go
first (:meth:`Text.render`). The grid-kind modules (:mod:`~s2kd.narrators.latlon`,
:mod:`~s2kd.narrators.flows`, :mod:`~s2kd.narrators.radar`, :mod:`~s2kd.narrators.events`) add
the clauses; :class:`~s2kd.narrators.diagnostic.DiagnosticNarrator` renders them.
"""

from __future__ import annotations

import re
from typing import Any

#: The most word-piece tokens (approximately) a narrative may take: the sentence encoder reads 96
#: with [CLS] and [SEP] (``narrate.embedding.max_length``); the least important clauses go first.
TOKEN_BUDGET = 90
_TOKEN = re.compile(r"\w+|[^\w\s]")


def capitalise(s: str) -> str:
    """``s`` with its first letter in upper case."""
    return s[:1].upper() + s[1:] if s else s


def and_join(items: list[str]) -> str:
    """``"a, b and c"`` (empty items left out)."""
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def with_article(phrase: str) -> str:
    """``phrase`` with its indefinite article."""
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def motion_phrase(m: dict[str, Any] | None) -> str:
    """``"stationary"``, ``"drifting east"``, ``"moving quickly east"``, or '' when the motion is unknown."""
    if not m or m.get("speed") in (None, "unknown"):
        return ""
    if not m.get("moving"):
        return "stationary"
    if m["speed"] == "slow":
        return f"drifting {m['heading']}"
    return f"moving quickly {m['heading']}"


def approx_tokens(text: str) -> int:
    """A cheap estimate of the encoder's word-piece count (words and punctuation, plus 2 for [CLS]/[SEP])."""
    return len(_TOKEN.findall(text)) + 2


class Text:
    """Clauses grouped into sentences; the lowest-priority clauses are dropped to fit a token budget."""

    def __init__(self) -> None:
        self.clauses: list[tuple[int, int, str]] = []  # (priority, group index, text)
        self.groups: list[tuple[str, str, str]] = []  # (key, prefix, joiner) per sentence, in order

    def add(self, priority: int, text: str, *, group: str | None = None, prefix: str = "", joiner: str = ";") -> None:
        """Add a clause; clauses of one ``group`` form one sentence after ``prefix``.

        ``joiner`` ``";"`` joins the clauses with semicolons; ``"with"`` makes the first the main
        clause and the others its complement ("the region cools, with A and B").
        """
        if not text:
            return
        key = group if group is not None else f"_{len(self.groups)}"
        keys = [g[0] for g in self.groups]
        if key in keys:
            gi = keys.index(key)
        else:
            gi = len(self.groups)
            self.groups.append((key, prefix, joiner))
        self.clauses.append((priority, gi, text))

    def render(self, budget: int = TOKEN_BUDGET) -> str:
        """The sentences, without the lowest-priority clauses that do not fit ``budget`` tokens."""
        keep = list(range(len(self.clauses)))
        while True:
            text = self._join(keep)
            if approx_tokens(text) <= budget or len(keep) <= 1:
                return text
            # drop the lowest-priority clause, the latest one among equals (never the first clause)
            victim = min(keep[1:], key=lambda k: (self.clauses[k][0], -k))
            keep.remove(victim)

    def _join(self, keep: list[int]) -> str:
        by_group: dict[int, list[str]] = {}
        for k in keep:
            _, gi, text = self.clauses[k]
            by_group.setdefault(gi, []).append(text)
        sentences = []
        for gi in sorted(by_group):
            _, prefix, joiner = self.groups[gi]
            parts = by_group[gi]
            if joiner == "with" and len(parts) > 1:
                body = f"{parts[0]}, with {and_join(parts[1:])}"
            else:
                body = "; ".join(parts)
            sentence = prefix + body if prefix else capitalise(body)
            sentences.append(sentence if sentence.endswith(".") else sentence + ".")
        return " ".join(sentences)
