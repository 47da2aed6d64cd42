"""Run the local emulator (`python -m local_emulator`, what `make dev` runs) as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from local_emulator.backing import free_port

REPO = Path(__file__).resolve().parents[2]


class Emulator:
    def __init__(self, env: dict[str, str], state_dir: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/api/v1"
        self.log_path = state_dir / "emulator.log"
        self.env = {**os.environ, **env, "PORT": str(self.port), "LOCAL_STATE_DIR": str(state_dir),
                    "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> Emulator:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "local_emulator"], cwd=REPO, env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"emulator exited: {self.log_path.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.base}/health/ready", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"emulator not ready in {timeout}s: {self.log_path.read_text()[-3000:]}")

    def stop(self) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.returncode if self.proc else None

    def url(self, function: str, path: str = "/") -> str:
        return f"{self.base}/{function}{path}"
