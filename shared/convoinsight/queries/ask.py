"""The ask use case: validate, load the domain, run the pipeline, keep the conversation."""

from __future__ import annotations

import time
import uuid
from typing import Any

from convoinsight import nul
from convoinsight.datasets import paths
from convoinsight.datasets.naming import check_domain
from convoinsight.errors import BadRequest, NotFound
from convoinsight.jobs import service as jobs
from convoinsight.llm import keys, overrides
from convoinsight.llm.catalog import PROVIDERS, provider_of, qualified
from convoinsight.llm.client import LLMClient
from convoinsight.llm.keys import Credential
from convoinsight.llm.prompts import PromptStore
from convoinsight.llm.usage import UsageMeter
from convoinsight.pipeline.deps import StageDeps
from convoinsight.pipeline.draft import AnswerDraft
from convoinsight.pipeline.runner import run_sync
from convoinsight.pipeline.state import STAGES, JobState
from convoinsight.queries import result_cache
from convoinsight.queries.answers import answer_of, respond, timings_of
from convoinsight.queries.request import parse_ask
from convoinsight.queries.streaming import AskEvents
from convoinsight.services import Services
from convoinsight.sessions import memory, store
from convoinsight.sources import links
from convoinsight.sources.federate import resolve_sources, sources_for, table_entries
from convoinsight.sql.execute import engine_pool


def ask(services: Services, prompts: PromptStore, user_id: str, body: dict[str, Any],
        events: AskEvents | None = None) -> tuple[dict[str, Any], int]:
    """The answer (200), or for ``mode=async`` (``auto`` with Cloud Tasks) an accepted job (202).

    ``events`` (a streamed sync question, queries/streaming.py) hears when the answering begins, each
    stage as it ends and the answer's draft; the answer returned is the same as without it.

    A repeated question is answered from the result cache reading nothing but Redis (its entry is keyed by
    the request and kept current by generations: queries/result_cache.py), in a new session from what the
    web layer fetched with the rate limit; then its turn is one document write."""
    started = time.perf_counter()
    prompts = prompts.pinned()  # one version of each prompt for the whole question, whatever an operator does
    req = parse_ask(body)
    fetched = result_cache.ahead(user_id, req)  # what the web layer's prefetch worked out for this question
    if fetched is not None:
        prompts = fetched[0]
    if req.stream and req.mode == "async":
        raise BadRequest("stream works with sync questions; an async job streams its progress and answer on "
                         "its events_url", code="stream_sync_only")
    check_domain(req.domain)
    docs, cache = services.documents, services.cache
    session, history, seed = None, [], None
    if req.session_id:
        session = _session(services, user_id, req)
        history, seed = _recent(services, user_id, req.session_id)
    session_id = req.session_id or store.new_id()
    # A request's apiKey cannot ride along an async job (it would have to be stored), nor can a streamed
    # response: "auto" then runs sync.
    asynchronous = req.mode == "async" or (req.mode == "auto" and services.settings.queue_backend == "cloudtasks"
                                           and not req.api_key and not req.stream)
    key, answer = None, None
    if not asynchronous and fetched is not None and session is None:
        key, answer = result_cache.lookup_ref(cache, fetched[1])
    elif not asynchronous:
        key, answer = result_cache.lookup(cache, user_id, req.domain,
                                          result_cache.key_parts(req, prompts, services.settings, history))
    if not req.use_cache:
        answer = None  # a fresh answer was asked for; it still refreshes the cache below
    cached = answer is not None
    if cached:
        # Stored only after this very request (same fields, same generations) resolved its models and read a
        # domain without linked tables: nothing of that can have changed, or the entry would not be current.
        usage = {**UsageMeter().summary(), "cache_hits": 1}
        timings = {"cache": round((time.perf_counter() - started) * 1000, 1)}
        if events is not None:  # the same protocol as a fresh answer: the markdown in a few token events
            events.begin(session_id, [])
            AnswerDraft(events).finish(answer["answer"] or "")
    else:
        context = domain_context(services, user_id, req.domain)
        records, linked = context["records"], context["linked"]
        llm = LLMClient(services.settings, prompts, redis=services.redis, tenant=user_id, cache=cache,
                        documents=services.documents,
                        credentials=_credentials(services, user_id, req, context["providers"]))
        # Resolve models before any work: an unknown one is a clean 400.
        model = llm.resolve_model(_requested_model(req), prompts.get("router"))
        agent_overrides = _overrides(context, req.agents)
        for agent, override in agent_overrides.items():
            if override.get("model"):
                llm.resolve_model(override["model"], prompts.get(agent))
        if linked:  # live PostgreSQL data changes under any cache key: never served from (or kept in) the cache
            key = None
        if asynchronous:
            llm.check_budget(model)
            state = _initial_state(user_id, req, session_id, records, linked, history, prompts)
            if seed is not None:  # the job's last step adds its turn to the memory: what came before goes first
                memory.remember(services.redis, user_id, session_id, None, seed=seed)
            return jobs.submit(services, user_id, state, records, agent_overrides, linked), 202
        llm.check_budget(model)  # a spent budget is a 429 before any work, not halfway through
        if events is not None:
            events.begin(session_id, list(STAGES))
        answer, usage, timings = _run_pipeline(services, llm, user_id, req, session_id, records, linked, history,
                                               agent_overrides, events)
        answer = nul.strip(answer)  # model output and result cells may hold NUL, which no document can
        # Only complete answers are reused: never a failure, nor one degraded to a fallback model.
        if usage["fallbacks"] == 0 and answer["sql_status"] in ("ok", None):
            result_cache.store(cache, key, answer)
    response = respond(docs, user_id, session, session_id, req.domain, req.prompt, answer, usage, timings,
                       new_session=session is None, fresh=cached, clean=True)
    if session is not None:
        # A new session's first turn is not put in memory: a follow-up finds no memory and reads the stored
        # turn (which it then seeds the memory with), so the first answer costs no Redis write.
        memory.remember(services.redis, user_id, session_id,
                        memory.compact_turn(req.prompt, answer["sql"], answer["answer"]),
                        seed=seed)
    return response, 200


