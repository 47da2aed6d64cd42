from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import GENEROUS_LIMITS
from tests.support.emulator import Emulator


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
def stub(stub_llm):
    stub_llm.reset()
    yield stub_llm
    stub_llm.reset()
