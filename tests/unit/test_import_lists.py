"""What each function's ``main.py`` may import at cold start (issue #15).

Why: a Cloud Functions instance starts by importing ``main.py``, and every module imported then is paid by
every cold start: by the request that started the instance (and by each request a scale-out sends to a new
one), whichever route it asks for. The goal is an import of ``main.py`` that costs at most twice
``import functions_framework``. So the heavy modules (the pipeline's agents, the SQL compiler and sqlglot,
polars and pyarrow, the model client and litellm, the chart renderer, the PDF and markdown libraries, the
cloud clients, ...) load on the first use of a route that needs them: the import sits in the handler or the
service function that uses them (a type hint imports them under ``TYPE_CHECKING``), never at module level of
anything ``main.py`` imports.

How: each function is loaded in a fresh interpreter exactly as functions-framework loads it
(``create_app``: the file as module ``main``, run inside its Flask app's context), with a minimal local-mode
environment: no PostgreSQL, no Redis, no model settings, since importing must not need any of them (and
without a model, no function starts litellm's background import: web/framework.py, ``LLM_PRELOAD``). A
``sys.meta_path`` hook records which module's code imported each module; the modules loaded are then checked
against the lists below. A failure names the module and the chain of imports that brought it in: move that
import into the function that uses it.

The processes run side by side (about a second each).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted(p.parent.name for p in (REPO / "functions").glob("*/main.py"))

# Third-party modules no function imports at cold start (a name covers its submodules).
HEAVY_LIBRARIES = (
    "litellm", "openai", "tiktoken", "tokenizers", "httpx", "aiohttp",  # the model client
    "polars", "pyarrow", "duckdb", "pandas", "numpy", "fastexcel", "fsspec",  # data files and the SQL engine
    "sqlglot",  # the SQL guard and compiler
    "vl_convert",  # chart rendering (only ever in the render workers)
    "fpdf", "uharfbuzz", "markdown_it", "pypdf",  # PDF export
    "jsonschema",  # chart spec and prompt checks
    "prometheus_client",  # the metrics route only
    "mcp", "mcp_types", "starlette", "sse_starlette", "httpx2", "anyio", "uvicorn",  # the MCP SDK (mcp function,
    # about 0.6 s): loaded on its first MCP request
    "pg8000", "redis", "requests", "cryptography",  # backends and secrets: built with the services, on use
    "google.cloud.storage", "google.cloud.firestore", "google.cloud.firestore_v1", "google.cloud.tasks_v2",
    "google.api_core", "google.auth", "google.oauth2", "grpc",  # cloud clients (functions-framework's own
    # google.cloud.functions is not one of them)
)
# The project's own modules that only some routes need (a name covers its submodules).
HEAVY_MODULES = (
    "convoinsight.pipeline", "convoinsight.analysis", "convoinsight.exports",
    "convoinsight.llm.offline", "convoinsight.llm.client",
    "convoinsight.jobs.runner", "convoinsight.jobs.service", "convoinsight.jobs.cloudtasks",  # the pipeline
    "convoinsight.queries.ask", "convoinsight.queries.answers",
    "convoinsight.sql",  # sqlglot and the engine, but for TINY below
    "convoinsight.charts",  # but where CHARTS_ALLOWED says otherwise
    "convoinsight.datasets.readers", "convoinsight.datasets.formats", "convoinsight.datasets.profile",
    "convoinsight.datasets.nesting",  # polars and pyarrow
    "convoinsight.sources.pushdown", "convoinsight.sources.federate", "convoinsight.sources.federation",
    "convoinsight.sources.catalog", "convoinsight.sources.writes",  # sqlglot, pg8000
    "convoinsight.security.crypto",
    "convoinsight.observability.exposition", "convoinsight.web.openapi",
    "convoinsight.mcp.server", "convoinsight.mcp.http", "convoinsight.mcp.tools",  # the SDK, pydantic tool models
)
# Allowed everywhere: empty packages, and limits and result types without heavy imports.
TINY = ("convoinsight.sql", "convoinsight.sql.execute", "convoinsight.charts")
# The renderer loads vl-convert only in its worker processes; charts' routes declare their formats and scales
# from it, and sessions.export (the export route's body model) and sessions.cascade import it.
CHARTS_ALLOWED = ("convoinsight.charts.render", "convoinsight.charts.policy", "convoinsight.charts.view",
                  "convoinsight.charts.schema")
ALLOWED: dict[str, tuple[str, ...]] = {
    "charts": (*CHARTS_ALLOWED, "convoinsight.charts.service"),
    "sessions": CHARTS_ALLOWED,
}

PROBE = r"""
import json, sys

