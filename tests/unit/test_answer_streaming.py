"""Answers that stream: the compiler's markdown as token events, on a sync response and on an async job's events.

The model is the stub OpenAI-compatible server answering ``stream: true`` with real SSE chunks, so
litellm's streaming path runs; the events are read back with a real SSE parser (sseclient-py).
"""

from __future__ import annotations

import io
import json
import time

import pytest
import sseclient
from hypothesis import given, settings
from hypothesis import strategies as st

from convoinsight.llm.client import LLMClient
from convoinsight.llm.prompts import PromptStore
from convoinsight.llm.streaming import JsonFieldReader
from convoinsight.llm.usage import UsageMeter
from convoinsight.pipeline.draft import AnswerDraft, pieces
from convoinsight.services import get_services
from convoinsight.sessions import store as sessions
from convoinsight.settings import DEFAULT_PROMPTS_DIR, get_settings, load_settings
from tests.support.stub_llm import Cut, context_of
from tests.support.token_sink import Recorder

SQL = 'SELECT "region", SUM("revenue") AS revenue FROM sales GROUP BY "region" ORDER BY "region"'
ANSWER = "**Revenue by region.** The \"North\" leads; see the table below.\n\n- one\n- two é ✓"
COMPILER = json.dumps({"answer": ANSWER, "follow_ups": ["And by month?", "Only Widgets?"]})
QUESTION = {"domain": "shop", "prompt": "total revenue by region"}


# --- the pieces: one JSON field decoded as it streams, the draft that ends on the final text ----------------

REPLIES = [
    COMPILER,
    'Here it is:\n```json\n{"follow_ups": ["a", {"answer": "nested"}], "answer": "after \\"them\\"\\n"}\n```',
    json.dumps({"answer": "emoji 😀 and \\ backslash / slash \t tab", "follow_ups": []}),
    json.dumps({"answer": "emoji 😀 and ünïcode", "follow_ups": []}, ensure_ascii=False),
    '{"answer":"",\n "follow_ups": []}',
]


