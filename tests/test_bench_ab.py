"""The before/after tool's parts that need no server: a revision's package extracted, and thread CPU read."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.proxy_ab import extract_revision, thread_cpu_s


def test_a_revision_is_extracted_as_an_importable_package(tmp_path: Path) -> None:
    extract_revision("HEAD", tmp_path)
    assert (tmp_path / "optmod" / "__init__.py").is_file()
    assert (tmp_path / "optmod" / "proxy.py").read_text().startswith('"""')


def test_thread_cpu_grows_with_work_and_not_with_sleep() -> None:
    start = thread_cpu_s(os.getpid())
    deadline = time.perf_counter() + 0.05
    while time.perf_counter() < deadline:
        pass
    busy = thread_cpu_s(os.getpid())
    time.sleep(0.05)
    idle = thread_cpu_s(os.getpid())
    assert busy - start > 0.005  # part of 50 ms of spinning, however busy the machine is
    assert idle - busy < busy - start
