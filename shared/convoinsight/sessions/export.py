"""Exporting a session as a PDF: gather its turns and charts, render, audit.

The layout lives in ``convoinsight.exports.pdf`` (pure, no services); this module reads the documents,
draws each chart as a PNG at print resolution through the isolated render workers (images already drawn
are read back from the blob store), and bounds the work by the settings: turns, pages, table rows and
time. fpdf2 is imported here lazily, on the first export only (cold start of the other routes).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from convoinsight.charts import render
from convoinsight.clock import now_iso
from convoinsight.errors import BadRequest, ConvoInsightError
from convoinsight.services import Services
from convoinsight.sessions import history, store
from convoinsight.workers.pool import TaskFailed

log = logging.getLogger("convoinsight.export")
CHART_SCALE = 3  # a 400 px wide chart becomes 1200 px: about 190 dpi across a 160 mm column
MAX_TURN_NUMBER = 1000  # a selection names turns up to here (it reads that many); EXPORT_MAX_TURNS are exported


class ExportOptions(BaseModel):
    """The optional JSON body of ``POST /{id}/export``."""

    model_config = ConfigDict(extra="forbid")

    turns: list[Annotated[int, Field(ge=1, le=MAX_TURN_NUMBER)]] | None = Field(
        None, min_length=1, max_length=MAX_TURN_NUMBER,
                                    description="1-based numbers of the turns to export, in any order; "
                                                "all turns (up to EXPORT_MAX_TURNS) when absent")
    include_sql: bool = Field(False, description="print each turn's SQL in monospace")
    include_tables: bool = Field(True, description="print the first rows of each result table")


def export_session(services: Services, user_id: str, session_id: str, options: ExportOptions,
                   *, clock=time.monotonic):
    """The rendered PDF (``exports.pdf.RenderedPdf``) of one of ``user_id``'s sessions."""
    started = clock()
    settings, docs = services.settings, services.documents
    session = store.get_session(docs, user_id, session_id)
    from convoinsight.exports import pdf  # fpdf2 and the fonts: only when a PDF is made

    total = int(session.get("message_count") or 0) // 2
    chosen = _choose(docs, user_id, session_id, options.turns, settings.export_max_turns)
    deadline = started + settings.export_time_limit_seconds
    turns = [_turn(services, user_id, message, pdf, charts=clock() < deadline) for _, message in chosen]
    export = pdf.SessionExport(
        title=session.get("title") or "Untitled session", domain=session.get("domain") or "",
        session_id=session_id, created_at=session.get("created_at") or "", updated_at=session.get("updated_at") or "",
        turns=turns, total_turns=max(total, len(turns)), turn_numbers=[number for number, _ in chosen],
        datasets=_datasets(chosen, pdf), include_sql=options.include_sql, include_tables=options.include_tables,
        exported_at=now_iso(), exported_by=user_id)
    # The time the charts took counts against the same limit: the layout gets what is left.
    limits = pdf.ExportLimits(max_pages=settings.export_max_pages, max_turns=settings.export_max_turns,
                              table_rows=settings.export_table_rows,
                              time_limit_seconds=max(deadline - clock(), 0.001))
    rendered = pdf.render(export, limits, clock=clock)
    if rendered.partial is None and options.turns is None and total > len(chosen):
        # The turns were cut here, at EXPORT_MAX_TURNS (the title page says which are in): tell programs too.
        rendered = replace(rendered, partial="turn_limit")
    return rendered


def _choose(docs, user_id: str, session_id: str, wanted: list[int] | None,
            max_turns: int) -> list[tuple[int, dict[str, Any]]]:
    """(turn number, answer message) of the turns to export: the first ``max_turns``, or the ones asked for
    (at most ``max_turns`` of them). Only the messages needed are read, never the whole of a long session."""
    picked = sorted(set(wanted))[:max_turns] if wanted is not None else None
    needed = picked[-1] if picked else max_turns
    messages = docs.list(store.messages(user_id, session_id), where={"role": "assistant"}, order_by="seq",
                         limit=needed)
    numbered = list(enumerate(messages, start=1))
    if picked is None:
        return numbered
    if picked[-1] > len(messages):
        missing = next(n for n in picked if n > len(messages))
        raise BadRequest(f"this session has {len(messages)} turns; there is no turn {missing}",
                         code="bad_export_options")
    return [numbered[n - 1] for n in picked]


def _turn(services: Services, user_id: str, message: dict[str, Any], pdf, *, charts: bool):
    turn = history.turn_of(message, None)
    payload = message.get("payload") or {}
    ref = payload.get("chart") if isinstance(payload.get("chart"), dict) else None
    png, note = None, None
    if ref and charts:
        png, note = _chart_png(services, user_id, ref)
    elif ref:
        note = "The chart was left out: the export's time limit was reached."
    table = turn["table"] if isinstance(turn["table"], dict) else None
    return pdf.ExportTurn(
        question=turn["question"] or "", answer=turn["answer"] or "", created_at=turn["created_at"] or "",
        sql=turn["sql"], sql_status=turn["sql_status"],
        table=pdf.ExportTable(columns=[str(c) for c in table.get("columns") or []], rows=table.get("rows") or [],
                              row_count=int(table.get("row_count") or 0), truncated=bool(table.get("truncated")))
        if table else None,
        chart_title=(ref or {}).get("title"), chart_png=png, chart_note=note,
        insights=[str(i) for i in turn["insights"] or []], verified=turn["verified"])


def _chart_png(services: Services, user_id: str, ref: dict[str, Any]) -> tuple[bytes | None, str | None]:
    chart = services.documents.get(store.charts(user_id), str(ref.get("id") or "")) if ref.get("id") else None
    if chart is None:
        return None, "The chart of this answer was deleted."
    try:
        return render.image(services.blobs, user_id, chart, "png", CHART_SCALE, settings=services.settings), None
    except (ConvoInsightError, TaskFailed) as exc:  # one chart that cannot be drawn does not sink the export
        log.warning("export: chart %s not drawn: %s", chart.get("id"), getattr(exc, "code", type(exc).__name__))
        return None, "The chart could not be drawn."


def _datasets(chosen: list[tuple[int, dict]], pdf) -> list:
    seen: dict[tuple[str, Any], Any] = {}
    for _, message in chosen:
        for used in (message.get("payload") or {}).get("datasets") or []:
            key = (used.get("name"), used.get("version"))
            if key[0] and key not in seen:
                seen[key] = pdf.ExportDataset(name=str(key[0]), version=key[1], source=used.get("source"))
    return list(seen.values())