@pytest.mark.parametrize("reply", REPLIES)
def test_the_answer_field_decodes_the_same_whatever_the_chunking(reply):
    want = json.loads(reply[reply.index("{"):reply.rindex("}") + 1])["answer"]
    for size in (1, 2, 3, 7, len(reply)):
        reader = JsonFieldReader("answer")
        got = "".join(reader.feed(reply[i:i + size]) for i in range(0, len(reply), size))
        assert got == want, size
        assert reader.done


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80), st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=40))
def test_any_answer_cut_anywhere_decodes_to_itself(answer, cuts):
    reply = json.dumps({"follow_ups": ["x"], "answer": answer})
    reader, out, at = JsonFieldReader("answer"), [], 0
    for step in cuts * (len(reply) // sum(cuts) + 1):
        out.append(reader.feed(reply[at:at + step]))
        at += step
    assert "".join(out) == answer


def test_a_field_that_is_not_a_string_yields_nothing():
    reader = JsonFieldReader("answer")
    assert reader.feed('{"answer": 42, "x": "answer"}') == ""


def test_the_draft_sends_the_prefix_strips_the_answer_and_ends_on_the_final_text():
    sink = Recorder()
    draft = AnswerDraft(sink, prefix="**Notice.**\n\n")
    reply = json.dumps({"answer": "  \n Hello   world.  \n", "follow_ups": []})
    for i in range(0, len(reply), 3):
        draft.write(reply[i:i + 3])
    assert sink.shown() == "**Notice.**\n\nHello   world."  # no whitespace held back at either end is sent
    draft.finish("**Notice.**\n\nHello   world.\n\n_Not verified: 9._")
    assert sink.shown() == "**Notice.**\n\nHello   world.\n\n_Not verified: 9._"
    assert sink.events[-2] == ("token", "\n\n_Not verified: 9._") and sink.events[-1] == ("flush", "")
    assert not any(kind == "reset" for kind, _ in sink.events)


def test_a_restart_after_text_resets_and_sends_the_prefix_again():
    sink = Recorder()
    draft = AnswerDraft(sink, prefix="P: ")
    draft.restart("retry")  # nothing written yet: nothing to void
    draft.write('{"answer": "first try, cut')
    draft.restart("fallback")
    assert sink.events[-2:] == [("reset", "fallback"), ("token", "P: ")]
    draft.write('{"answer": "second"}')
    draft.finish("P: second")
    assert sink.shown() == "P: second"


def test_a_final_text_that_does_not_continue_the_draft_replaces_it():
    sink = Recorder()
    draft = AnswerDraft(sink)
    draft.write('{"answer": "draft text"')
    draft.finish("Completely different")
    kinds = [kind for kind, _ in sink.events]
    assert ("reset", "revised") in sink.events and kinds.index("reset") > kinds.index("token")
    assert sink.shown() == "Completely different"


def test_an_answer_that_did_not_stream_comes_in_a_few_whole_word_pieces():
    text = "The total revenue is 12,345.67 across four regions; North leads with 4,000.00 and South follows."
    parts = pieces(text)
    assert "".join(parts) == text and 2 <= len(parts) <= 5
    assert all(p[-1].isspace() or p is parts[-1] for p in parts)
    sink = Recorder()
    AnswerDraft(sink).finish(text)
    assert sink.shown() == text and len([e for e in sink.events if e[0] == "token"]) == len(parts)


# --- the model client streams over the real litellm path ---------------------------------------------------

class Deltas:
    """The draft the LLM client drives, recording the raw deltas and restarts."""

    def __init__(self):
        self.log: list[tuple[str, str]] = []

    def restart(self, reason):
        if any(kind == "write" for kind, _ in self.log[self._since():]):
            self.log.append(("restart", reason))

    def _since(self):
        marks = [i for i, (kind, _) in enumerate(self.log) if kind == "restart"]
        return marks[-1] + 1 if marks else 0

    def write(self, delta):
        self.log.append(("write", delta))

    def last_attempt(self) -> str:
        return "".join(value for kind, value in self.log[self._since():] if kind == "write")


@pytest.fixture
def streaming_client(stub_llm, redis_server):
    import redis

    stub_llm.reset()
    client_redis = redis.Redis.from_url(redis_server.url)

    def make(**env):
        settings = load_settings({"LLM_API_BASE": stub_llm.base_url, "LLM_MODEL": "openai/stub-model",
                                  "LLM_API_KEY": "sk-test-key", **env})
        return LLMClient(settings, PromptStore(DEFAULT_PROMPTS_DIR), redis=client_redis)

    yield make, stub_llm
    for key in client_redis.scan_iter("ci:v1:breaker:*"):  # leave no breaker open for the next test
        client_redis.delete(key)
    stub_llm.reset()


def test_a_streamed_call_gives_the_same_value_and_usage_as_one_that_did_not_stream(streaming_client):
    make, stub = streaming_client
    stub.always("compiler", COMPILER)
    plain_meter, streamed_meter, draft = UsageMeter(), UsageMeter(), Deltas()
    plain = make().complete_json("compiler", {"q": 1}, model=None, meter=plain_meter)
    streamed = make().complete_json("compiler", {"q": 1}, model=None, meter=streamed_meter, draft=draft)
    assert streamed == plain == json.loads(COMPILER)
    assert streamed_meter.summary()["tokens"] == plain_meter.summary()["tokens"] == 120
    first, second = stub.calls()
    assert "stream" not in first["body"] and second["body"]["stream"] is True
    assert second["body"]["stream_options"] == {"include_usage": True}
    assert second["headers"]["X-ConvoInsight-Agent"] == "compiler"
    writes = [value for kind, value in draft.log if kind == "write"]
    assert len(writes) > 10 and "".join(writes) == COMPILER  # the stub's 6-character chunks, as they came


def test_a_stream_cut_mid_way_is_retried_and_the_draft_restarted(streaming_client):
    make, stub = streaming_client
    stub.script("compiler", Cut(COMPILER, 40), COMPILER)
    draft, meter = Deltas(), UsageMeter()
    assert make().complete_json("compiler", {"q": 2}, model=None, meter=meter, draft=draft) == json.loads(COMPILER)
    assert ("restart", "retry") in draft.log and draft.last_attempt() == COMPILER
    assert len(stub.calls("compiler")) == 2 and meter.summary()["fallbacks"] == 0


def test_a_model_that_keeps_failing_mid_stream_falls_back_with_a_restart(streaming_client):
    make, stub = streaming_client
    stub.always("compiler", Cut(COMPILER, 40))
    draft, meter = Deltas(), UsageMeter()
    out = make(LLM_MAX_RETRIES="0").complete_json("compiler", {"question": "hello", "datasets": []}, model=None,
                                                  meter=meter, draft=draft)
    assert out["answer"] and meter.summary()["fallbacks"] == 1  # the offline planner answered
    assert draft.log[-1] == ("restart", "fallback") and draft.last_attempt() == ""  # it does not stream


# --- a sync question with "stream": true --------------------------------------------------------------------

def events_of(body: bytes) -> list[tuple[str, object, str]]:
    """(event, data, id) of every event, parsed by sseclient-py."""
    return [(e.event, json.loads(e.data), e.id) for e in sseclient.SSEClient(io.BytesIO(body)).events()]


def shown(events) -> str:
    """What a client shows of the draft: the tokens since the last reset."""
    text = ""
    for name, data, _ in events:
        text = "" if name == "reset" else text + data["text"] if name == "token" else text
    return text


def script_stub(stub, compiler: str = COMPILER) -> None:
    stub.always("router", json.dumps({"route": "data", "datasets": ["sales"], "chart": "bar", "analysis": True}))
    stub.always("orchestrator", json.dumps({"manipulator_prompt": "sum it", "visualizer_prompt": "bars",
                                            "analyzer_prompt": "compare", "compiler_instruction": "brief"}))
    stub.always("manipulator", json.dumps({"sql": SQL, "explanation": "grouped"}))
    stub.always("visualizer", json.dumps({"spec": {"mark": "bar", "encoding": {
        "x": {"field": "region", "type": "nominal"}, "y": {"field": "revenue", "type": "quantitative"}}},
        "title": "Revenue"}))
    stub.always("analyzer", lambda body: json.dumps({"summary": f"{context_of(body)['rows'][0][0]} is listed first.",
                                                     "insights": ["Four regions."]}))
    stub.always("compiler", compiler)


@pytest.fixture
def streamed_shop(shop, use_stub_model):
    script_stub(use_stub_model)
    use_stub_model.stream_chunk_chars = 5
    return (*shop, use_stub_model)


SAME = ("answer", "sql", "sql_status", "table", "insights", "follow_ups", "verified", "datasets")


def test_a_streamed_sync_answer_is_progress_then_tokens_then_the_answer(streamed_shop, user_id, monkeypatch):
    queries, h, stub = streamed_shop
    monkeypatch.setenv("CACHE_ENABLED", "false")  # both questions reach the model: one plain, one streamed
    get_settings.cache_clear()
    plain = queries.post("/", headers=h, json={**QUESTION, "use_cache": False})
    resp = queries.post("/", headers=h, json={**QUESTION, "use_cache": False, "stream": True})
    assert resp.status_code == 200 and resp.mimetype == "text/event-stream"
    assert resp.headers["Cache-Control"] == "no-cache"
    events = events_of(resp.get_data())
    names = [name for name, _, _ in events]
    assert names[-2:] == ["answer", "end"] and events[-1][1] == {"status": "succeeded"}
    assert "reset" not in names and "error" not in names
    first_token = names.index("token")
    progress = [data for name, data, _ in events if name == "progress"]
    assert names[:first_token] == ["progress"] * first_token  # every stage before the compiler, then its draft
    assert progress[0]["stages_done"] == 0 and progress[0]["current_stage"] == "router"
    before = [data for name, data, _ in events[:first_token] if name == "progress"][-1]
    assert before["current_stage"] == "compiler" and before["stages_done"] == 5
    assert progress[-1]["stages_done"] == progress[-1]["stages_total"] == 6
    assert len([n for n in names if n == "token"]) > 5
    answer = events[-2][1]
    assert shown(events) == answer["answer"] == ANSWER
    # The stored answer, and the body, are those of the same question without streaming.
    body = plain.get_json()
    for key in SAME:
        assert answer[key] == body[key], key
    assert answer["chart"]["spec"] == body["chart"]["spec"] and answer["chart"]["image_url"]
    assert answer["usage"]["llm_calls"] == body["usage"]["llm_calls"] == 6
    assert answer["usage"]["tokens"] == body["usage"]["tokens"] == 6 * 120
    docs = get_services(get_settings()).documents
    streamed_turn = docs.get(sessions.messages(user_id, answer["session_id"]), answer["message_id"])
    plain_turn = docs.get(sessions.messages(user_id, body["session_id"]), body["message_id"])
    for key in SAME:
        assert streamed_turn["payload"][key] == plain_turn["payload"][key], key
    assert [c["body"].get("stream") for c in stub.calls("compiler")] == [None, True]
    assert not any(c["body"].get("stream") for c in stub.calls() if c["agent"] != "compiler")


def test_figures_that_fail_verification_end_the_draft_with_the_flagged_final_answer(streamed_shop):
    queries, h, stub = streamed_shop
    stub.always("compiler", json.dumps({"answer": "North earned 99,999.99 in total.", "follow_ups": ["a?", "b?"]}))
    events = events_of(queries.post("/", headers=h, json={**QUESTION, "stream": True}).get_data())
    answer = events[-2][1]
    assert answer["verified"] is False and "Not found in the result table, so not verified: 99,999.99" in \
        answer["answer"]
    tokens = [data["text"] for name, data, _ in events if name == "token"]
    assert "".join(tokens) == answer["answer"]
    assert tokens[-1].startswith("\n\n_Not found")  # the model's draft streamed first, the server's note last


def test_the_offline_planner_and_a_cached_answer_stream_in_a_few_tokens(shop, stub_llm):
    queries, h = shop
    stub_llm.reset()
    for round_ in ("fresh", "cached"):
        events = events_of(queries.post("/", headers=h, json={**QUESTION, "stream": True}).get_data())
        answer = events[-2][1]
        tokens = [name for name, _, _ in events if name == "token"]
        assert 1 <= len(tokens) <= 6 and shown(events) == answer["answer"], round_
        assert (answer["usage"]["cache_hits"] == 1) == (round_ == "cached")
    assert stub_llm.calls() == []
    plain = queries.post("/", headers=h, json=QUESTION).get_json()
    assert plain["answer"] == answer["answer"]


def test_questions_refused_before_they_begin_get_the_plain_json_error(shop):
    queries, h = shop
    for body, status, code in (({**QUESTION, "stream": True, "mode": "async"}, 400, "stream_sync_only"),
                               ({**QUESTION, "stream": "often"}, 422, "invalid_request"),
                               ({**QUESTION, "domain": "nowhere", "stream": True}, 404, "domain_not_found")):
        resp = queries.post("/", headers=h, json=body)
        assert resp.status_code == status and resp.mimetype == "application/json"
        assert resp.get_json()["error"]["code"] == code
        assert resp.get_json()["error"]["request_id"] == resp.headers["X-Request-Id"]


def test_a_failure_once_the_stream_began_is_an_error_event(streamed_shop, monkeypatch):
    from convoinsight.errors import UpstreamError
    from convoinsight.pipeline import runner

    queries, h, _ = streamed_shop

    def broken(state, deps):
        raise UpstreamError("no model could answer for the compiler agent")

    monkeypatch.setitem(runner.STAGE_FUNCTIONS, "compiler", broken)
    resp = queries.post("/", headers={**h, "X-Request-Id": "req-stream-1"}, json={**QUESTION, "stream": True})
    assert resp.status_code == 200
    events = events_of(resp.get_data())
    assert [name for name, _, _ in events][-2:] == ["error", "end"] and events[-1][1] == {"status": "failed"}
    assert events[-2][1] == {"error": {"code": "upstream_error", "request_id": "req-stream-1",
                                       "message": "no model could answer for the compiler agent"}}


# --- an async job: the draft through Redis, on the job's event stream ----------------------------------------

def test_an_async_jobs_events_carry_the_draft_between_the_stages_and_the_end(streamed_shop, user_id):
    queries, h, stub = streamed_shop
    stub.stream_chunk_delay = 0.02  # a model that takes its time: the draft arrives in several batches
    job = queries.post("/", headers=h, json={**QUESTION, "mode": "async"}).get_json()
    resp = queries.get(f"/{job['job_id']}/events", headers=h)
    assert resp.mimetype == "text/event-stream"
    events = events_of(resp.get_data())
    names = [name for name, _, _ in events]
    assert names[-1] == "end" and events[-1][1] == {"status": "succeeded"}
    final = events[-2]
    assert final[0] == "progress" and final[1]["status"] == "succeeded"
    first_token, last_token = names.index("token"), len(names) - 1 - names[::-1].index("token")
    assert set(names[:first_token]) == set(names[last_token + 1:-1]) == {"progress"}  # stages, draft, stages
    before = [data for name, data, _ in events[:first_token] if name == "progress"][-1]
    assert all(before["stages"][s]["status"] == "done" for s in ("router", "orchestrator", "manipulator",
                                                                  "visualizer", "analyzer"))
    tokens = [(data["text"], event_id) for name, data, event_id in events if name == "token"]
    assert len(tokens) >= 3 and "reset" not in names
    assert "".join(text for text, _ in tokens) == final[1]["result"]["answer"] == ANSWER
    ids = [tuple(map(int, event_id.split("-"))) for _, event_id in tokens]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    # The stored answer is the one the stream ended on.
    docs = get_services(get_settings()).documents
    assert docs.get(sessions.messages(user_id, job["session_id"]), f"{job['job_id']}a")["content"] == ANSWER

    # A client that reconnects with Last-Event-ID gets the progress and only the draft after that id.
    resumed = events_of(queries.get(f"/{job['job_id']}/events", headers={**h, "Last-Event-ID": tokens[1][1]})
                        .get_data())
    assert [data["text"] for name, data, _ in resumed if name == "token"] == [text for text, _ in tokens[2:]]
    assert [name for name, _, _ in resumed][-2:] == ["progress", "end"]


def test_a_redelivered_compiler_voids_the_earlier_attempts_draft(streamed_shop, monkeypatch):
    from convoinsight.errors import ServiceUnavailable
    from convoinsight.pipeline import runner

    queries, h, _ = streamed_shop
    real, attempts = runner.STAGE_FUNCTIONS["compiler"], []

    def flaky(state, deps):
        attempts.append(1)
        out = real(state, deps)  # streams its whole draft
        if len(attempts) == 1:
            raise ServiceUnavailable("the instance went away", code="gone")
        return out

    monkeypatch.setitem(runner.STAGE_FUNCTIONS, "compiler", flaky)
    job = queries.post("/", headers=h, json={**QUESTION, "mode": "async"}).get_json()
    events = events_of(queries.get(f"/{job['job_id']}/events", headers=h).get_data())
    assert attempts == [1, 1] and ("reset", {"reason": "retry"}) in [(n, d) for n, d, _ in events]
    assert shown(events) == events[-2][1]["result"]["answer"] == ANSWER


def test_without_redis_a_job_still_streams_its_progress_and_answer(streamed_shop, monkeypatch):
    queries, h, _ = streamed_shop
    monkeypatch.setenv("REDIS_URL", "")
    get_settings.cache_clear()
    get_services.cache_clear()
    job = queries.post("/", headers=h, json={**QUESTION, "mode": "async"}).get_json()
    started = time.monotonic()
    events = events_of(queries.get(f"/{job['job_id']}/events", headers=h).get_data())
    assert [n for n, _, _ in events][-2:] == ["progress", "end"] and "token" not in [n for n, _, _ in events]
    assert events[-2][1]["result"]["answer"] == ANSWER and time.monotonic() - started < 30
