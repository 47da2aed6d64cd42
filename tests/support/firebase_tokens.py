"""A stand-in for Firebase's token service: RSA keys, x509 certificates served over HTTP, and minted ID tokens.

Tokens are assembled by hand (not with a JWT library) so that a test can produce
exactly the broken ones an attacker would send: ``alg: none``, a tampered
payload, a signature from another key under a known ``kid``...
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

PROJECT = "convoinsight-test"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


class SigningKey:
    """An RSA key and the self-signed certificate Google would publish for it."""

    def __init__(self, kid: str):
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securetoken.system.gserviceaccount.com")])
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.private.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=2)).sign(self.private, hashes.SHA256()))
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message, padding.PKCS1v15(), hashes.SHA256())


class TokenMinter:
    """Mints Firebase-shaped ID tokens for ``project`` with ``key`` (or any other key / header)."""

    def __init__(self, key: SigningKey, project: str = PROJECT):
        self.key, self.project = key, project

    def claims(self, uid: str, /, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {"iss": f"https://securetoken.google.com/{self.project}", "aud": self.project, "auth_time": now - 5,
                  "user_id": uid, "sub": uid, "iat": now - 5, "exp": now + 3600,
                  "firebase": {"identities": {}, "sign_in_provider": "password"}}
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, uid: str, /, *, key: SigningKey | None = None, header: dict | None = None, **claims: Any) -> str:
        signer = key or self.key
        head = header if header is not None else {"alg": "RS256", "kid": signer.kid, "typ": "JWT"}
        signed = f"{b64json(head)}.{b64json(self.claims(uid, **claims))}"
        return f"{signed}.{b64(signer.sign(signed.encode()))}"


class CertServer:
    """Serves ``{kid: PEM}`` on a free port, like Google's x509 endpoint; counts fetches per path.

    ``/certs`` is cacheable for an hour, ``/certs-nocache`` says max-age=0, and ``/broken`` answers 500.
    """

    def __init__(self, keys: list[SigningKey]):
        self.certs = {k.kid: k.cert_pem for k in keys}
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                with server._lock:
                    server.hits[self.path] = server.hits.get(self.path, 0) + 1
                if self.path == "/broken":
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps(server.certs).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                max_age = 0 if self.path == "/certs-nocache" else 3600
                self.send_header("Cache-Control", f"public, max-age={max_age}, must-revalidate, no-transform")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str = "/certs") -> str:
        return self.base_url + path

    def start(self) -> CertServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
