"""A token sink for streamed answers that keeps its events, and what a client would show after them."""

from __future__ import annotations


class Recorder:
    """What a streaming client receives: token, reset and flush events."""

    def __init__(self):
        self.events: list[tuple[str, str]] = []

    def token(self, text):
        self.events.append(("token", text))

    def reset(self, reason):
        self.events.append(("reset", reason))

    def flush(self):
        self.events.append(("flush", ""))

    def shown(self) -> str:
        text = ""
        for kind, value in self.events:
            text = "" if kind == "reset" else text + value if kind == "token" else text
        return text