def _session(services: Services, user_id: str, req) -> dict[str, Any]:
    """The question's session (404 when it is not the caller's; 400 when it is of another domain). An unknown
    domain is reported first, as it always was."""
    try:
        session = store.get_session(services.documents, user_id, req.session_id)
    except NotFound:
        domain_context(services, user_id, req.domain)  # domain_not_found, when that is wrong too
        raise
    if session.get("domain") != req.domain:
        domain_context(services, user_id, req.domain)
        raise BadRequest("this session belongs to another domain", code="session_domain_mismatch")
    return session


def domain_context(services: Services, user_id: str, domain: str) -> dict[str, Any]:
    """What a question reads of its domain and its tenant before it runs: the dataset records, the linked
    tables, the user's and the domain's agent overrides and the providers the user holds keys for (names
    only: a key never enters the cache). Cached in the domain's and the tenant's settings scopes, which every
    write of any of these bumps; 404 for a domain with neither datasets nor links."""
    def compute() -> dict[str, Any]:
        docs = services.documents
        user_doc = docs.get(*overrides.user_location(user_id))
        domain_doc = docs.get(*overrides.domain_location(user_id, domain))
        return {
            "records": docs.list(paths.datasets(user_id, domain), order_by="name"),
            "linked": docs.list(links.collection(user_id, domain), order_by="name"),
            "user_agents": user_doc["agents"] if user_doc else None,
            "domain_agents": domain_doc["agents"] if domain_doc else None,
            "providers": sorted({record["provider"] for record in keys.list_all(services, user_id)}),
        }

    context = services.cache.cached(user_id, result_cache.scopes(domain), "profile", ("ask-context",), compute)
    if not context["records"] and not context["linked"]:
        raise NotFound(f"domain {domain!r} not found or has no datasets", code="domain_not_found")
    return context