class Importers:
    # find_spec runs once per module, on its first import: the nearest frame outside importlib is the importer.
    seen = {}

    def find_spec(self, name, path=None, target=None):
        if name not in self.seen:
            frame = sys._getframe(1)
            while frame is not None and (frame.f_code.co_filename.startswith("<frozen importlib")
                                         or frame.f_globals.get("__name__", "").startswith("importlib")):
                frame = frame.f_back
            self.seen[name] = None if frame is None else frame.f_globals.get("__name__")
        return None

sys.meta_path.insert(0, Importers())
import functions_framework

functions_framework.create_app(sys.argv[2], sys.argv[1])  # as the framework loads main.py at start
print("\n" + json.dumps({"modules": sorted(list(sys.modules)), "importers": dict(Importers.seen)}))
"""


def _matches(module: str, names: tuple[str, ...]) -> bool:
    return any(module == name or module.startswith(name + ".") for name in names)


def forbidden(function: str, module: str) -> bool:
    if module in TINY or module in ALLOWED.get(function, ()):
        return False
    return _matches(module, HEAVY_LIBRARIES + HEAVY_MODULES)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> dict[str, dict]:
    """Every function's import, each in its own fresh interpreter, all at once."""
    state = tmp_path_factory.mktemp("import-lists")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(state), "DEPLOYMENT_MODE": "local",
           "LOCAL_STATE_DIR": str(state / "state")}

    def load(function: str) -> dict:
        done = subprocess.run([sys.executable, "-c", PROBE, str(REPO / "functions" / function / "main.py"),
                               function], capture_output=True, text=True, timeout=120, env=env, cwd=REPO)
        if done.returncode != 0:
            return {"error": done.stderr[-3000:]}
        return json.loads(done.stdout.strip().splitlines()[-1])

    with ThreadPoolExecutor(len(FUNCTIONS)) as pool:
        return dict(zip(FUNCTIONS, pool.map(load, FUNCTIONS), strict=True))


def _chain(module: str, importers: dict[str, str | None]) -> str:
    chain = [module]
    while (importer := importers.get(chain[-1])) and importer not in chain:
        chain.append(importer)
    return " <- ".join(chain)


def _groups(modules: list[str]) -> set[str]:
    return {name for name in HEAVY_LIBRARIES + HEAVY_MODULES for m in modules if _matches(m, (name,))}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_main_imports_no_heavy_module(loaded, function):
    report = loaded[function]
    if "error" in report:
        pytest.fail(f"functions/{function}/main.py did not load:\n{report['error']}", pytrace=False)
    assert "main" in report["modules"]
    importers = report["importers"]
    heavy = [m for m in report["modules"] if forbidden(function, m)]
    if not heavy:
        return
    # The first heavy module on each path (one that a module that is not heavy imported), and what came with it.
    lines = []
    for root in (m for m in heavy if not forbidden(function, importers.get(m) or "")):
        path = _chain(root, importers)
        pulled = _groups([m for m in heavy if m != root and _chain(m, importers).endswith(path)]) - _groups([root])
        lines.append(f"  {path}" + (f"\n      and with it: {', '.join(sorted(pulled))}" if pulled else ""))
    pytest.fail(f"functions/{function}/main.py imports {len(heavy)} heavy module(s) at cold start (issue #15); "
                "move the first import of each chain into the handler or function that needs it:\n"
                + "\n".join(lines), pytrace=False)


def test_the_lists_name_modules_that_exist():
    """A misspelt name would never match: every project module listed is one (third-party ones may be absent)."""
    missing = [name for name in HEAVY_MODULES + TINY + tuple(m for ms in ALLOWED.values() for m in ms)
               if importlib.util.find_spec(name) is None]
    assert not missing, missing
    assert set(ALLOWED) <= set(FUNCTIONS)
