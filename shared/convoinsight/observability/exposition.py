"""``GET /api/v1/metrics``: the cluster-wide totals in Redis as Prometheus text (served by ``health``).

The only module that imports prometheus_client (~90 ms), and only the metrics route imports it. A
custom Collector turns the totals ``observability.metrics.read`` returns into counter and histogram
families (cumulative buckets, ``_sum``, ``_count``); prometheus_client writes the text format (or
OpenMetrics, when the scraper's Accept asks for it).

Who may read it: an administrator (``identity.role == "admin"``) or a scraper sending
``Authorization: Bearer <METRICS_TOKEN>``, compared in constant time. A failed sign-in counts against
the caller's address like any other (``auth`` class).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator

from flask import Response
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.utils import floatToGoString

from convoinsight import errors
from convoinsight.observability import metrics
from convoinsight.web.app import FunctionApp, client_ip
from convoinsight.web.auth import authenticate


class AggregateCollector:
    """The metrics of ``observability.metrics.METRICS`` with the values in ``totals`` (see metrics.read)."""

    def __init__(self, totals: metrics.Totals):
        self.totals = totals

    def collect(self) -> Iterator[Metric]:
        for spec in metrics.METRICS:
            data = self.totals.get(spec.name, {})
            if spec.kind == "counter":
                family = CounterMetricFamily(spec.name, spec.help, labels=spec.labels)
                for (labels, part), value in sorted(data.items()):
                    if part == "":
                        family.add_metric(list(labels), value)
            else:
                family = HistogramMetricFamily(spec.name, spec.help, labels=spec.labels)
                for labels, parts in sorted(_by_series(data).items()):
                    family.add_metric(list(labels), _cumulative(spec.buckets, parts),
                                      sum_value=parts.get("sum", 0.0))
            yield family


def _by_series(data: dict[tuple[tuple[str, ...], str], float]) -> dict[tuple[str, ...], dict[str, float]]:
    series: dict[tuple[str, ...], dict[str, float]] = {}
    for (labels, part), value in data.items():
        series.setdefault(labels, {})[part] = value
    return series


def _cumulative(bounds: tuple[float, ...], parts: dict[str, float]) -> list[tuple[str, float]]:
    """Per-bucket counts as Prometheus buckets. A stored bound that is not one of ``bounds`` (the buckets
    changed between releases) counts in the next larger bucket, so the buckets stay monotonic."""
    stored: list[tuple[float, float]] = []
    for part, value in parts.items():
        if part in ("sum", "count", "+Inf"):
            continue
        try:
            stored.append((float(part), value))
        except ValueError:
            continue
    stored.sort()
    out, running, i = [], 0.0, 0
    for bound in bounds:
        while i < len(stored) and stored[i][0] <= bound:
            running += stored[i][1]
            i += 1
        out.append((floatToGoString(bound), running))
    out.append(("+Inf", max(parts.get("count", 0.0), running)))
    return out


def render(totals: metrics.Totals, accept: str = "") -> tuple[bytes, str]:
    """(body, content type) of ``totals`` in the format ``accept`` asks for (Prometheus text by default)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AggregateCollector(totals))
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


def _token_matches(presented: str, expected: str) -> bool:
    # Digests first: compare_digest is constant-time in the content, and equal lengths hide the token's.
    return hmac.compare_digest(hashlib.sha256(presented.encode()).digest(), hashlib.sha256(expected.encode()).digest())


def _bearer(headers) -> str | None:
    scheme, _, credential = (headers.get("Authorization") or "").strip().partition(" ")
    return credential.strip() or None if scheme.lower() == "bearer" else None


def authorize(ctx) -> None:
    """The metrics token, or an administrator's identity; otherwise 401 or 403 in the usual error shape.

    A failed sign-in counts against the caller's address (the ``auth`` limit), as on every route."""
    settings = ctx.settings
    presented = _bearer(ctx.request.headers)
    if settings.metrics_token and presented is not None and _token_matches(presented, settings.metrics_token):
        return
    try:
        identity = authenticate(ctx.request.headers, settings, ctx.services)
    except errors.Unauthenticated:
        FunctionApp._limit(ctx, f"ip:{client_ip(ctx.request, settings.trusted_proxy_hops)}", "auth", {})
        if presented is not None and settings.auth_mode == "dev":  # dev identity never rides on Authorization
            raise errors.Unauthenticated("the metrics token is not valid", code="invalid_metrics_token") from None
        raise
    ctx.identity = identity
    if identity.role != "admin":
        raise errors.Forbidden("the metrics are for administrators and the metrics token", code="admin_required")


def serve(ctx) -> Response:
    """The route's handler: 404 when disabled, then who may read, then flush this process and read Redis."""
    if not ctx.settings.metrics_enabled:
        raise errors.NotFound("metrics are disabled (METRICS_ENABLED=false)", code="metrics_disabled")
    authorize(ctx)
    client = ctx.services.redis
    metrics.flush(client, force=True)
    try:
        totals = metrics.read(client)
    except Exception as exc:  # Redis unreachable: the cluster's totals cannot be read now
        raise errors.ServiceUnavailable("the metrics store (Redis) is unreachable; try again shortly",
                                        code="metrics_unavailable") from exc
    body, content_type = render(totals, ctx.request.headers.get("Accept", ""))
    return Response(body, status=200, content_type=content_type, headers={"Cache-Control": "no-store"})
