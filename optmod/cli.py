"""The `optmod` command: serve the proxy, run the simulated providers, train and evaluate routers."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from optmod.config import DEFAULT_CONFIG_PATH, Config, ConfigError, load_config

logger = logging.getLogger("optmod")


class BindRefusedError(RuntimeError):
    """A non-loopback bind without an admin token: anyone on the network could flip the switches."""


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


def _serve(args: argparse.Namespace) -> int:
    import uvicorn
    from dotenv import load_dotenv

    from optmod.main import AppSettings, QuietServer, create_app

    load_dotenv(Path.cwd() / ".env")
    config_path = Path(args.config)
    config = load_config(config_path)
    host = args.host or config.server.host
    port = args.port or config.server.port
    check_bind(host, config, os.environ)
    demo = args.demo
    absent = missing_keys(config, os.environ)
    if not demo and absent and len(absent) == len({m.api_key_env for m in config.models if m.api_key_env}):
        logger.warning(
            "no provider API key is set (%s): starting the demo against simulated providers", ", ".join(absent)
        )
        demo = True
    elif absent and not demo:
        logger.warning("models needing %s will fail until those keys are set", ", ".join(absent))
    app = create_app(AppSettings(config_path=config_path, demo=demo))
    print(
        f"optmod listening on http://{host}:{port}/v1 (dashboard: http://{host}:{port}/ui)"
        + (" [demo: simulated providers]" if demo else ""),
        flush=True,
    )
    server_config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=args.log_level,
        access_log=False,
        loop="uvloop",
        http="httptools",
        # Nothing in optmod reads the client's address, so X-Forwarded-* headers are not worth parsing.
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )
    QuietServer(server_config).run()
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from optmod.simulator.command import main as simulator_main

    forwarded = ["--host", args.host, "--port", str(args.port)]
    if args.latency_ms:
        forwarded += ["--latency-ms", str(args.latency_ms)]
    if args.chunks:
        forwarded += ["--chunks", str(args.chunks)]
    if args.sim_config:
        forwarded += ["--config", args.sim_config]
    return simulator_main(forwarded)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optmod", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the routing proxy")
    serve.add_argument("--config", default=str(DEFAULT_CONFIG_PATH), help="config file (default: config.yaml)")
    serve.add_argument("--host", help="bind address (default: server.host from the config, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: server.port from the config, 8765)")
    serve.add_argument("--demo", action="store_true", help="answer from the built-in simulated providers")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(run=_serve)
    simulate = commands.add_parser("simulate", help="run the simulated OpenAI-compatible providers")
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--port", type=int, default=9100)
    simulate.add_argument("--latency-ms", type=float, default=0.0)
    simulate.add_argument("--chunks", type=int, default=0)
    simulate.add_argument("--config", dest="sim_config", help="simulate this config's pool")
    simulate.set_defaults(run=_simulate)
    _register_training(commands)
    return parser


def _register_training(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from optmod.training.commands import register

    register(commands)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except (ConfigError, BindRefusedError) as exc:
        print(f"optmod: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
