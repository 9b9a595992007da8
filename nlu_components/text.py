"""Small text helpers shared by the crisis detector and the language router."""

import re
import unicodedata
from typing import List

_NOT_WORD = re.compile(r"[^a-z0-9]+")
# A sentence ends at . ! ? or a line break; "..." and "?!" count once.
_SENTENCE_END = re.compile(r"(?<=[.!?\u2026])\s+|\s*\n+\s*")


def normalise(text: str) -> str:
    """Lower case, no accents, no apostrophes, words separated by single spaces.

    "Ya NO quiero vivir." -> "ya no quiero vivir"; "don't" -> "dont". Phrase
    lists are matched on this form, so editors need not list every spelling.
    """
    decomposed = unicodedata.normalize("NFKD", text.lower().replace("\u2019", "'"))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).replace("'", "")
    return " ".join(_NOT_WORD.sub(" ", plain).split())


def sentences(text: str) -> List[str]:
    return [s for s in (part.strip() for part in _SENTENCE_END.split(text)) if s]


def windows(text: str, max_windows: int = 200) -> List[str]:
    """Each sentence and each pair of neighbouring sentences.

    A long post's risk is often one sentence among many; scoring these windows
    as well as the whole message keeps it from being averaged away.
    """
    parts = sentences(text)
    if len(parts) < 2:
        return []
    pairs = [f"{a} {b}" for a, b in zip(parts, parts[1:])]
    return (parts + pairs)[:max_windows]
