"""A second, real PostgreSQL server playing the customer's database, for the PostgreSQL sources tests.

Unlike the service's own server (``local_emulator.backing.PostgresServer``, trust auth) it looks like a
database a customer would connect: password sign-in only (scram-sha-256, the superuser included), TLS
with a certificate from a throwaway CA (``ca_pem``) for ``db.customer.test``, ``localhost`` and
127.0.0.1, plaintext still accepted, a ``shop`` database with a ``crm`` schema of related tables and a
read-only and a read-write role. Statistics are gathered (ANALYZE), so row estimates and ``pg_stats``
are filled like on a live server.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import secrets
import shutil
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import pg8000.native
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from local_emulator.backing import PostgresServer, free_port

SERVER_NAMES = ("db.customer.test", "localhost")

PG_HBA = """\
# Password sign-in for everyone over TCP, TLS or not (a `host` line matches both). No Unix socket.
host  all  all  127.0.0.1/32  scram-sha-256
host  all  all  ::1/128       scram-sha-256
"""

SCHEMA = """
CREATE SCHEMA crm;
CREATE TABLE public.countries (code char(2) PRIMARY KEY, name text NOT NULL UNIQUE);
INSERT INTO public.countries VALUES ('DE', 'Germany'), ('FR', 'France'), ('US', 'United States'),
    ('JP', 'Japan'), ('BR', 'Brazil'), ('IN', 'India');
CREATE TABLE crm.customers (
    id integer PRIMARY KEY,
    name text NOT NULL,
    country char(2) NOT NULL REFERENCES public.countries(code),
    segment text,
    created_at timestamptz NOT NULL
);
CREATE TABLE crm.products (
    id integer PRIMARY KEY,
    name text NOT NULL UNIQUE,
    category text NOT NULL,
    price numeric(10,2) NOT NULL
);
CREATE TABLE crm.orders (
    id integer PRIMARY KEY,
    customer_id integer NOT NULL CONSTRAINT orders_customer_fk REFERENCES crm.customers(id),
    ordered_at date NOT NULL,
    status text NOT NULL
);
CREATE TABLE crm.order_items (
    order_id integer NOT NULL CONSTRAINT order_items_order_fk REFERENCES crm.orders(id),
    product_id integer NOT NULL CONSTRAINT order_items_product_fk REFERENCES crm.products(id),
    quantity integer NOT NULL,
    PRIMARY KEY (order_id, product_id)
);
CREATE TABLE crm."CamelTable" (
    id integer PRIMARY KEY,
    "MixedCase" text,
    "Created At" timestamptz
);

-- Deterministic data: modular arithmetic over generate_series, no random().
INSERT INTO crm.customers
SELECT i, 'Customer ' || lpad(i::text, 3, '0'),
       (ARRAY['DE', 'FR', 'US', 'US', 'JP', 'BR', 'IN', 'US'])[1 + i % 8],
       CASE WHEN i % 10 = 0 THEN NULL ELSE (ARRAY['consumer', 'smb', 'enterprise'])[1 + i % 3] END,
       timestamptz '2023-01-01 00:00:00+00' + i * interval '1 day 7 hours 13 minutes'
FROM generate_series(1, 200) AS i;

INSERT INTO crm.products
SELECT i, 'Product ' || lpad(i::text, 2, '0'),
       (ARRAY['books', 'games', 'garden', 'kitchen', 'toys'])[1 + i % 5],
       round((5 + (i * 137) % 9500 / 100.0)::numeric, 2)
FROM generate_series(1, 50) AS i;

INSERT INTO crm.orders
SELECT i, 1 + (i * 37) % 200, date '2023-01-01' + (i * 7) % 540,
       (ARRAY['paid', 'paid', 'paid', 'shipped', 'shipped', 'cancelled', 'refunded'])[1 + i % 7]
FROM generate_series(1, 3000) AS i;

-- 1 to 6 items per order (avg 2.75); 13 * k mod 50 is distinct for k <= 6, so (order, product) is unique.
INSERT INTO crm.order_items
SELECT o, 1 + (o * 7 + k * 13) % 50, 1 + (o + k) % 4
FROM generate_series(1, 3000) AS o, generate_series(1, 6) AS k
WHERE k <= 1 + (o % 3) + (o % 4 = 0)::int * 3;

INSERT INTO crm."CamelTable"
SELECT i, CASE WHEN i % 4 = 0 THEN NULL ELSE 'Value ' || i END,
       timestamptz '2024-03-01 12:00:00+00' + i * interval '1 hour'
FROM generate_series(1, 20) AS i;

CREATE VIEW crm.order_totals AS
SELECT o.id AS order_id, o.customer_id, o.ordered_at, o.status,
       sum(oi.quantity * p.price)::numeric(12,2) AS total, sum(oi.quantity) AS items
FROM crm.orders o
JOIN crm.order_items oi ON oi.order_id = o.id
JOIN crm.products p ON p.id = oi.product_id
GROUP BY o.id, o.customer_id, o.ordered_at, o.status;

