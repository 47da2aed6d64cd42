"""Signed upload URLs of the GCS store, against gcp-storage-emulator.

The emulator accepts a PUT to a signed URL but checks neither the signature nor
the expiry, so these tests check the signature themselves: they rebuild the V4
canonical request independently and verify it with the signer's public key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from convoinsight.storage.gcs_blobs import GcsBlobStore
from tests.contract.conftest import GCP_PROJECT

SIGNER = "uploads-signer@convoinsight-test.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def private_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def signing_credentials(private_key):
    """A throwaway service-account key, given only to generate_signed_url (never to the storage client)."""
    from google.oauth2 import service_account

    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    return service_account.Credentials.from_service_account_info({
        "type": "service_account", "client_email": SIGNER, "private_key": pem, "project_id": GCP_PROJECT,
        "token_uri": "https://oauth2.googleapis.com/token",
    })


@pytest.fixture
def store(gcs_bucket, gcs_emulator, signing_credentials):
    store = GcsBlobStore(gcs_bucket, project=GCP_PROJECT, signing_credentials=signing_credentials,
                         api_access_endpoint=gcs_emulator.host)
    yield store
    store.close()


def verify_v4(url: str, public_key, content_type: str) -> dict[str, str]:
    """Check a V4 signed PUT URL as GCS does (for the headers the client will send); return its parameters."""
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    signature = bytes.fromhex(params.pop("X-Goog-Signature"))
    canonical_query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(params.items()))
    sent = {"content-type": content_type, "host": parts.netloc}
    signed = params["X-Goog-SignedHeaders"]
    canonical_headers = "".join(f"{name}:{sent[name]}\n" for name in signed.split(";"))
    canonical_request = "\n".join(["PUT", parts.path, canonical_query, canonical_headers, signed, "UNSIGNED-PAYLOAD"])
    scope = params["X-Goog-Credential"].split("/", 1)[1]
    string_to_sign = "\n".join(["GOOG4-RSA-SHA256", params["X-Goog-Date"], scope,
                                hashlib.sha256(canonical_request.encode()).hexdigest()])
    public_key.verify(signature, string_to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())
    return params


def test_a_client_without_credentials_can_put_the_file(store, gcs_emulator, gcs_bucket, tenant):
    path = f"{tenant}/incoming/u1/ventes été 2024.csv"
    signed = store.signed_upload_url(path, "text/csv", 600)
    assert signed["method"] == "PUT" and signed["headers"] == {"Content-Type": "text/csv"}
    response = requests.put(signed["url"], data="a,b\n1,€\n".encode(), headers=signed["headers"], timeout=10)
    assert response.status_code == 200, response.text
    assert store.get(path) == "a,b\n1,€\n".encode()
    assert gcs_emulator.client().bucket(gcs_bucket).get_blob(path).content_type == "text/csv"


def test_the_url_is_v4_signed_over_method_path_content_type_and_host(store, private_key, tenant):
    path = f"{tenant}/incoming/u1/data.parquet"
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    signed = store.signed_upload_url(path, "application/vnd.apache.parquet", 900)
    params = verify_v4(signed["url"], private_key.public_key(), "application/vnd.apache.parquet")
    assert params["X-Goog-Algorithm"] == "GOOG4-RSA-SHA256"
    assert params["X-Goog-Credential"].startswith(f"{SIGNER}/")
    assert params["X-Goog-SignedHeaders"] == "content-type;host"
    assert urlsplit(signed["url"]).path == f"/{store.bucket_name}/{quote(path)}"
    # A client sending another content type (or to another path) no longer matches the signature.
    with pytest.raises(InvalidSignature):
        verify_v4(signed["url"], private_key.public_key(), "text/html")
    with pytest.raises(InvalidSignature):
        verify_v4(signed["url"].replace("data.parquet", "other.parquet"), private_key.public_key(),
                  "application/vnd.apache.parquet")
    # The reported expiry is the URL's own: signing time plus the lifetime, in ISO-8601 UTC.
    assert params["X-Goog-Expires"] == "900"
    signed_at = dt.datetime.strptime(params["X-Goog-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    expires_at = dt.datetime.fromisoformat(signed["expires_at"].replace("Z", "+00:00"))
    assert signed["expires_at"].endswith("Z") and expires_at.tzinfo is not None
    assert before <= signed_at <= before + dt.timedelta(seconds=5)
    assert abs((expires_at - (signed_at + dt.timedelta(seconds=900))).total_seconds()) <= 1


@pytest.mark.parametrize("seconds", [0, -5, 7 * 24 * 3600 + 1])
def test_lifetimes_outside_what_v4_allows_are_refused(store, tenant, seconds):
    with pytest.raises(ValueError):
        store.signed_upload_url(f"{tenant}/x.csv", "text/csv", seconds)


@pytest.mark.parametrize("path", ["../escape", "/abs", "a//b", ""])
def test_unsafe_paths_are_refused(store, path):
    with pytest.raises(ValueError):
        store.signed_upload_url(path, "text/csv", 60)


def test_on_cloud_functions_the_url_is_signed_through_iam(gcs_bucket, gcs_emulator, private_key, monkeypatch, tenant):
    """No private key there: the default credentials are refreshed and IAM signBlob signs with them.

    There is no IAM emulator, so these are the only fakes: google.auth.default
    (metadata-server credentials) and the signBlob call, which here signs with
    the test key exactly as IAM signs with the service account's key.
    """
    import google.auth
    from google.cloud.storage import _signing

    class MetadataCredentials:  # like compute_engine.Credentials: the email is known after refresh
        def __init__(self):
            self.service_account_email, self.token, self.valid, self.refreshes = "default", None, False, 0

        def refresh(self, request):
            self.service_account_email, self.token, self.valid = SIGNER, f"ya29.token-{self.refreshes}", True
            self.refreshes += 1

    creds, sign_calls = MetadataCredentials(), []

    def iam_sign_blob(message, access_token, service_account_email, universe_domain="googleapis.com"):
        sign_calls.append((access_token, service_account_email))
        signature = private_key.sign(message.encode() if isinstance(message, str) else message,
                                     padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(signature).decode()

    monkeypatch.setattr(google.auth, "default", lambda scopes=None, **kw: (creds, GCP_PROJECT))
    monkeypatch.setattr(_signing, "_sign_message", iam_sign_blob)
    store = GcsBlobStore(gcs_bucket, project=GCP_PROJECT, api_access_endpoint=gcs_emulator.host)
    try:
        first = store.signed_upload_url(f"{tenant}/a.csv", "text/csv", 300)
        second = store.signed_upload_url(f"{tenant}/b.csv", "text/csv", 300)
    finally:
        store.close()
    assert creds.refreshes == 1  # the token is reused while valid
    assert sign_calls == [("ya29.token-0", SIGNER)] * 2
    params = verify_v4(first["url"], private_key.public_key(), "text/csv")
    assert params["X-Goog-Credential"].startswith(f"{SIGNER}/")
    assert requests.put(second["url"], data=b"x,y\n", headers=second["headers"], timeout=10).status_code == 200
    assert gcs_emulator.client().bucket(gcs_bucket).blob(f"{tenant}/b.csv").download_as_bytes() == b"x,y\n"


def test_a_signed_download_url_serves_the_object_to_a_client_without_credentials(store, private_key, tenant):
    path = f"{tenant}/charts/c1.png"
    store.put(path, b"\x89PNG-bytes", "image/png")
    signed = store.signed_download_url(path, 300, filename="chart-c1.png")
    assert set(signed) == {"url", "expires_at"} and signed["expires_at"].endswith("Z")
    response = requests.get(signed["url"], timeout=10)
    assert response.status_code == 200 and response.content == b"\x89PNG-bytes"
    # Checked as GCS checks it: a GET over the host header alone, naming the download, for at most 300 s.
    parts = urlsplit(signed["url"])
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    signature = bytes.fromhex(params.pop("X-Goog-Signature"))
    assert params["X-Goog-SignedHeaders"] == "host" and params["X-Goog-Expires"] == "300"
    assert params["response-content-disposition"] == 'inline; filename="chart-c1.png"'
    canonical_query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(params.items()))
    canonical_request = "\n".join(["GET", parts.path, canonical_query, f"host:{parts.netloc}\n", "host",
                                   "UNSIGNED-PAYLOAD"])
    scope = params["X-Goog-Credential"].split("/", 1)[1]
    string_to_sign = "\n".join(["GOOG4-RSA-SHA256", params["X-Goog-Date"], scope,
                                hashlib.sha256(canonical_request.encode()).hexdigest()])
    private_key.public_key().verify(signature, string_to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(ValueError):
        store.signed_download_url(path, 10**7)
