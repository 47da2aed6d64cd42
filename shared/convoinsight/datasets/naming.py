"""Names that become storage paths and SQL identifiers, validated or normalised."""

from __future__ import annotations

import re
import unicodedata

from convoinsight.errors import BadRequest

DOMAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


# The original API's routes that the datasets function serves as static paths beside ``/{domain}``
# (api/datasets.py, gateway.EXTRA_ROUTES): a domain of that name would be shadowed by them. Refused whatever the
# case, so that no two domains differ from a route only by case. (``/domain/{d}/datasets`` shadows nothing: a
# domain named "domain" keeps ``/domain/{name}``; only an upload id "datasets", never a real one, would be hidden.)
RESERVED_DOMAINS = frozenset({"upload-datasets", "list-domains"})


def check_domain(domain: str) -> str:
    if not DOMAIN.match(domain or ""):
        raise BadRequest("a domain name is 1-64 letters, digits, _ or -, starting with a letter or digit",
                         code="invalid_domain")
    if domain.lower() in RESERVED_DOMAINS:
        raise BadRequest(f"{domain!r} is reserved: it is a route of the original API; choose another domain name",
                         code="reserved_domain")
    return domain


# A dataset's name is its SQL table name: reserved words would force quoting in every question's SQL.
RESERVED = frozenset("""
    all alter and any as asc between by case cast create cross current_date current_time current_timestamp
    current_user delete desc distinct drop else end except exists false fetch for from full group having ilike
    in inner insert intersect into is join lateral left like limit natural not null offset on or order outer
    qualify right select session_user set some table then true union update user using values when where
    window with
""".split())


def check_dataset_name(name: str) -> str:
    """An explicit dataset name: it is the SQL table name, so it must already be a plain identifier."""
    lowered = (name or "").strip().lower()
    if not IDENTIFIER.match(lowered):
        raise BadRequest("a dataset name is 1-63 lower-case letters, digits or _, not starting with a digit",
                         code="invalid_dataset_name")
    if lowered in RESERVED:
        raise BadRequest(f"{lowered!r} is a reserved SQL word; choose another dataset name",
                         code="invalid_dataset_name")
    return lowered


def table_name(stem: str) -> str:
    """A table name derived from a file name: an identifier, never a reserved word."""
    ident = to_identifier(stem, fallback="dataset")
    return f"{ident}_data" if ident in RESERVED else ident


def to_identifier(text: str, fallback: str = "column") -> str:
    """Normalise any label to a SQL-safe identifier: ``"Order Date (UTC)"`` -> ``order_date_utc``."""
    ascii_text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    ident = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    if not ident:
        ident = fallback
    if ident[0].isdigit():
        ident = f"{fallback}_{ident}"
    return ident[:63]


def unique_identifiers(labels: list[str]) -> list[str]:
    """Identifiers for a header row, made unique with numeric suffixes (``amount``, ``amount_2``)."""
    seen: set[str] = set()
    result = []
    for label in labels:
        base = to_identifier(label)
        ident, n = base, 2
        while ident in seen:
            suffix = f"_{n}"
            ident = base[: 63 - len(suffix)] + suffix
            n += 1
        seen.add(ident)
        result.append(ident)
    return result
