"""What waking from idle costs on this machine: the same work, timed after idle gaps of 0 to 50 ms.

    .venv/bin/python bench/wake_cost.py [--rounds 200]

At concurrency 1 against a 50 ms upstream, a proxy sleeps 50 ms between the moments it works, and the proxy
benchmark shows every process's CPU per request several times its figure at an instant upstream (optmod's
and the simulator's alike). This bench separates that from any proxy: it times, on this thread's CPU clock,

- a fixed piece of pure-Python work (JSON in and out, a dict built) after sleeping for the gap, and
- one `send()` of 200 bytes over loopback TCP to a peer process that blocks in `recv()` for the gap (the kernel
  delivers the bytes and wakes the peer inside the sender's system call, as when a proxy forwards a request),

and prints each against its value with no gap. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import socket
import statistics
import time
from collections.abc import Callable

GAPS_MS = (0.0, 1.0, 5.0, 20.0, 50.0)
PAYLOAD = {"model": "m", "messages": [{"role": "user", "content": "route this request " * 12}] * 3}


def python_work() -> None:
    for _ in range(20):
        json.loads(json.dumps(PAYLOAD))
        {str(i): i for i in range(40)}


def cpu_after_gap(work: Callable[[], None], gap_s: float, rounds: int) -> float:
    """Median CPU microseconds of `work()` when it starts `gap_s` after the previous one ended."""
    samples = []
    for _ in range(rounds):
        if gap_s:
            time.sleep(gap_s)
        start = time.thread_time_ns()
        work()
        samples.append((time.thread_time_ns() - start) / 1000)
    return statistics.median(samples)


def echo_peer(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as peer:
        while data := peer.recv(4096):
            peer.sendall(data[:1])


def loopback_sender(rounds_per_gap: int) -> list[tuple[float, float]]:
    """(gap ms, median CPU us of the send) for each gap; the peer answers one byte so the two stay in step."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        peer = multiprocessing.Process(target=echo_peer, args=(server.getsockname()[1],), daemon=True)
        peer.start()
        connection, _ = server.accept()
    message = b"x" * 200
    results = []
    with connection:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for gap_ms in GAPS_MS:
            samples = []
            for _ in range(rounds_per_gap):
                if gap_ms:
                    time.sleep(gap_ms / 1000)
                start = time.thread_time_ns()
                connection.sendall(message)
                samples.append((time.thread_time_ns() - start) / 1000)
                connection.recv(1)
            results.append((gap_ms, statistics.median(samples)))
    peer.join(timeout=5)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="timed repetitions per gap")
    args = parser.parse_args()
    work = [(gap, cpu_after_gap(python_work, gap / 1000, args.rounds)) for gap in GAPS_MS]
    sends = loopback_sender(args.rounds)
    print("| idle gap before | Python work, CPU us | x no gap | loopback send(), CPU us | x no gap |")
    print("|---|---:|---:|---:|---:|")
    for (gap, python_us), (_, send_us) in zip(work, sends, strict=True):
        print(
            f"| {gap:g} ms | {python_us:.1f} | {python_us / work[0][1]:.2f} | {send_us:.1f} | {send_us / sends[0][1]:.2f} |"
        )


if __name__ == "__main__":
    main()
