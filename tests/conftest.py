"""Fixtures by cost: servers once per session, cheap state per test, environment restored after each test."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from convoinsight.settings import SETTINGS
from local_emulator.backing import PostgresServer, RedisServer
from tests.support import network_guard
from tests.support.stub_llm import StubLLM, close_breakers

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
REPO = Path(__file__).resolve().parents[1]
GENEROUS_LIMITS = ",".join(f"{item.split('=')[0]}=100000/hour" for item in next(
    s.default for s in SETTINGS if s.name == "RATE_LIMITS").split(","))  # every class there is


def pytest_configure(config) -> None:
    """Loopback only, for the whole session: a connect anywhere else raises (tests/support/network_guard.py)."""
    network_guard.install()


@pytest.fixture(autouse=True)
def network_attempts() -> list[tuple[str, int]]:
    """The connects of this test only (``network_guard.attempts``, cleared before each test)."""
    network_guard.clear()
    return network_guard.attempts


@pytest.fixture(scope="session")
def state_root() -> Iterator[Path]:
    # Not pytest's tmp_path: its folders are 0700 and the postgres user must traverse this one.
    root = Path(tempfile.mkdtemp(prefix="convoinsight-tests-"))
    os.chmod(root, 0o755)  # noqa: S103 - the postgres server user must traverse it
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres(state_root: Path) -> Iterator[PostgresServer]:
    server = PostgresServer(state_root / "postgres", durable=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def customer_db(state_root: Path):
    """The customer's own PostgreSQL (password sign-in, TLS, a ``shop`` database): tests/support/customer_db.py."""
    from tests.support.customer_db import CustomerDatabase

    server = CustomerDatabase(state_root / "customer-db").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(state_root: Path) -> Iterator[RedisServer]:
    server = RedisServer(state_root / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stub_llm() -> Iterator[StubLLM]:
    stub = StubLLM().start()
    yield stub
    stub.stop()


@pytest.fixture(scope="session")
def sql_engine():
    """The SQL engine's worker pool as the service builds it (default settings), shared by the session."""
    from convoinsight.settings import load_settings
    from convoinsight.sql.execute import engine_pool

    pool = engine_pool(load_settings({}))
    yield pool
    pool.close()


@pytest.fixture(autouse=True)
def isolate_environment() -> Iterator[None]:
    """Every test gets back the environment it started with, and fresh settings."""
    from convoinsight.services import get_services
    from convoinsight.settings import get_settings

    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()
    get_services.cache_clear()


@pytest.fixture
def local_env(postgres: PostgresServer, redis_server: RedisServer, tmp_path: Path, stub_llm: StubLLM) -> dict:
    """Environment of a local-mode deployment backed by the session's servers and the stub model."""
    stub_llm.reset()
    env = {
        "DEPLOYMENT_MODE": "local",
        "POSTGRES_URL": postgres.url,
        "REDIS_URL": redis_server.url,
        "LOCAL_STATE_DIR": str(tmp_path / "state"),
        "AUTH_MODE": "dev",
        # The session shares one Redis: generous limits keep unrelated tests from throttling each other;
        # the rate-limit tests set their own.
        "RATE_LIMITS": GENEROUS_LIMITS,
    }
    for name in ("LLM_MODEL", "LLM_API_BASE", "LLM_API_KEY", "CORS_ORIGINS", "MAX_UPLOAD_BYTES", "PUBLIC_BASE_URL"):
        os.environ.pop(name, None)
    os.environ.update(env)
    from convoinsight.services import get_services
    from convoinsight.settings import get_settings

    get_settings.cache_clear()
    get_services.cache_clear()
    return env


@pytest.fixture
def use_stub_model(local_env: dict, stub_llm: StubLLM) -> StubLLM:
    """Point every agent at the stub OpenAI-compatible server, with no circuit breaker left open by an
    earlier test."""
    os.environ.update({"LLM_API_BASE": stub_llm.base_url, "LLM_MODEL": "openai/stub-model",
                       "LLM_API_KEY": "sk-test-not-a-real-key"})
    from convoinsight.settings import get_settings

    get_settings.cache_clear()
    close_breakers(local_env["REDIS_URL"])
    return stub_llm


@pytest.fixture
def user_id() -> str:
    """A fresh tenant per test: tests never see each other's data."""
    return f"user-{uuid.uuid4().hex[:12]}"


def function_client(name: str):
    """A function served exactly as Cloud Functions serves it, in-process."""
    import functions_framework

    return functions_framework.create_app(name, str(REPO / "functions" / name / "main.py")).test_client()


@pytest.fixture
def datasets_client(local_env: dict):
    return function_client("datasets")


@pytest.fixture
def queries_client(local_env: dict):
    return function_client("queries")


@pytest.fixture
def health_client(local_env: dict):
    return function_client("health")


# Google Cloud emulators for the cloud-mode stores, started once per session on free ports and only when a test
# asks for them. They deliberately do NOT export FIRESTORE_EMULATOR_HOST / STORAGE_EMULATOR_HOST: a session-wide
# variable would leak into every later test (isolate_environment restores the environment each test started
# with), so whether a local-mode test saw it would depend on test order. The function-scoped fixtures that build
# clients set the variable with monkeypatch for their test only (see tests/contract/conftest.py).
@pytest.fixture(scope="session")
def firestore_emulator():
    from tests.support.gcp_emulators import FirestoreEmulator

    emulator = FirestoreEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def gcs_emulator():
    from tests.support.gcp_emulators import GcsEmulator

    emulator = GcsEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture
def cloud_env(local_env: dict, firestore_emulator, gcs_emulator, tmp_path: Path) -> dict:
    """The cloud code path (GCS + Firestore, against their emulators) with the session's Redis and stub model.

    DEPLOYMENT_MODE stays local (dev auth is allowed only there) while the two backend settings pick the
    cloud stores: exactly the code that runs in the cloud, behind the identity tests can send.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "signer.json"
    key_file.write_text(json.dumps({
        "type": "service_account", "client_email": "signer@convoinsight-test.iam.gserviceaccount.com",
        "private_key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode(),
        "project_id": "convoinsight-test", "token_uri": "https://oauth2.googleapis.com/token",
    }))
    env = {
        "BLOB_BACKEND": "gcs",
        "DOCUMENT_BACKEND": "firestore",
        "GCP_PROJECT_ID": "convoinsight-test",
        "GCS_BUCKET": gcs_emulator.create_bucket(f"test-{uuid.uuid4().hex[:16]}"),
        "GCS_SIGNING_KEY_FILE": str(key_file),
        "FIRESTORE_EMULATOR_HOST": firestore_emulator.host,
        "STORAGE_EMULATOR_HOST": gcs_emulator.host,
    }
    os.environ.update(env)
    from convoinsight.services import get_services
    from convoinsight.settings import get_settings

    get_settings.cache_clear()
    get_services.cache_clear()
    return {**local_env, **env}


@pytest.fixture(scope="session")
def tasks_emulator():
    """gcloud-tasks-emulator on a free port (a subprocess group), with few retries so failed tasks stop quickly."""
    from tests.support.tasks_emulator import TasksEmulator

    emulator = TasksEmulator(max_retries=3).start()
    yield emulator
    emulator.stop()
