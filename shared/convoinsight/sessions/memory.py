"""Recent turns of a conversation in Redis: the pipeline's short-term memory.

A list per (tenant, session), capped in length and expiring after a quiet
period; the documents store stays the record of truth, so a miss (expired,
evicted, Redis down) falls back to it. What the prompts get is trimmed by an
estimate of tokens, newest turns first.

A session's first turn is not written here (it costs its question a round
trip, and the stored turn says the same): the next question misses, reads the
stored turns and hands them to ``remember`` as its ``seed``, which writes them
before its own turn unless the list exists by then (a concurrent turn seeded
it first), atomically, so no turn is kept twice or lost.
"""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger("convoinsight.memory")
# KEYS[1] the list; ARGV: max turns, TTL, how many seed turns n, the n seed turns, then the turns to append.
_SEEDED = b"""
local n = tonumber(ARGV[3])
if n > 0 and redis.call('EXISTS', KEYS[1]) == 0 then
  for i = 4, 3 + n do redis.call('RPUSH', KEYS[1], ARGV[i]) end
end
for i = 4 + n, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('LTRIM', KEYS[1], -tonumber(ARGV[1]), -1)
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
end
return 1
"""
_seeded_script = None  # made on first use (redis is imported lazily)
MAX_TURNS = 12
TTL_SECONDS = 6 * 3600
HISTORY_TOKENS = 1500
_ANSWER_CHARS = 600


def _key(user_id: str, session_id: str) -> str:
    return f"ci:v1:{user_id}:memory:{session_id}"


def compact_turn(question: str, sql: str | None, answer: str) -> dict[str, Any]:
    return {"question": question, "sql": sql, "answer": (answer or "")[:_ANSWER_CHARS]}


def remember(redis_client, user_id: str, session_id: str, turn: dict[str, Any] | None, *,
             seed: list[dict[str, Any]] | None = None) -> None:
    """Append ``turn`` (if any) to the session's memory, after ``seed`` (the stored turns, oldest first) when
    the memory does not exist yet; one round trip either way."""
    if redis_client is None:
        return
    key = _key(user_id, session_id)
    turns = [json.dumps(turn, default=str)] if turn is not None else []
    try:
        if seed:
            global _seeded_script
            if _seeded_script is None:
                from redis.commands.core import Script

                _seeded_script = Script(None, _SEEDED)
            _seeded_script(keys=[key], client=redis_client,
                           args=[MAX_TURNS, TTL_SECONDS, len(seed), *(json.dumps(t, default=str) for t in seed),
                                 *turns])
            return
        if not turns:
            return
        pipe = redis_client.pipeline()
        pipe.rpush(key, *turns)
        pipe.ltrim(key, -MAX_TURNS, -1)
        pipe.expire(key, TTL_SECONDS)
        pipe.execute()
    except Exception as exc:  # memory is an optimisation: the turn is in the documents store anyway
        log.warning("memory write failed: %s", type(exc).__name__)


def forget(redis_client, user_id: str, session_id: str) -> bool:
    """Drop a session's memory; False when Redis could not be reached (the key then expires by itself)."""
    if redis_client is None:
        return True
    try:
        redis_client.delete(_key(user_id, session_id))
        return True
    except Exception as exc:
        log.warning("memory delete failed: %s", type(exc).__name__)
        return False


def recall(redis_client, user_id: str, session_id: str) -> list[dict[str, Any]] | None:
    """The remembered turns, oldest first, or None when Redis has nothing (then read the documents)."""
    if redis_client is None:
        return None
    try:
        raw = redis_client.lrange(_key(user_id, session_id), 0, -1)
    except Exception as exc:
        log.warning("memory read failed: %s", type(exc).__name__)
        return None
    return [json.loads(item) for item in raw] if raw else None


def trim_to_tokens(turns: list[dict[str, Any]], budget: int = HISTORY_TOKENS) -> list[dict[str, Any]]:
    """The newest turns whose text fits ``budget`` tokens (about 4 characters a token), oldest first."""
    kept, used = [], 0
    for turn in reversed(turns):
        cost = len(json.dumps(turn, default=str)) // 4 + 1
        if kept and used + cost > budget:
            break
        kept.append(turn)
        used += cost
    return list(reversed(kept))
