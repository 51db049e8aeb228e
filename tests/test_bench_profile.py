"""The profile bench's reading of py-spy's raw output: samples are counted where each stack ends."""

from __future__ import annotations

from pathlib import Path

from bench.profile_proxy import leaf_lines


def test_samples_count_at_the_innermost_frame(tmp_path: Path) -> None:
    raw = tmp_path / "profile.txt"
    raw.write_text(
        "main (cli.py:10);handle (proxy.py:20);send (client.py:73) 5\n"
        "main (cli.py:10);handle (proxy.py:20) 2\n"
        "main (cli.py:10);other (log.py:141);send (client.py:73) 3\n"
    )
    counts = leaf_lines(raw)
    assert counts == {"send (client.py:73)": 8, "handle (proxy.py:20)": 2}