CREATE MATERIALIZED VIEW crm.customers_per_country AS
SELECT country, count(*) AS customers FROM crm.customers GROUP BY country;
"""

# {reader} / {writer} are fixed role names, not user text.
ROLES = """
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE TEMPORARY ON DATABASE shop FROM PUBLIC;
GRANT CONNECT ON DATABASE shop TO reader, writer;
GRANT TEMPORARY ON DATABASE shop TO writer;
GRANT USAGE ON SCHEMA crm, public TO reader, writer;
GRANT SELECT ON ALL TABLES IN SCHEMA crm, public TO reader, writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA crm GRANT SELECT ON TABLES TO reader;
ALTER DEFAULT PRIVILEGES FOR ROLE writer IN SCHEMA crm GRANT SELECT ON TABLES TO reader;
GRANT CREATE ON SCHEMA crm TO writer;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA crm TO writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA crm GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO writer;
"""

BIG_TABLE = """
CREATE TABLE crm.events (
    id bigint NOT NULL,
    customer_id integer NOT NULL,
    kind text NOT NULL,
    amount numeric(12,2),
    at timestamptz NOT NULL
);
INSERT INTO crm.events
SELECT i, 1 + (i * 7919) % 200, (ARRAY['view', 'view', 'view', 'click', 'click', 'cart', 'purchase'])[1 + i % 7],
       CASE WHEN i % 7 = 6 THEN ((i * 7) % 50000) / 100.0 END,
       timestamptz '2024-01-01 00:00:00+00' + i * interval '17 seconds'
