"""Cold start: what a fresh instance pays before its first answer (issue #15).

- Fresh process to first answer: ``python -m functions_framework --target queries`` started with the stack's
  environment (the sample CSV uploaded beforehand, in-process); t0 just before ``Popen``, then
  ``POST /`` (offline planner, ``use_cache: false``) retried every 10 ms while the port refuses, until the first
  200. Against the hello function (bench/hello) started the same way, to its first 200, interleaved; median,
  min and max of REPEATS.
- The same with a remote model (the stub LLM, latency 0): litellm is then imported as the instance starts,
  before gunicorn's master opens the port (web/framework.py schedule_preload), and Cloud Run routes requests to
  an instance once its port accepts connections. So what a request can wait for is measured from that moment:
  ready (the first accepted TCP connection) to first answer, remote against offline; fresh process to first
  answer is reported too. Every start has its own user, so no response cache answers for the model.
- Bytecode: the package is compiled first as terraform/package.sh ships it (checked-hash .pyc), so that a fresh
  process starts as a deployed instance does (this machine sets PYTHONDONTWRITEBYTECODE).
- Memory: VmRSS of the gunicorn worker (the process serving requests) and the sum over its whole process tree
  (arbiter, worker, the SQL engine's forkserver and workers; PSS too, shared pages counted once), idle after
  ``GET /openapi.json`` (no pipeline) and after the first offline question.
- Cold import: a fresh interpreter importing functions_framework then loading a ``functions/*/main.py`` as
  functions-framework does, against a fresh interpreter importing only functions_framework; the child's whole
  wall time as the parent sees it (interpreter start is in both, as in a cold start), median of IMPORT_RUNS
  interleaved runs.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import py_compile
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.stack import local_stack

REPO = Path(__file__).resolve().parents[1]
REPEATS = 3
IMPORT_RUNS = 5
QUESTION = {"domain": "shop", "prompt": "total revenue by region", "use_cache": False}
GOAL_OFFLINE_S, GOAL_REMOTE_EXTRA_S, GOAL_IMPORT_RATIO, GOAL_RSS_MIB = 1.0, 0.5, 2.0, 150
# functions_framework._function_registry.load_function_module, then exec inside an app context as create_app does.
LOAD_MAIN = r"""
import importlib.util, os, sys
import flask, functions_framework
realpath = os.path.realpath(sys.argv[1])
directory, filename = os.path.split(realpath)
name = os.path.splitext(filename)[0]
spec = importlib.util.spec_from_file_location(name, realpath, submodule_search_locations=[directory])
module = importlib.util.module_from_spec(spec)
sys.path.append(directory)
sys.modules[name] = module
with flask.Flask(sys.argv[2]).app_context():
    spec.loader.exec_module(module)
"""


def _source(target: str) -> Path:
    return REPO / "bench" / "hello" / "main.py" if target == "hello" else REPO / "functions" / target / "main.py"


def _start(target: str, port: int, log: Path, env: dict) -> subprocess.Popen:
    with log.open("wb") as stderr:
        return subprocess.Popen([sys.executable, "-m", "functions_framework", "--target", target,
                                 "--source", str(_source(target)), "--port", str(port)],
                                env=env, stdout=subprocess.DEVNULL, stderr=stderr)


def _call(server: subprocess.Popen, port: int, method: str, path: str, user: str, body: dict | None = None) -> dict:
    """The first 200 answer, retrying every 10 ms while nothing listens; anything else than 200 is an error."""
    payload = json.dumps(body).encode() if body is not None else None
    headers = {"X-User-Id": user, "Content-Type": "application/json"}
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.request(method, path, body=payload, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected):
            if server.poll() is not None:
                raise RuntimeError(f"server exited with {server.returncode} before answering") from None
            time.sleep(0.01)
            continue
        finally:
            conn.close()
        if resp.status != 200:
            raise RuntimeError(f"{method} {path}: {resp.status} {data[:500]!r}")
        return json.loads(data)


def _stop(server: subprocess.Popen) -> None:
    server.terminate()
    server.wait(timeout=30)


def _upload(user: str) -> None:
    from tests.conftest import function_client
    from tests.support.data import SALES_CSV

    up = function_client("datasets").post("/shop", headers={"X-User-Id": user},
                                          data={"file": (io.BytesIO(SALES_CSV.read_bytes()), "sales.csv")})
    assert up.status_code == 201, up.get_json()


def _ready(server: subprocess.Popen, port: int) -> None:
    """Until the port accepts a TCP connection: when Cloud Run's startup probe passes and requests come in."""
    import socket

    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if server.poll() is not None:
                raise RuntimeError(f"server exited with {server.returncode} before listening") from None
            time.sleep(0.005)


