"""Where optmod's CPU goes per request, from a py-spy profile of one load run against the simulator.

    .venv/bin/python -m bench.profile_proxy [--latency 50] [--body 0] [--seconds 30] [--router rule_based] [--top 25]

Starts the simulated provider (with the given delay) and optmod on 127.0.0.1, drives concurrency 1 from the
load generator for the given time while `py-spy record` samples optmod at 1 kHz, and prints the proxy's CPU per
request (from /proc schedstat) and, per request, the milliseconds of samples in each source line where a
sample ended (the line itself, or the library call it made). Read the lines as proportions: py-spy's sampling
slows the process a little. Needs py-spy (in the dev extra). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.proxy_ab import start_proxy, thread_cpu_s
from bench.proxy_bench.scenarios import Budget, Scenario, Upstream, run_loadgen
from bench.proxy_bench.services import start_simulator

SAMPLE_HZ = 1000


def leaf_lines(raw_profile: Path) -> collections.Counter[str]:
    """Samples per innermost frame (`function (file:line)`), from py-spy's raw format: `frame;frame;... count`."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw_profile.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        counts[stack.split(";")[-1]] += int(count)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=50.0, help="simulator delay, ms")
    parser.add_argument("--body", type=int, default=0, help="request body bytes (0: small)")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--router", default="rule_based")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="optmod-profile-") as folder:
        workdir = Path(folder)
        simulator = start_simulator(workdir, args.latency, 20)
        proxy = start_proxy(workdir / "proxy", f"{simulator.root}/v1", None, args.router)
        try:
            scenario = Scenario(Upstream(args.latency, 20), False, args.body, 1)
            run_loadgen(proxy.chat_url, scenario, Budget(200, 2.0, 1))  # warm-up, not profiled
            profile = workdir / "profile.txt"
            command = [
                str(Path(sys.executable).with_name("py-spy")),
                "record",
                "--rate",
                str(SAMPLE_HZ),
                "--duration",
                str(int(args.seconds) + 1),
            ]
            spy = subprocess.Popen(
                [*command, "--format", "raw", "--nonblocking", "--output", str(profile), "--pid", str(proxy.pid)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            before = thread_cpu_s(proxy.pid)
            load = run_loadgen(proxy.chat_url, scenario, Budget(1_000_000, args.seconds, 1))
            cpu_ms = (thread_cpu_s(proxy.pid) - before) * 1000 / max(load["sent"], 1)
            spy.wait(timeout=args.seconds + 30)
        finally:
            proxy.stop()
            simulator.stop()
        requests = max(load["sent"], 1)
        samples = leaf_lines(profile)
        per_request = 1000 / SAMPLE_HZ / requests
        print(
            f"{args.latency:g} ms upstream, {args.body} B body, c=1, {args.router}: {load['sent']} requests, CPU {cpu_ms:.3f} ms/req"
        )
        print(f"samples: {sum(samples.values()) * per_request:.3f} ms/req in all; the lines with the most:")
        for frame, count in samples.most_common(args.top):
            print(f"  {count * per_request:7.3f} ms/req  {frame}")


if __name__ == "__main__":
    main()