FROM generate_series(1, CAST(:rows AS bigint)) AS i;
ALTER TABLE crm.events ADD PRIMARY KEY (id);
"""


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_tls_material() -> tuple[str, str, str]:
    """(CA certificate PEM, server certificate PEM, server key PEM), EC P-256, valid for 30 days."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_subject = _name("ConvoInsight test customer CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (x509.CertificateBuilder().subject_name(ca_subject).issuer_name(ca_subject)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(ca_ski, critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName(n) for n in SERVER_NAMES] + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (x509.CertificateBuilder().subject_name(_name(SERVER_NAMES[0])).issuer_name(ca_subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return (ca.public_bytes(pem).decode(), cert.public_bytes(pem).decode(),
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode())


class CustomerDatabase:
    """The customer's PostgreSQL server on 127.0.0.1, started with ``start()``, data created once."""

    host = "127.0.0.1"
    database = "shop"
    tls = True
    admin_user = "postgres"
    schema = "crm"

    def __init__(self, root: Path, port: int | None = None):
        self.root = Path(root).resolve()
        self.server = PostgresServer(self.root / "data", port or free_port(), durable=False)
        self.server.database = self.database
        self.port = self.server.port
        self.server_names = (*SERVER_NAMES, self.host)
        self._big_lock = threading.Lock()
        self.startup_seconds: float | None = None
        credentials = self.root / "credentials.json"
        if credentials.exists():  # the same folder again: reuse what its server was set up with
            saved = json.loads(credentials.read_text())
        else:
            ca_pem, cert_pem, key_pem = make_tls_material()
            saved = {"admin": secrets.token_urlsafe(18), "reader": secrets.token_urlsafe(18),
                     "writer": secrets.token_urlsafe(18), "ca_pem": ca_pem, "cert_pem": cert_pem, "key_pem": key_pem}
        self._saved = saved
        self.admin_password: str = saved["admin"]
        self.reader_password: str = saved["reader"]
        self.writer_password: str = saved["writer"]
        self.ca_pem: str = saved["ca_pem"]
        self.server_cert_pem: str = saved["cert_pem"]

    # -- lifecycle -------------------------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.server.data_dir

    @property
    def ca_file(self) -> Path:
        return self.root / "ca.pem"

    def start(self) -> CustomerDatabase:
        """Start the server; the first start also creates the cluster, TLS files, roles and data."""
        began = time.monotonic()
        fresh = not (self.data_dir / "PG_VERSION").exists()
        if fresh:
            self._init_cluster()
        self._pg_ctl_start()
        if fresh:
            self._create_shop()
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Fast shutdown: connections drop and new ones are refused until ``start()``."""
        self.server.stop()

    def is_running(self) -> bool:
        return self.server._run("pg_ctl", "-D", str(self.data_dir), "status").returncode == 0

    def _init_cluster(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)  # noqa: S103 - the postgres server user must traverse it
        (self.root / "credentials.json").write_text(json.dumps(self._saved))
        os.chmod(self.root / "credentials.json", 0o600)
        self.ca_file.write_text(self.ca_pem)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pwfile = self.root / "admin.pw"
        pwfile.write_text(self.admin_password + "\n")
        os.chmod(pwfile, 0o600)
        if os.geteuid() == 0:
            for path in (self.data_dir, pwfile):
                shutil.chown(path, "postgres", "postgres")
            os.chmod(self.data_dir, 0o700)
        try:
            done = self.server._run("initdb", "-D", str(self.data_dir), "-U", self.admin_user, "-E", "UTF8",
                                    "--auth=scram-sha-256", f"--pwfile={pwfile}", "--no-instructions",
                                    "--locale=C")
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr.strip()}")
        (self.data_dir / "pg_hba.conf").write_text(PG_HBA)
        for name, text in (("server.crt", self.server_cert_pem), ("server.key", self._saved["key_pem"])):
            path = self.data_dir / name
            path.write_text(text)
            os.chmod(path, 0o600)
            if os.geteuid() == 0:
                shutil.chown(path, "postgres", "postgres")
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# customer database for the tests\nssl = on\nssl_cert_file = 'server.crt'\n"
                       "ssl_key_file = 'server.key'\npassword_encryption = 'scram-sha-256'\n"
                       "wal_level = minimal\nmax_wal_senders = 0\n")
        if os.geteuid() == 0:
            for name in ("pg_hba.conf", "postgresql.conf"):
                shutil.chown(self.data_dir / name, "postgres", "postgres")

    def _pg_ctl_start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        log = self.data_dir / "server.log"
        done = self.server._run("pg_ctl", "-D", str(self.data_dir), "-o", options, "-l", str(log), "-w",
                                "-t", "60", "start")
        if done.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"customer PostgreSQL did not start: {done.stderr.strip()} {tail}")

    def _create_shop(self) -> None:
        conn = self.admin_connect("postgres")
        try:
            conn.run(f"CREATE ROLE reader LOGIN PASSWORD '{self.reader_password}'")  # token_urlsafe: no quotes
            conn.run(f"CREATE ROLE writer LOGIN PASSWORD '{self.writer_password}'")
            conn.run("CREATE DATABASE shop")
        finally:
            conn.close()
        self.admin_run(SCHEMA + ROLES + "\nANALYZE;")

    # -- connecting ------------------------------------------------------------------------------------------
    def ssl_context(self, *, check_hostname: bool = True) -> ssl.SSLContext:
        """A client context trusting only the throwaway CA (hostname checked unless told otherwise)."""
        context = ssl.create_default_context(cadata=self.ca_pem)
        context.check_hostname = check_hostname
        return context

    def connect(self, user: str = "reader", password: str | None = None, *, database: str | None = None,
                ssl_context: ssl.SSLContext | bool | None = False, server_hostname: str | None = None,
                **kwargs: Any) -> pg8000.native.Connection:
        """A pg8000 connection as ``reader``, ``writer`` or ``postgres`` (plaintext unless ``ssl_context``).

        ``server_hostname`` (e.g. ``db.customer.test``) is the name TLS verifies while the socket still goes
        to 127.0.0.1: pg8000 checks the certificate against ``host`` even when handed a ready socket.
        """
        if password is None:
            password = self.password_of(user)
        timeout = kwargs.pop("timeout", 10)
        host = self.host
        if server_hostname is not None:
            kwargs["sock"] = socket.create_connection((self.host, self.port), timeout=timeout)
            host = server_hostname
        return pg8000.native.Connection(user=user, password=password, host=host, port=self.port,
                                        database=database or self.database, ssl_context=ssl_context,
                                        timeout=timeout, **kwargs)

    def password_of(self, user: str) -> str:
        return {"reader": self.reader_password, "writer": self.writer_password,
                self.admin_user: self.admin_password}[user]

    def admin_connect(self, database: str | None = None, **kwargs: Any) -> pg8000.native.Connection:
        return self.connect(self.admin_user, database=database, **kwargs)

    def admin_run(self, sql: str, database: str | None = None, **params: Any) -> list[list[Any]] | None:
        """Run SQL as the superuser (a script of several statements when no parameters are given)."""
        conn = self.admin_connect(database)
        try:
            # Without parameters pg8000 uses the simple query protocol, which runs a script of many statements.
            return conn.run(sql, **params)
        finally:
            conn.close()

    def params(self, user: str = "reader", **overrides: Any) -> dict[str, Any]:
        """Connection settings as a client would type them in (host, port, database, user, password)."""
        password = self.password_of(user)
        return {"host": self.host, "port": self.port, "database": self.database, "user": user,
                "password": password, **overrides}

    # -- benchmarks ------------------------------------------------------------------------------------------
    def ensure_big_table(self, rows: int = 1_000_000) -> str:
        """Create crm.events with ``rows`` rows (once: again with the same size is a no-op); returns its name."""
        with self._big_lock:
            conn = self.admin_connect()
            try:
                conn.run("SELECT pg_advisory_lock(4242)")
                found = conn.run("SELECT obj_description(to_regclass('crm.events'), 'pg_class')")
                if found and found[0][0] == f"rows={rows}":
                    return "crm.events"
                conn.run("BEGIN")
                conn.run("DROP TABLE IF EXISTS crm.events")
                for statement in (s.strip() for s in BIG_TABLE.split(";")):
                    if statement:
                        conn.run(statement, **({"rows": rows} if ":rows" in statement else {}))
                conn.run(f"COMMENT ON TABLE crm.events IS 'rows={int(rows)}'")
                conn.run("COMMIT")
                conn.run("ANALYZE crm.events")
                return "crm.events"
            finally:
                conn.close()
