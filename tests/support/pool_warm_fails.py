"""A worker entry whose warm-up fails: the worker must still serve its tasks."""

from __future__ import annotations


def warm_up() -> None:
    raise RuntimeError("warm-up failed on purpose")


def run(task: dict):
    return {"served": task.get("value")}
