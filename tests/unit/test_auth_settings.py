"""AUTH_MODE settings and the auth package's cold-start promise."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from convoinsight.errors import ConfigError
from convoinsight.settings import load_settings

REPO = Path(__file__).resolve().parents[2]


def test_firebase_project_defaults_to_the_gcp_project():
    s = load_settings({"AUTH_MODE": "firebase", "GCP_PROJECT_ID": "acme"})
    assert s.firebase_project_id == "acme"
    assert s.firebase_certs_url.endswith("/x509/securetoken@system.gserviceaccount.com")
    assert load_settings({"AUTH_MODE": "firebase", "GCP_PROJECT_ID": "acme",
                          "FIREBASE_PROJECT_ID": "acme-auth"}).firebase_project_id == "acme-auth"


def test_firebase_without_a_project_is_refused():
    with pytest.raises(ConfigError, match="FIREBASE_PROJECT_ID"):
        load_settings({"AUTH_MODE": "firebase"})


@pytest.mark.parametrize("mode", ["firebase", "apikey"])
def test_real_authentication_is_allowed_in_every_deployment_mode(mode):
    for deployment in ("local", "cloud"):
        s = load_settings({"DEPLOYMENT_MODE": deployment, "AUTH_MODE": mode, "GCP_PROJECT_ID": "acme"})
        assert s.auth_mode == mode


def test_modes_are_case_insensitive_and_unknown_ones_refused():
    assert load_settings({"AUTH_MODE": "APIKey"}).auth_mode == "apikey"
    with pytest.raises(ConfigError, match="AUTH_MODE"):
        load_settings({"AUTH_MODE": "oauth"})


PROBE = """
import json, sys
sys.path.insert(0, {folder!r})
import main
from convoinsight.web import auth
print(json.dumps(sorted(m for m in ("google.auth", "google.oauth2", "cryptography", "requests",
                                    "convoinsight.auth.firebase") if m in sys.modules)))
"""


@pytest.mark.parametrize("function", ["auth", "datasets"])
def test_verifiers_load_only_on_first_use(function):
    done = subprocess.run([sys.executable, "-c", PROBE.format(folder=str(REPO / "functions" / function))],
                          capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={"PATH": "/usr/bin:/bin", "DEPLOYMENT_MODE": "local"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
