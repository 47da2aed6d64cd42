from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import GENEROUS_LIMITS
from tests.support.cloud_gateway import CloudStack
from tests.support.emulator import Emulator
from tests.support.stub_llm import close_breakers

CLOUD_FUNCTIONS = ("charts", "datasets", "health", "prompts", "queries", "sessions")
# The browser tests' page, another origin than the API's. Its port goes into CORS_ORIGINS when the session
# starts, long before the page is served, so the socket stays bound and listening from here on: no other
# process of the session (an emulator, a function, Chromium's DevTools) can take the port in between.
BROWSER_PAGE_SOCKET = socket.create_server(("127.0.0.1", 0))
BROWSER_PAGE_PORT = BROWSER_PAGE_SOCKET.getsockname()[1]


@pytest.fixture(scope="session")
def emulator(postgres, redis_server, stub_llm, state_root: Path) -> Iterator[Emulator]:
    """The whole local stack once per session, its model pointed at the stub server."""
    env = {
        "DEPLOYMENT_MODE": "local",
        "POSTGRES_URL": postgres.url,
        "REDIS_URL": redis_server.url,
        "LLM_API_BASE": stub_llm.base_url,
        "LLM_MODEL": "openai/stub-model",
        "LLM_API_KEY": "sk-test-not-a-real-key",
        "LOG_LEVEL": "WARNING",
        "RATE_LIMITS": GENEROUS_LIMITS,
    }
    emu = Emulator(env, state_root / "emulator").start()
    yield emu
    emu.stop()


@pytest.fixture
def stub(stub_llm, redis_server):
    """The stub model, unscripted, with no breaker left open in the emulator by an earlier test."""
    stub_llm.reset()
    close_breakers(redis_server.url)
    yield stub_llm
    stub_llm.reset()
    close_breakers(redis_server.url)


@pytest.fixture(scope="session")
def cloud(postgres, redis_server, tmp_path_factory) -> Iterator[CloudStack]:
    """Function bundles as Cloud Functions runs them, behind the load balancer's stand-in, once per session.
    CORS admits the origin BROWSER_PAGE_PORT serves the browser tests' page from."""
    root = tmp_path_factory.mktemp("cloud")
    env = {"DEPLOYMENT_MODE": "local", "POSTGRES_URL": postgres.url, "REDIS_URL": redis_server.url,
           "LOCAL_STATE_DIR": str(root / "state"), "AUTH_MODE": "dev", "RATE_LIMITS": GENEROUS_LIMITS,
           "CORS_ORIGINS": f"http://app.example.test,http://127.0.0.1:{BROWSER_PAGE_PORT}", "LOG_LEVEL": "INFO"}
    # The bundles' own environment: this process's (its PATH, its venv) without a model or a prompts folder.
    # This process's settings are left alone; the bucket's stand-in is given the bundles' settings.
    inherited = {k: v for k, v in os.environ.items()
                 if k not in ("LLM_MODEL", "LLM_API_BASE", "LLM_API_KEY", "PROMPTS_DIR", "PUBLIC_BASE_URL")}
    stack = CloudStack(root, {**inherited, **env}, CLOUD_FUNCTIONS)
    try:
        yield stack.start()
    finally:
        stack.stop()
