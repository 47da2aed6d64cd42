"""Prompt precedence: direct (the request) > domain > user > the prompt files' defaults."""

from __future__ import annotations

import io
import json

import pytest

from tests.conftest import function_client
from tests.support.data import SALES_CSV

BY_REGION = 'SELECT "region", SUM("revenue") AS total FROM sales GROUP BY "region" ORDER BY "region"'


def script(stub) -> None:
    stub.always("router", json.dumps({"route": "data", "datasets": ["sales"], "chart": "bar", "analysis": True}))
    stub.always("orchestrator", json.dumps({"manipulator_prompt": "m", "visualizer_prompt": "v",
                                            "analyzer_prompt": "a", "compiler_instruction": "c"}))
    stub.always("manipulator", json.dumps({"sql": BY_REGION, "explanation": "e"}))
    stub.always("visualizer", json.dumps({"spec": None, "title": "t"}))
    stub.always("analyzer", json.dumps({"summary": "ok", "insights": []}))
    stub.always("compiler", json.dumps({"answer": "done", "follow_ups": ["a?", "b?"]}))


@pytest.fixture
def setup(use_stub_model, user_id):
    script(use_stub_model)
    datasets, queries, prompts = function_client("datasets"), function_client("queries"), function_client("prompts")
    h = {"X-User-Id": user_id}
    datasets.post("/shop", headers=h, data={"file": (io.BytesIO(SALES_CSV.read_bytes()), "sales.csv")})
    return use_stub_model, queries, prompts, h


def system_of(stub, agent: str) -> str:
    return stub.calls(agent)[-1]["body"]["messages"][0]["content"]


def test_each_level_overrides_the_one_below(setup):
    stub, queries, prompts, h = setup
    user = {"agents": {"analyzer": {"instructions": "USER-RULE", "temperature": 0.5},
                       "compiler": {"instructions": "USER-COMPILER"}}}
    domain = {"agents": {"analyzer": {"instructions": "DOMAIN-RULE"}}}
    assert prompts.put("/overrides", headers=h, json=user).status_code == 200
    assert prompts.put("/overrides/shop", headers=h, json=domain).status_code == 200
    assert prompts.get("/overrides/shop", headers=h).get_json()["agents"] == domain["agents"]

    first = queries.post("/", headers=h, json={"domain": "shop", "prompt": "revenue by region"})
    assert first.status_code == 200 and first.get_json()["sql_status"] == "ok", first.get_json()
    assert "DOMAIN-RULE" in system_of(stub, "analyzer") and "USER-RULE" not in system_of(stub, "analyzer")
    assert stub.calls("analyzer")[-1]["body"]["temperature"] == 0.5  # the domain did not set it: user's
    assert "USER-COMPILER" in system_of(stub, "compiler")
    assert "DOMAIN-RULE" not in system_of(stub, "router")  # other agents keep their defaults

    resp = queries.post("/", headers=h, json={"domain": "shop", "prompt": "revenue by region",
                                              "agents": {"analyzer": {"instructions": "DIRECT-RULE"}}})
    assert resp.status_code == 200, resp.get_json()
    assert "DIRECT-RULE" in system_of(stub, "analyzer") and "DOMAIN-RULE" not in system_of(stub, "analyzer")


def test_overrides_are_per_tenant(setup, user_id):
    stub, queries, prompts, h = setup
    prompts.put("/overrides", headers={"X-User-Id": f"{user_id}-other"},
                json={"agents": {"analyzer": {"instructions": "NOT-MINE"}}})
    queries.post("/", headers=h, json={"domain": "shop", "prompt": "revenue by region"})
    assert "NOT-MINE" not in system_of(stub, "analyzer")


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"agents": {"nobody": {"instructions": "x"}}}, 422, "invalid_overrides"),
    ({"agents": {"analyzer": {"temperature": 9}}}, 422, "invalid_overrides"),
    ({"agents": {"analyzer": {"system": "replace everything"}}}, 422, "invalid_overrides"),
    ({"agents": {"analyzer": {"instructions": "x" * 2001}}}, 422, "invalid_overrides"),
])
def test_bad_overrides_are_refused(setup, body, status, code):
    _, _, prompts, h = setup
    resp = prompts.put("/overrides", headers=h, json=body)
    assert resp.status_code == status and resp.get_json()["error"]["code"] == code
    assert prompts.get("/overrides", headers=h).get_json()["agents"] == {}


def test_an_override_cannot_pick_an_unknown_model(setup):
    _, queries, _, h = setup
    resp = queries.post("/", headers=h, json={"domain": "shop", "prompt": "x",
                                              "agents": {"compiler": {"model": "anthropic/claude-x"}}})
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "unknown_model"


def test_prompts_are_readable(setup):
    _, _, prompts, h = setup
    listed = prompts.get("/", headers=h).get_json()["prompts"]
    assert [p["name"] for p in listed] == ["router", "orchestrator", "manipulator", "visualizer", "analyzer",
                                           "compiler"]
    one = prompts.get("/analyzer", headers=h).get_json()
    assert one["output_schema"]["required"] == ["summary", "insights"] and "system" in one
    assert prompts.get("/nope", headers=h).status_code == 404


def cached(answer: dict) -> bool:
    """Whether the answer came from the result cache (the model-reply cache also counts in cache_hits)."""
    return list(answer["timings"]) == ["cache"]


def test_a_change_of_overrides_is_never_answered_from_the_cache_of_the_old_ones(setup):
    stub, queries, prompts, h = setup
    question = {"domain": "shop", "prompt": "revenue by region"}
    assert not cached(queries.post("/", headers=h, json=question).get_json())
    assert cached(queries.post("/", headers=h, json=question).get_json())
    assert prompts.put("/overrides", headers=h, json={"agents": {"analyzer": {"instructions": "USER-RULE"}}}) \
        .status_code == 200
    assert not cached(queries.post("/", headers=h, json=question).get_json())
    assert "USER-RULE" in system_of(stub, "analyzer")
    assert cached(queries.post("/", headers=h, json=question).get_json())
    assert prompts.put("/overrides/shop", headers=h,
                       json={"agents": {"analyzer": {"instructions": "DOMAIN-RULE"}}}).status_code == 200
    assert not cached(queries.post("/", headers=h, json=question).get_json())
    assert "DOMAIN-RULE" in system_of(stub, "analyzer")
