"""Per-request cost of perf_router's prompt-shape features (`optmod.routing.prompt_shape.prompt_shape`).

    .venv/bin/python bench/prompt_shape_bench.py [--data ../shared/data]

Times one call on a short question, a 2 KB prompt and a 32 KB one (only its 2 KB window is read), best of five
rounds, and with `--data` the mean over a sample of the data sets' own prompts. Prints microseconds; asserts
nothing.
"""

from __future__ import annotations

import argparse
import gzip
import json
import timeit
from pathlib import Path

from optmod.routing.prompt_shape import prompt_shape

PARAGRAPH = (
    "A train leaves the station at 9:15 and travels 84 km at 60 km/h; a second one leaves 20 minutes later at "
    "75 km/h. When does the second train catch up? Then write `def catch_up(d, v1, v2):` returning the time. "
)
CALLS = 2000
ROUNDS = 5


def best_microseconds(text: str) -> float:
    return min(timeit.repeat(lambda: prompt_shape(text), number=CALLS, repeat=ROUNDS)) / CALLS * 1e6


def data_prompts(folder: Path, every: int) -> list[str]:
    prompts = []
    for path in sorted(folder.glob("*/prompts.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            prompts += [json.loads(line)["prompt"] for i, line in enumerate(lines) if i % every == 0]
    return prompts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="a folder of data sets in the canonical format")
    args = parser.parse_args()
    long_text = PARAGRAPH * (32768 // len(PARAGRAPH) + 1)
    print("| prompt | us per call |")
    print("|---|---|")
    for name, text in (("16 chars", "What is 12 + 30?"), ("2 KB", long_text[:2048]), ("32 KB", long_text[:32768])):
        print(f"| {name} | {best_microseconds(text):.1f} |")
    if args.data is not None:
        sample = data_prompts(args.data, every=50)
        if sample:
            seconds = min(timeit.repeat(lambda: [prompt_shape(p) for p in sample], number=3, repeat=ROUNDS)) / 3
            mean_chars = sum(map(len, sample)) / len(sample)
            print(
                f"| {len(sample)} data-set prompts, mean {mean_chars:.0f} chars | {seconds / len(sample) * 1e6:.1f} |"
            )


if __name__ == "__main__":
    main()
