"""The processes under test: the simulated upstream, optmod, and the LiteLLM proxy in its own virtualenv.

Each runs as a child process bound to 127.0.0.1 on a free port; `ProcessProbe` reads its CPU time and RSS
from /proc, so the figures are the server's alone (the load generator is a process of its own).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_LITELLM_VENV = REPO_ROOT / ".cache" / "litellm-venv"
LITELLM_MASTER_KEY = "sk-optmod-bench-master-key"
START_TIMEOUT_S = 60.0
LITELLM_START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 10.0
# Models of the bench pool, one per tier, all served by the one simulator.
POOL = (("sim-fast", 0, 0.1, 0.4), ("sim-mid", 1, 0.5, 2.0), ("sim-big", 2, 3.0, 15.0))


class ServiceError(RuntimeError):
    """A process under test did not start, or died."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class ProcessSample:
    cpu_s: float
    rss_bytes: int


def sample_process(pid: int) -> ProcessSample:
    """CPU seconds (user + system, all threads) and resident memory of a live process."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of /proc/PID/stat (utime, stime); fields[0] here is field 3.
    cpu_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss_pages = int(fields[21])
    return ProcessSample(cpu_s, rss_pages * os.sysconf("SC_PAGE_SIZE"))


@dataclass
class Service:
    """One child process serving HTTP on 127.0.0.1:port."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def chat_url(self) -> str:
        return f"{self.root}/v1/chat/completions"

    def sample(self) -> ProcessSample:
        if self.process.poll() is not None:
            raise ServiceError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
        return sample_process(self.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def spawn(name: str, argv: list[str], workdir: Path, env: dict[str, str] | None = None) -> tuple[Any, Path]:
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir, env=env
        )
    return process, log_path


def wait_ready(service: Service, path: str, timeout_s: float, headers: dict[str, str] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            tail = service.log_path.read_text(errors="replace")[-2000:]
            raise ServiceError(f"{service.name} exited with {service.process.returncode}:\n{tail}")
        try:
            request = urllib.request.Request(service.root + path, headers=headers or {})
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    service.stop()
    raise ServiceError(f"{service.name} did not answer {path} within {timeout_s:.0f} s; see {service.log_path}")


def get_json(url: str, headers: dict[str, str] | None = None) -> Any:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as response:
        return json.loads(response.read())


def start_simulator(workdir: Path, latency_ms: float, chunks: int) -> Service:
    port = free_port()
    argv = [sys.executable, "-m", "optmod.simulator", "--port", str(port), "--latency-ms", str(latency_ms)]
    argv += ["--chunks", str(chunks)]
    name = f"simulator-{latency_ms:g}ms-{chunks}"
    process, log_path = spawn(name, argv, workdir)
    service = Service(name, process, port, log_path)
    wait_ready(service, "/v1/models", START_TIMEOUT_S)
    return service


def optmod_config(upstream: str, router: str) -> dict[str, Any]:
    """A pool of three simulated models; pins are kept but never hard, so the router decides every request."""
    models = [
        {
            "name": name,
            "tier": tier,
            "base_url": upstream,
            "input_usd_per_mtok": price_in,
            "output_usd_per_mtok": price_out,
            "cached_input_usd_per_mtok": price_in / 10,
            "context_window": 128_000,
            "supports_thinking": tier > 0,
        }
        for name, tier, price_in, price_out in POOL
    ]
    return {
        "router": router,
        "primary_model": "sim-mid",
        "mutators": ["thinking_mode"],
        "session_store": {"kind": "memory"},
        "session_pin_hard_window_s": 0,
        "log_path": "routing.log.jsonl",
        "models": models,
    }


def start_optmod(workdir: Path, upstream: str, router: str) -> Service:
    folder = workdir / f"optmod-{router}"
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(optmod_config(upstream, router), sort_keys=False))
    port = free_port()
    argv = [sys.executable, "-m", "optmod.cli", "serve", "--config", str(config_path), "--port", str(port)]
    argv += ["--log-level", "warning"]
    env = {k: v for k, v in os.environ.items() if k != "OPTMOD_ADMIN_TOKEN"}
    process, log_path = spawn(f"optmod-{router}", argv, folder, env)
    service = Service(f"optmod-{router}", process, port, log_path)
    wait_ready(service, "/optmod/status", START_TIMEOUT_S)
    return service


def ensure_litellm_venv(venv: Path) -> Path:
    """The LiteLLM proxy's own virtualenv (made and filled from PyPI when missing); returns its `litellm`."""
    executable = venv / "bin" / "litellm"
    if executable.exists():
        return executable
    print(f"bench: creating {venv} and installing litellm[proxy] (one-off, a few minutes)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "litellm[proxy]"], check=True)
    return executable


def litellm_version(venv: Path) -> str:
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or "unknown"


def start_litellm(workdir: Path, upstream: str, venv: Path) -> Service:
    executable = ensure_litellm_venv(venv)
    folder = workdir / "litellm"
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "model_list": [
            {
                "model_name": "bench-model",
                "litellm_params": {"model": "openai/bench-model", "api_base": upstream, "api_key": "sk-simulated"},
            }
        ],
        "general_settings": {"master_key": LITELLM_MASTER_KEY},
        "litellm_settings": {"telemetry": False, "set_verbose": False},
    }
    config_path = folder / "litellm.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    argv = [str(executable), "--config", str(config_path), "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--num_workers", "1"]
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_MASTER_KEY": LITELLM_MASTER_KEY,
        "LITELLM_LOG": "ERROR",
        "NO_DOCS": "True",
    }
    env.pop("DATABASE_URL", None)
    process, log_path = spawn("litellm", argv, folder, env)
    service = Service("litellm", process, port, log_path)
    wait_ready(service, "/health/liveliness", LITELLM_START_TIMEOUT_S)
    return service
