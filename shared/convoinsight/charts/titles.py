"""A chart title that reads as a title, from whatever the model or the question gave.

Questions make poor titles: "show me the total revenue by region?" is read on a slide as an echo
of the prompt. The title keeps what the chart shows ("Total revenue by region"): no courtesy or
question opener, no trailing punctuation, a capital first letter, at most MAX_TITLE characters
(cut at a word, with an ellipsis). Cleaning a clean title changes nothing.
"""

from __future__ import annotations

import re

MAX_TITLE = 70

# Openers that are the asking, not the subject; applied repeatedly ("please show me the ...").
_OPENERS = re.compile(
    r"^(?:please|pls|kindly|hey|ok|okay|so|now|and|also|"
    r"can you|could you|would you|will you|can i|could i|may i|i want to see|i want to know|i would like to see|"
    r"i'd like to see|i want|i need|i'd like|give me|get me|show me|tell me|let me see|let me know|"
    r"show|display|plot|draw|visuali[sz]e|list|find|compute|calculate|get|"
    r"what is|what are|what was|what were|what's|whats|which are|which is|which were|which was|"
    r"the|a|an)(?:[\s,:]+|$)(?:of\s+)?", re.IGNORECASE)
_HOW_MANY = re.compile(r"^how many\s+", re.IGNORECASE)
_HOW_MUCH = re.compile(r"^how much\s+", re.IGNORECASE)
_TRAILING = re.compile(r"[\s?!.,;:]+$")
_SPACES = re.compile(r"\s+")


def clean_title(text: str) -> str:
    """See the module docstring. An empty or all-opener text gives ""."""
    title = _SPACES.sub(" ", str(text or "")).strip()
    title = _TRAILING.sub("", title)
    previous = None
    while previous != title:
        previous = title
        if _HOW_MANY.match(title):
            title = "Number of " + _HOW_MANY.sub("", title)
        elif _HOW_MUCH.match(title):
            title = _HOW_MUCH.sub("", title)
        stripped = _OPENERS.sub("", title, count=1)
        if stripped and stripped != title:
            title = stripped
    title = _TRAILING.sub("", title)
    if len(title) > MAX_TITLE:
        cut = title[:MAX_TITLE - 1].rsplit(" ", 1)[0] or title[:MAX_TITLE - 1]
        title = _TRAILING.sub("", cut) + "\u2026"
    return title[:1].upper() + title[1:]
