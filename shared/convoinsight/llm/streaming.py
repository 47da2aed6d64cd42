"""A model reply read as it streams: the text deltas of one call, and one JSON string field decoded on the fly.

The compiler asks for ``{"answer": "<markdown>", "follow_ups": [...]}``; a chat client wants the
markdown as it is written. ``JsonFieldReader`` decodes the ``answer`` string of that object from
the raw deltas, escapes split across deltas included, without waiting for the object to close.
What it yields is a preview only: the reply is parsed and validated in full once it has ended
(``llm/jsonout.py``), exactly as a reply that did not stream.
"""

from __future__ import annotations

from typing import Any, Protocol

_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class Draft(Protocol):
    """Where the deltas of a streamed call go (``pipeline/draft.py``'s ``AnswerDraft``)."""

    def restart(self, reason: str) -> None:
        """Another attempt begins (``retry``, ``fallback``, ``repair``): whatever the last one wrote is void."""

    def write(self, delta: str) -> None:
        """The next piece of the reply's raw text."""


def streamed_completion(litellm, request: dict[str, Any], draft: Draft):
    """One streamed call: every text delta to ``draft``, then the whole response built from the chunks
    (content and usage as a call without streaming returns them). A retry of this call restarts the draft."""
    draft.restart("retry")  # nothing to void on a first attempt
    chunks = []
    for chunk in litellm.completion(**request, stream=True, stream_options={"include_usage": True}):
        chunks.append(chunk)
        delta = chunk.choices[0].delta.content if chunk.choices else None
        if delta:
            draft.write(delta)
    response = litellm.stream_chunk_builder(chunks, messages=request["messages"])
    if response is None:  # a stream with no chunk at all
        raise litellm.APIConnectionError(message="the model's stream ended before any chunk",
                                          llm_provider="", model=request["model"])
    return response


class JsonFieldReader:
    """Decodes the string value of one top-level key of a JSON object from its text, piece by piece.

    Text before the first ``{`` (prose, a ```json fence) is skipped. Only the first occurrence of the
    key at the object's top level counts; a key whose value is not a string yields nothing.
    """

    def __init__(self, field: str):
        self.field = field
        self._depth = 0
        self._string = False  # inside a string that is not the streamed value
        self._escape = False
        self._key: list[str] | None = None  # the top-level key being read
        self._last_key: str | None = None
        self._expect = "open"  # open | key | colon | value | other | streaming | done
        self._hex: str | None = None  # the digits of a \\uXXXX escape in the streamed value
        self._high: int | None = None  # a high surrogate waiting for its low half

    @property
    def done(self) -> bool:
        return self._expect == "done"

    def feed(self, text: str) -> str:
        """The decoded characters of the field that ``text`` completes."""
        out: list[str] = []
        for ch in text:
            if self._expect == "done":
                break
            if self._expect == "streaming":
                self._stream_char(ch, out)
            elif self._string:
                self._string_char(ch)
            else:
                self._structure_char(ch)
        return "".join(out)

    def _string_char(self, ch: str) -> None:
        if self._escape:
            self._escape = False
            if self._key is not None:
                self._key.append(_ESCAPES.get(ch, ch))  # keys we look for hold no \\u escapes
        elif ch == "\\":
            self._escape = True
        elif ch == '"':
            self._string = False
            if self._key is not None:
                self._last_key, self._key = "".join(self._key), None
                self._expect = "colon"
        elif self._key is not None:
            self._key.append(ch)

    def _structure_char(self, ch: str) -> None:
        if self._expect == "open":
            if ch == "{":
                self._depth, self._expect = 1, "key"
            return
        if ch.isspace():
            return
        if self._expect == "value" and self._depth == 1:
            if ch == '"' and self._last_key == self.field:
                self._expect = "streaming"
                return
            self._expect = "other"
        if ch == '"':
            self._string = True
            if self._depth == 1 and self._expect == "key":
                self._key = []
        elif ch == ":" and self._depth == 1 and self._expect == "colon":
            self._expect = "value"
        elif ch in "{[":
            self._depth += 1
        elif ch in "}]":
            self._depth -= 1
            if self._depth <= 0:
                self._expect = "done"  # the object ended without the field
        elif ch == "," and self._depth == 1:
            self._expect = "key"

    def _stream_char(self, ch: str, out: list[str]) -> None:
        if self._hex is not None:
            self._hex += ch
            if len(self._hex) < 4:
                return
            try:
                code = int(self._hex, 16)
            except ValueError:
                code = 0xFFFD
            self._hex = None
            if 0xD800 <= code < 0xDC00:
                self._high = code
                return
            if 0xDC00 <= code < 0xE000 and self._high is not None:
                code = 0x10000 + ((self._high - 0xD800) << 10) + (code - 0xDC00)
            elif self._high is not None:
                out.append("\ufffd")
            self._high = None
            out.append(chr(code) if not 0xD800 <= code < 0xE000 else "\ufffd")
            return
        if self._escape:
            self._escape = False
            if ch == "u":
                self._hex = ""
                return
            self._flush_high(out)
            out.append(_ESCAPES.get(ch, ch))
            return
        if ch == "\\":
            self._escape = True
            return
        self._flush_high(out)
        if ch == '"':
            self._expect = "done"
            return
        out.append(ch)

    def _flush_high(self, out: list[str]) -> None:
        if self._high is not None:  # a lone high surrogate: json.loads keeps it, a preview shows a marker
            out.append("\ufffd")
            self._high = None
