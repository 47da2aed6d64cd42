"""The compiler's answer as it is written: a draft preview in token events, then the final text.

A ``TokenSink`` carries the events to a client: ``token`` (append this text), ``reset`` (discard
everything of the draft so far) and ``flush``. Two carry them today: the HTTP response of a
streamed sync question (``queries/streaming.py``) and a Redis Stream per async job
(``jobs/tokens.py``), read by the job's event stream wherever that is served.

``AnswerDraft`` keeps one promise: once ``finish`` ran, the concatenation of the tokens a client
holds (after its last reset) is exactly the stored answer. The model's markdown streams as it is
written (through ``llm/streaming.py``); the server's own parts are added around it (the status
notice before, the verification note after), and whenever the final text does not continue what
was sent (a repaired reply, a corrected answer) a reset precedes the final text. Answers that did
not stream (the offline planner, a cached reply) arrive as a few token events at the end.
"""

from __future__ import annotations

from typing import Protocol

from convoinsight.llm.streaming import JsonFieldReader
from convoinsight.nul import NUL

FINAL_PIECES = 4  # an answer that did not stream is sent in about this many token events
_MIN_PIECE = 24


class TokenSink(Protocol):
    def token(self, text: str) -> None: ...

    def reset(self, reason: str) -> None: ...

    def flush(self) -> None: ...


def pieces(text: str, parts: int = FINAL_PIECES) -> list[str]:
    """``text`` in about ``parts`` pieces cut after whitespace (so words stay whole); "".join gives it back."""
    if not text:
        return []
    size = max(_MIN_PIECE, -(-len(text) // parts))
    out, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        while end < len(text) and not text[end - 1].isspace():
            end += 1
        out.append(text[start:end])
        start = end
    return out


class AnswerDraft:
    """The draft of one compiler run, told to a sink; the LLM client drives it through ``restart``/``write``."""

    def __init__(self, sink: TokenSink, prefix: str = "", field: str = "answer"):
        self.sink, self.prefix, self.field = sink, prefix.replace(NUL, ""), field
        self._sent = ""  # what the client holds since its last reset
        self._begin(send_prefix=True)

    def _begin(self, *, send_prefix: bool) -> None:
        self._reader = JsonFieldReader(self.field)
        self._leading = True  # the answer is stripped: no whitespace before its first character
        self._pending = ""  # ... nor after its last: whitespace is held until more text follows it
        self._wrote = False
        if send_prefix and self.prefix:
            self._emit(self.prefix)

    def _emit(self, text: str) -> None:
        text = text.replace(NUL, "")  # stored answers hold no NUL (convoinsight.nul)
        if text:
            self._sent += text
            self.sink.token(text)

    def restart(self, reason: str) -> None:
        if not self._wrote:
            return
        if self._sent == self.prefix:  # the void attempt sent nothing of its own: the client keeps the prefix
            self._begin(send_prefix=False)
            return
        self.sink.reset(reason)
        self._sent = ""
        self._begin(send_prefix=True)

    def write(self, delta: str) -> None:
        self._wrote = True
        text = self._reader.feed(delta)
        if not text:
            return
        if self._leading:
            text = text.lstrip()
            if not text:
                return
            self._leading = False
        body = text.rstrip()
        if body:
            self._emit(self._pending + body)
            self._pending = text[len(body):]
        else:
            self._pending += text

    def finish(self, final: str) -> None:
        """The answer as it will be stored: send what the client lacks of it (after a reset if it diverged)."""
        final = final.replace(NUL, "")
        if final.startswith(self._sent):
            rest = final[len(self._sent):]
            streamed = self._sent not in ("", self.prefix)
        else:
            self.sink.reset("revised")
            self._sent, rest, streamed = "", final, False
        for piece in ([rest] if streamed and rest else pieces(rest)):
            self._emit(piece)
        self.sink.flush()
