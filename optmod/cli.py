"""The `optmod` command: serve the proxy, run the simulated providers, train and evaluate routers.

An ordinary mistake (a bad config, a busy port, a log folder that cannot be made, a missing data file, an unknown
name, an extra not installed) ends in one line, `optmod: error: <what and how to fix it>`, and exit code 2;
anything else keeps its traceback.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import logging
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from optmod.config import DEFAULT_CONFIG_PATH, Config, ConfigError, load_config

if TYPE_CHECKING:
    import uvicorn
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("optmod")

DESCRIPTION = "optmod: serve the routing proxy, run the simulated providers, train and evaluate routers."
LOG_LEVELS = ("debug", "info", "warning", "error")
SIMULATOR_PORT = 9100
SIMULATOR_SEED = 0


class BindRefusedError(RuntimeError):
    """A non-loopback bind without an admin token: anyone on the network could flip the switches."""


class ListenError(RuntimeError):
    """The proxy's address cannot be bound: the port is taken or privileged, or the host is not this machine's."""


class StartupError(RuntimeError):
    """The proxy failed to start in an ordinary way: a file it writes (log, pin store) cannot be opened."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, config: Config, environ: Mapping[str, str]) -> None:
    if not is_loopback(host) and not environ.get(config.server.admin_token_env):
        raise BindRefusedError(
            f"refusing to listen on {host} without an admin token: set {config.server.admin_token_env} "
            "(or bind 127.0.0.1)"
        )


def missing_keys(config: Config, environ: Mapping[str, str]) -> list[str]:
    needed = sorted({m.api_key_env for m in config.models if m.api_key_env})
    return [name for name in needed if not environ.get(name)]


def choose_demo(asked: bool, config: Config, environ: Mapping[str, str]) -> bool:
    """Demo mode when asked, or when not one provider key is set (a first run then shows something)."""
    absent = missing_keys(config, environ)
    if asked:
        return True
    if absent and len(absent) == len({m.api_key_env for m in config.models if m.api_key_env}):
        logger.warning(
            "no provider API key is set (%s): starting the demo against simulated providers", ", ".join(absent)
        )
        return True
    if absent:
        logger.warning("models needing %s will fail until those keys are set", ", ".join(absent))
    return False


def bind_listener(host: str, port: int) -> socket.socket:
    """The proxy's socket, bound before anything is built or announced, so a taken port is one clear error."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    # As uvicorn does: a restart may bind while the previous run's connections sit in TIME_WAIT.
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise listen_error(host, port, exc) from None
    return listener


def listen_error(host: str, port: int, exc: OSError) -> ListenError:
    if exc.errno == errno.EADDRINUSE:
        return ListenError(f"port {port} on {host} is already in use (another optmod?); choose another with --port")
    return ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


def listening_line(host: str, port: int, demo: bool) -> str:
    root = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    return f"optmod listening on {root}/v1 (dashboard: {root}/ui)" + (" [demo: simulated providers]" if demo else "")


class StartupGuard:
    """The app, whose start-up failing in an ordinary way becomes a `StartupError` instead of a logged traceback.

    uvicorn logs the traceback the app's lifespan sends with `lifespan.startup.failed`, then calls sys.exit(3).
    For an ordinary failure the guard sends that message without the traceback, keeps the exception for
    `announcing_server` to raise, and silences uvicorn's own "startup failed" line, which would only repeat it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.failure: Exception | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold_failure(message: Message) -> None:
            # Starlette sends the failure just before it raises: whether to show the traceback waits for the raise.
            if message["type"] == "lifespan.startup.failed":
                held.append(message)
            else:
                await send(message)

        try:
            await self.app(scope, receive, hold_failure)
        except ordinary_startup_errors() as exc:
            self.failure = exc
            await send({**held[0], "message": ""} if held else {"type": "lifespan.startup.failed", "message": ""})
            raise
        except BaseException:
            for message in held:
                await send(message)
            raise

    def filter(self, record: logging.LogRecord) -> bool:
        return self.failure is None or record.levelno < logging.ERROR


def ordinary_startup_errors() -> tuple[type[Exception], ...]:
    """What a start-up raises for a mistake in the setup rather than a bug: a file it cannot open, a bad setting."""
    from optmod.pin_stores.base import PinStoreError

    return (OSError, ConfigError, PinStoreError)


def startup_error(exc: Exception) -> StartupError:
    if isinstance(exc, OSError) and exc.filename is not None:
        return StartupError(f"the proxy cannot start: {exc.strerror}: {exc.filename}")
    return StartupError(f"the proxy cannot start: {exc}")