def _first_answer(root: Path, target: str, user: str, env: dict) -> tuple[float, float]:
    """(seconds from just before Popen to the first 200, seconds from ready to that 200)."""
    from local_emulator.backing import free_port

    port = free_port()
    started = time.perf_counter()
    server = _start(target, port, root / f"{target}-{user}.log", env)
    try:
        _ready(server, port)
        ready = time.perf_counter()
        if target == "hello":
            _call(server, port, "GET", "/", user)
        else:
            body = _call(server, port, "POST", "/", user, QUESTION)
            assert body["sql_status"] == "ok", body
        answered = time.perf_counter()
    finally:
        _stop(server)
    return answered - started, answered - ready


def _stub():
    from tests.support.stub_llm import StubLLM, context_of

    stub = StubLLM().start()  # latency 0: what is left is our own cost
    stub.always("router", json.dumps({"route": "data", "datasets": ["sales"], "chart": "bar", "analysis": True}))
    stub.always("orchestrator", json.dumps({"manipulator_prompt": "m", "visualizer_prompt": "v",
                                            "analyzer_prompt": "a", "compiler_instruction": "c"}))
    stub.always("manipulator", json.dumps({"sql": 'SELECT "region", SUM("revenue") AS total FROM sales '
                                                  'GROUP BY "region"', "explanation": "e"}))
    stub.always("visualizer", json.dumps({"spec": None, "title": "t"}))
    stub.always("analyzer", lambda b: json.dumps({"summary": f"{len(context_of(b)['rows'])} regions.",
                                                  "insights": []}))
    stub.always("compiler", json.dumps({"answer": "done", "follow_ups": ["a?", "b?"]}))
    return stub


def _spread(name: str, values: list[float]) -> dict:
    return {f"{name}_s_median": round(statistics.median(values), 3), f"{name}_s_min": round(min(values), 3),
            f"{name}_s_max": round(max(values), 3)}


def first_answers(root: Path) -> dict:
    stub = _stub()
    offline_env = dict(os.environ)
    remote_env = {**offline_env, "LLM_API_BASE": stub.base_url, "LLM_MODEL": "openai/stub-model",
                  "LLM_API_KEY": "sk-bench"}
    runs: dict[str, list[float]] = {"hello": [], "offline": [], "remote": []}
    from_ready: dict[str, list[float]] = {kind: [] for kind in runs}
    try:
        for i in range(REPEATS):
            for kind in runs:
                user = f"bench-{kind}-{i}"
                if kind != "hello":
                    _upload(user)
                env = remote_env if kind == "remote" else offline_env
                calls = len(stub.calls())
                fresh, ready = _first_answer(root, "hello" if kind == "hello" else "queries", user, env)
                runs[kind].append(fresh)
                from_ready[kind].append(ready)
                assert (len(stub.calls()) > calls) == (kind == "remote"), kind  # the model answered
    finally:
        stub.stop()
    offline, ready_offline = statistics.median(runs["offline"]), statistics.median(from_ready["offline"])
    ready_remote = statistics.median(from_ready["remote"])
    result = {"first_answer_repeats": REPEATS}
    for kind in runs:
        result.update(_spread(f"first_answer_{kind}", runs[kind]))
        result.update(_spread(f"ready_to_first_answer_{kind}", from_ready[kind]))
    result.update({
        "first_answer_offline_over_hello": round(offline / statistics.median(runs["hello"]), 2),
        "goal_first_answer_offline_s": GOAL_OFFLINE_S,
        "at_goal_first_answer_offline": offline <= GOAL_OFFLINE_S,
        # litellm's import off the critical path: once ready, a remote first answer costs what an offline one does
        # (plus the stub's latency, 0) and at most GOAL_REMOTE_EXTRA_S more.
        "goal_ready_to_first_answer_remote_s": round(ready_offline + GOAL_REMOTE_EXTRA_S, 3),
        "at_goal_ready_to_first_answer_remote": ready_remote <= ready_offline + GOAL_REMOTE_EXTRA_S,
    })
    return result


