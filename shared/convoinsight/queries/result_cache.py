"""Whole answers cached per tenant and domain, found from the request alone.

The key holds what the request says (the normalised question, the model and provider asked for, whether it
brings its own key, the chart hint, its direct agent overrides), every agent's prompt version, the server's
model settings and the conversation's last turn (a follow-up means something else in another conversation).
Everything else an answer depends on is covered by generations instead of being spelt out in the key: the
entry lives in the domain's scope (any write to a dataset or link of the domain, or to its overrides,
bumps it) and in the tenant's settings scope (``cache.CONFIG_SCOPE``: the user's overrides, which providers
they hold keys for). So a repeated question needs no document read to find its answer, and a new-session
question can be fetched with the rate limit, in the request's one Redis round trip (``prefetch``).
"""

from __future__ import annotations

import re
from typing import Any

from convoinsight import cache as caching
from convoinsight.cache import Cache
from convoinsight.datasets import paths
from convoinsight.datasets.naming import check_domain
from convoinsight.llm.prompts import AGENTS, PromptStore

_SPACES = re.compile(r"\s+")


def normalise(question: str) -> str:
    return _SPACES.sub(" ", question.strip().lower()).rstrip(" ?.!")


def scopes(domain: str) -> tuple[str, str]:
    """What an answer (and what a question reads to compute one) depends on: its domain and the tenant's settings."""
    return paths.domain_scope(domain), caching.CONFIG_SCOPE


def key_parts(req, prompts: PromptStore, settings, history: list[dict[str, Any]]) -> tuple:
    """Everything of the request and the server an answer depends on that no generation covers."""
    last = history[-1] if history else None
    router = prompts.get("router")
    return (
        "answer/2",
        normalise(req.prompt),
        # The model is resolved from these (and from the providers the tenant holds keys for: CONFIG_SCOPE).
        (req.model, req.provider, bool(req.api_key), settings.llm_model, bool(settings.llm_api_base),
         bool(settings.llm_api_key), router.model, list(router.fallbacks)),
        [(agent, prompts.get(agent).version) for agent in AGENTS],
        req.chart,
        req.agents or None,  # the domain's and the user's overrides: covered by the scopes
        (last.get("question"), last.get("sql")) if last else None,
    )


def lookup(cache: Cache, user_id: str, domain: str, parts: tuple) -> tuple[str | None, dict[str, Any] | None]:
    return cache.get_json(user_id, scopes(domain), "result", *parts)


def lookup_ref(cache: Cache, where: caching.Ref) -> tuple[str | None, dict[str, Any] | None]:
    return cache.lookup(where, "result")


def ref(user_id: str, domain: str, parts: tuple) -> caching.Ref:
    return caching.ref(user_id, scopes(domain), "result", *parts)


def store(cache: Cache, key: str | None, answer: dict[str, Any]) -> None:
    """Keep ``answer``, which must hold no NUL character (``nul.strip`` it first): a cached answer is stored as
    it is read back, without being stripped again."""
    cache.set_json(key, "result", answer)


def prefetch(settings, user_id: str, body: dict[str, Any] | None) -> list[caching.Ref]:
    """The entry a sync question in a new session looks up, known before the handler runs: the web layer
    fetches it with the rate limit (``RouteOptions.prefetch``). A follow-up's key needs its history first,
    and an async question reads no answer: nothing to fetch for those."""
    from convoinsight.llm.prompts import prompt_store
    from convoinsight.queries.request import parse_ask

    if not body:
        return []
    req = parse_ask(body)
    if req.session_id or req.mode == "async":
        return []
    check_domain(req.domain)
    prompts = prompt_store(settings.prompts_dir).pinned()
    where = ref(user_id, req.domain, key_parts(req, prompts, settings, []))
    caching.memo()[_AHEAD] = (user_id, req, prompts, where)
    return [where]


def ahead(user_id: str, req) -> tuple[Any, caching.Ref] | None:
    """(pinned prompts, the answer's entry) as this request's prefetch worked them out for this very question,
    so the handler neither reads the prompts again nor computes the key twice; None when it did not."""
    found = caching.memo().get(_AHEAD)
    if found is None or found[0] != user_id or found[1] != req:
        return None
    return found[2], found[3]


_AHEAD = "queries.ask"  # the request memo's entry of the prefetch
