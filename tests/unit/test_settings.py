from __future__ import annotations

import re
from pathlib import Path

import pytest

from convoinsight.errors import ConfigError
from convoinsight.settings import PRESETS, SETTINGS, load_settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults_are_the_local_preset():
    s = load_settings({})
    assert (s.deployment_mode, s.blob_backend, s.document_backend, s.queue_backend) == (
        "local", "local", "postgres", "inprocess")
    assert s.auth_mode == "dev" and s.cache_enabled is True and s.max_upload_bytes == 32 * 1024 * 1024


def test_cloud_preset_names_the_google_backends():
    assert PRESETS["cloud"] == ("gcs", "firestore", "cloudtasks")


def test_a_backend_setting_overrides_the_preset():
    s = load_settings({"DEPLOYMENT_MODE": "local", "BLOB_BACKEND": "gcs"})
    assert (s.blob_backend, s.document_backend) == ("gcs", "postgres")


def test_hybrid_needs_every_backend():
    with pytest.raises(ConfigError, match="hybrid"):
        load_settings({"DEPLOYMENT_MODE": "hybrid", "BLOB_BACKEND": "gcs"})


def test_dev_auth_is_refused_outside_local_mode():
    with pytest.raises(ConfigError, match="AUTH_MODE=dev"):
        load_settings({"DEPLOYMENT_MODE": "cloud"})


@pytest.mark.parametrize(("env", "named"), [
    ({}, ("DEPLOYMENT_MODE", "AUTH_MODE")),
    ({"DEPLOYMENT_MODE": "cloud"}, ("AUTH_MODE",)),
    ({"AUTH_MODE": "apikey"}, ("DEPLOYMENT_MODE",)),
    ({"DEPLOYMENT_MODE": " ", "AUTH_MODE": "apikey"}, ("DEPLOYMENT_MODE",)),  # blank is unset
    ({"DEPLOYMENT_MODE": "local", "AUTH_MODE": "dev"}, ("AUTH_MODE=dev",)),  # said out loud: still a header
])
def test_on_cloud_run_the_local_defaults_are_refused(env, named):
    # Cloud Run and Cloud Functions (gen2) set K_SERVICE; the defaults would trust X-User-Id there.
    with pytest.raises(ConfigError) as caught:
        load_settings({"K_SERVICE": "convoinsight-queries", **env})
    assert all(name in caught.value.message for name in named) and "K_SERVICE" in caught.value.message
    chosen = load_settings({"K_SERVICE": "convoinsight-queries", "DEPLOYMENT_MODE": "cloud", "AUTH_MODE": "apikey"})
    assert (chosen.deployment_mode, chosen.auth_mode) == ("cloud", "apikey")


@pytest.mark.parametrize(("raw", "hops"), [(None, 0), ("1", 1), ("2", 2)])
def test_trusted_proxy_hops_default_to_none(raw, hops):
    assert load_settings({} if raw is None else {"TRUSTED_PROXY_HOPS": raw}).trusted_proxy_hops == hops


@pytest.mark.parametrize(("name", "value"), [
    ("DEPLOYMENT_MODE", "mars"), ("CACHE_ENABLED", "maybe"), ("MAX_UPLOAD_BYTES", "lots"),
    ("MAX_UPLOAD_BYTES", "0"), ("LLM_TIMEOUT_SECONDS", "soon"), ("AUTH_MODE", "none"),
    ("TRUSTED_PROXY_HOPS", "-1"), ("TRUSTED_PROXY_HOPS", "one"),
])
def test_bad_values_name_the_setting(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value})


def test_repr_never_shows_secrets():
    s = load_settings({"LLM_API_KEY": "sk-secret-123", "POSTGRES_URL": "postgresql://app:hunter2@db:5432/x"})
    text = repr(s)
    assert "sk-secret-123" not in text and "hunter2" not in text
    assert "postgresql://app:***@db:5432/x" in text


def test_readme_documents_every_setting():
    table_names = set(re.findall(r"^\| `([A-Z_]+)` \|", README.read_text(), re.MULTILINE))
    assert {s.name for s in SETTINGS} <= table_names, {s.name for s in SETTINGS} - table_names
    assert table_names <= {s.name for s in SETTINGS}, table_names - {s.name for s in SETTINGS}


def test_settings_hash_once_and_a_pickled_copy_hashes_in_its_own_process():
    # Settings key lru caches (get_services): the hash is cached on the object, so it must stay out of a
    # pickled copy, whose process salts string hashes differently.
    import dataclasses
    import os
    import pickle
    import subprocess
    import sys

    settings = load_settings({})
    assert hash(settings) == hash(settings) == hash(load_settings({}))
    assert hash(dataclasses.replace(settings, log_level="DEBUG")) != hash(settings)
    blob = pickle.dumps(settings)
    assert "_hash" not in pickle.loads(blob).__dict__  # noqa: S301 - our own bytes
    child = ("import pickle, sys; from convoinsight.settings import load_settings; "
             "s = pickle.loads(sys.stdin.buffer.read()); fresh = load_settings({}); "
             "print(s == fresh and hash(s) == hash(fresh) and len({s: 1, fresh: 2}) == 1)")
    out = subprocess.run([sys.executable, "-c", child], input=blob, capture_output=True, timeout=60,
                         env={**os.environ, "PYTHONHASHSEED": "12345"}, check=True)
    assert out.stdout.decode().strip() == "True", out.stderr.decode()[-500:]