def _requested_model(req) -> str | None:
    if req.provider and not req.model:
        raise BadRequest("provider needs a model (e.g. \"provider\": \"openai\", \"model\": \"gpt-4o-mini\")",
                         code="model_required")
    return qualified(req.model, req.provider) if req.model and req.provider else req.model


def _credentials(services: Services, user_id: str, req, providers: list[str]) -> dict[str, Credential]:
    """The caller's stored keys by provider; a request's ``apiKey`` replaces the one of its model's provider
    for this request only (it is never stored: an async job would have to store it, so it is refused there).
    ``providers``: those the caller holds keys for (``domain_context``); none, and no key is read."""
    found = keys.credentials(services, user_id) if providers else {}
    if req.api_key:
        if req.mode == "async":
            raise BadRequest("apiKey works with sync questions only; store the key with POST /api/v1/llm/keys "
                             "to use it in async jobs", code="api_key_sync_only")
        provider = provider_of(qualified(req.model, req.provider)) if req.model else None
        if provider not in PROVIDERS:
            raise BadRequest("apiKey needs the provider of the model it pays for: send provider and model",
                             code="unknown_provider")
        stored = found.get(provider)
        found[provider] = Credential(provider, "request", req.api_key, stored.api_base if stored else None)
    return found


def _history(services: Services, user_id: str, session_id: str) -> list[dict[str, Any]]:
    """Recent turns from Redis memory, or from the stored messages when memory has none."""
    return _recent(services, user_id, session_id)[0]


def _recent(services: Services, user_id: str, session_id: str) -> tuple[list[dict[str, Any]],
                                                                       list[dict[str, Any]] | None]:
    """(the history the prompts get, the stored turns to seed the memory with: None when it came from memory).
    Memory has none when the session's first turn was its only one, it expired, or Redis is down."""
    turns = memory.recall(services.redis, user_id, session_id)
    seed = None
    if turns is None:
        turns = seed = store.recent_turns(services.documents, user_id, session_id)
    return memory.trim_to_tokens(turns), seed


def _overrides(context: dict[str, Any], direct: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Precedence: direct (this request) > the domain's > the user's > the prompt files' defaults."""
    user_agents, domain_agents = context["user_agents"], context["domain_agents"]
    return overrides.merge(
        overrides.parse_overrides({"agents": user_agents}) if user_agents is not None else None,
        overrides.parse_overrides({"agents": domain_agents}) if domain_agents is not None else None,
        overrides.parse_overrides({"agents": direct}) if direct else None,
    )


def _run_pipeline(services: Services, llm: LLMClient, user_id: str, req, session_id: str,
                  records: list[dict[str, Any]], linked: list[dict[str, Any]], history: list[dict[str, Any]],
                  agent_overrides: dict[str, dict[str, Any]], events: AskEvents | None = None):
    state = _initial_state(user_id, req, session_id, records, linked, history, llm.prompts)
    pinned = sources_for(records, linked)

    def tables(names: set[str]) -> dict[str, Any]:
        # Only the referenced tables of this tenant's domain are ever handed to the engine.
        return resolve_sources(services, user_id, pinned, names)

    meter = UsageMeter()
    deps = StageDeps(services.settings, llm, meter, tables, agent_overrides, engine=engine_pool(services.settings),
                     tokens=events)
    result = run_sync(state, deps, on_stage=events.stage if events is not None else None)
    return answer_of(result), meter.summary(), timings_of(result)


def _initial_state(user_id: str, req, session_id: str, records: list[dict[str, Any]],
                   linked: list[dict[str, Any]], history: list[dict[str, Any]], prompts: PromptStore) -> JobState:
    return JobState(
        job_id=uuid.uuid4().hex,
        user_id=user_id,
        domain=req.domain,
        question=req.prompt,
        session_id=session_id,
        model=_requested_model(req),
        chart_hint=req.chart,
        history=history,
        datasets=table_entries(records, linked),
        prompt_versions=prompts.versions(),
    )