def announcing_server(config: uvicorn.Config, guard: StartupGuard, line: str) -> uvicorn.Server:
    """A QuietServer that prints `line` once it accepts connections, not before, and raises a `StartupError`
    when the app (wrapped in `guard`) fails to start in an ordinary way."""
    from optmod.main import QuietServer

    class AnnouncingServer(QuietServer):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            uvicorn_log = logging.getLogger("uvicorn.error")
            uvicorn_log.addFilter(guard)
            try:
                await super().startup(sockets)
            except SystemExit:
                if guard.failure is None:
                    raise
                raise startup_error(guard.failure) from guard.failure
            finally:
                uvicorn_log.removeFilter(guard)
            print(line, flush=True)

    return AnnouncingServer(config)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn
    from dotenv import load_dotenv

    from optmod.main import LOOPBACK_NAMES, AppSettings, create_app

    load_dotenv(Path.cwd() / ".env")
    config_path = Path(args.config)
    config = load_config(config_path)
    host = args.host or config.server.host
    port = args.port if args.port is not None else config.server.port
    check_bind(host, config, os.environ)
    # Bound before the demo is chosen: a busy port is the only thing said, not after a line about keys.
    listener = bind_listener(host, port)
    try:
        demo = choose_demo(args.demo, config, os.environ)
        # Bound beyond loopback the proxy has other names (its address, a DNS name), and the admin token guards it.
        hosts = LOOPBACK_NAMES if is_loopback(host) else None
        guard = StartupGuard(create_app(AppSettings(config_path=config_path, demo=demo, allowed_hosts=hosts)))
        server_config = uvicorn.Config(
            guard,
            log_level=args.log_level,
            access_log=False,
            loop="uvloop",
            http="httptools",
            # Nothing in optmod reads the client's address, so X-Forwarded-* headers are not worth parsing.
            proxy_headers=False,
            timeout_graceful_shutdown=10,
        )
        line = listening_line(host, listener.getsockname()[1], demo)
        announcing_server(server_config, guard, line).run([listener])
    finally:
        listener.close()
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from optmod.simulator.command import simulate

    try:
        simulate(args)
    except OSError as exc:
        raise listen_error(args.host, args.port, exc) from None
    return 0


SERVE_DESCRIPTION = """\
Run the routing proxy: an OpenAI-compatible API at /v1 and a dashboard at /ui. Provider API keys are read
from the environment and from a .env file in the current folder. When none of the configured models' keys
is set, the proxy starts in demo mode on its own (simulated providers, no --demo needed); when only some are,
it warns and the models without a key fail."""

SIMULATE_DESCRIPTION = """\
Run simulated OpenAI-compatible providers, for demos and benchmarks. Without --config they answer any model
name; with it, each model of that config's pool, with its own pacing and answer lengths."""


def _add_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser("serve", help="run the routing proxy", description=SERVE_DESCRIPTION)
    serve.add_argument("--config", default=str(DEFAULT_CONFIG_PATH), help="config file (default: %(default)s)")
    serve.add_argument("--host", help="bind address (default: server.host from the config, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: server.port from the config, 8765)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="answer from the built-in simulated providers (chosen on its own when no provider key is set)",
    )
    serve.add_argument(
        "--log-level", default="info", choices=LOG_LEVELS, help="uvicorn's log level (default: %(default)s)"
    )
    serve.set_defaults(run=_serve)


def _add_simulate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    simulate = commands.add_parser(
        "simulate", help="run the simulated OpenAI-compatible providers", description=SIMULATE_DESCRIPTION
    )
    add_simulator_options(simulate)
    simulate.set_defaults(run=_simulate)


def chunk_count(text: str) -> int:
    count = int(text)
    if count < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {text}")
    return count


def add_simulator_options(parser: argparse.ArgumentParser) -> None:
    """The simulator's options, the same for `optmod simulate` and `python -m optmod.simulator`."""
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: %(default)s)")
    parser.add_argument("--port", type=int, default=SIMULATOR_PORT, help="port (default: %(default)s)")
    parser.add_argument(
        "--latency-ms",
        type=float,
        help="fixed delay before every answer and first chunk (default: each simulated model's own pacing)",
    )
    parser.add_argument(
        "--chunks",
        type=chunk_count,
        help="every answer is this many one-token stream chunks (default: each model's own)",
    )
    parser.add_argument(
        "--seed", type=int, default=SIMULATOR_SEED, help="same seed, same requests: same answers (default: %(default)s)"
    )
    parser.add_argument(
        "--latency-scale", type=float, default=1.0, help="multiplies every delay (default: %(default)s)"
    )
    parser.add_argument(
        "--config", type=Path, help="simulate this config's pool (default: one model answering any name)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optmod", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True)
    _add_serve(commands)
    _add_simulate(commands)
    _register_training(commands)
    return parser


def _register_training(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from optmod.training.commands import register

    register(commands)


def main(argv: Sequence[str] | None = None) -> int:
    from optmod.training.commands import CommandError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except (ConfigError, BindRefusedError, ListenError, StartupError, CommandError) as exc:
        print(f"optmod: error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
