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


@pytest.mark.parametrize(("name", "value"), [
    ("DEPLOYMENT_MODE", "mars"), ("CACHE_ENABLED", "maybe"), ("MAX_UPLOAD_BYTES", "lots"),
    ("MAX_UPLOAD_BYTES", "0"), ("LLM_TIMEOUT_SECONDS", "soon"), ("AUTH_MODE", "none"),
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