def _tree(pid: int) -> list[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def _kib(pid: int, file: str, field: str) -> int:
    try:
        line = next(x for x in Path(f"/proc/{pid}/{file}").read_text().splitlines() if x.startswith(field + ":"))
    except (OSError, StopIteration):
        return 0  # the process is gone (or never had the field)
    return int(line.split()[1])


def _memory(server: subprocess.Popen, name: str) -> dict:
    tree = _tree(server.pid)
    worker = next(pid for pid in tree if pid != server.pid)  # gunicorn's one worker, the arbiter's first child
    mib = lambda kib: round(kib / 1024, 1)  # noqa: E731
    return {f"rss_mib_{name}_worker": mib(_kib(worker, "status", "VmRSS")),
            f"rss_mib_{name}_tree": mib(sum(_kib(pid, "status", "VmRSS") for pid in tree)),
            f"pss_mib_{name}_tree": mib(sum(_kib(pid, "smaps_rollup", "Pss") for pid in tree)),
            f"processes_{name}": len(tree)}


def memory(root: Path) -> dict:
    from local_emulator.backing import free_port

    user, port = "bench-memory", free_port()
    _upload(user)
    server = _start("queries", port, root / "queries-memory.log", dict(os.environ))
    try:
        _call(server, port, "GET", "/openapi.json", user)
        result = _memory(server, "idle")
        assert _call(server, port, "POST", "/", user, QUESTION)["sql_status"] == "ok"
        result.update(_memory(server, "first_question"))
    finally:
        _stop(server)
    return {**result, "goal_rss_mib_first_question_worker": GOAL_RSS_MIB,
            "at_goal_rss_first_question": result["rss_mib_first_question_worker"] <= GOAL_RSS_MIB}


def _child_seconds(code: str, *args: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *args], env=os.environ, check=True, cwd=tempfile.gettempdir(),
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def cold_imports() -> dict:
    functions = sorted(p.parent.name for p in (REPO / "functions").glob("*/main.py"))
    baseline, loaded = [], {name: [] for name in functions}
    for _ in range(IMPORT_RUNS):
        for name in functions:  # a baseline run before every function's run
            baseline.append(_child_seconds("import functions_framework"))
            loaded[name].append(_child_seconds(LOAD_MAIN, str(_source(name)), name))
    ff = statistics.median(baseline)
    ratios = {name: round(statistics.median(times) / ff, 2) for name, times in loaded.items()}
    return {"import_functions_framework_s_median": round(ff, 3), "import_runs": IMPORT_RUNS,
            **{f"import_ratio_{name}": ratio for name, ratio in ratios.items()},
            "import_ratio_max": max(ratios.values()), "import_ratio_max_function": max(ratios, key=ratios.get),
            "goal_import_ratio": GOAL_IMPORT_RATIO, "at_goal_import_ratio": max(ratios.values()) <= GOAL_IMPORT_RATIO}


def bytecode_as_shipped() -> None:
    """Compile the package as terraform/package.sh ships it (checked-hash bytecode), so that a fresh process here
    starts as a deployed instance does, even where PYTHONDONTWRITEBYTECODE keeps Python from caching it."""
    import compileall

    compileall.compile_dir(str(REPO / "shared" / "convoinsight"), quiet=1, workers=0,
                           invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)


def run() -> dict:
    bytecode_as_shipped()
    with local_stack() as root:
        return {**first_answers(root), **memory(root), **cold_imports()}
