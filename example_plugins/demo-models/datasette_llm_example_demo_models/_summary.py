"""How ``demo-summarise`` answers: the text's first sentence, trimmed.

An instruction in front of the text (a short phrase ending in a colon, such as
``Summarise this in one sentence:``) is dropped first; whitespace is collapsed; a first
sentence longer than ``MAX_CHARS`` is cut at a word and ends with an ellipsis.
"""

from __future__ import annotations

import re

MAX_CHARS = 200
NOTHING = "There is nothing to summarise."
_INSTRUCTION = re.compile(r"^\s*[^\n:.!?]{1,80}:\s+")
_FIRST_SENTENCE = re.compile(r"(.+?[.!?])(?=\s|$)")


def first_sentence(text: str) -> str:
    body = " ".join(_INSTRUCTION.sub("", text, count=1).split())
    if not body:
        return NOTHING
    match = _FIRST_SENTENCE.match(body)
    sentence = match.group(1) if match else body
    if len(sentence) <= MAX_CHARS:
        return sentence
    cut = sentence[:MAX_CHARS].rsplit(" ", 1)[0].rstrip(",;:-")
    return cut + "…"
