"""Re-create the tool-output corpus in tests/corpus/tool_outputs/ by running real commands on this machine.

Nothing in the corpus is written by hand: every sample is the combined stdout+stderr of one command, stored
with the command, the folder it ran in and its exit code in `index.json`. The subjects are real: the optmod
repository itself, sdists downloaded from PyPI (more-itertools, jq with its bundled C sources) into which real
bugs are introduced with sed, npm packages, site-packages, /usr/share and /var/log of this machine, and small
Rust / Go / TypeScript / JavaScript projects whose sources this script writes and then builds and tests.

Run: .venv/bin/python bench/capture_tool_outputs.py [--work /tmp/optmod-corpus]
Needs network access to PyPI and npm, and tree, ripgrep, golang-go, cargo, node/npm, gcc, make installed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "corpus" / "tool_outputs"
VENV_BIN = REPO / ".venv" / "bin"
SITE = REPO / ".venv" / "lib" / "python3.11" / "site-packages"
# Keep every sample well below this; a bigger one means the command's scope was chosen badly.
MAX_SAMPLE_BYTES = 260_000


@dataclass(frozen=True, slots=True)
class Sample:
    """One captured command: where its output goes, which filter should take it, and how it was run."""

    name: str
    family: str
    filter: str
    command: str
    cwd: str
    note: str = ""
    setup: str = ""  # a command run (not captured) just before, in the same folder


def run(command: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{VENV_BIN}:{Path.home() / '.cargo' / 'bin'}:{os.environ['PATH']}"}
    env.update({"NO_COLOR": "1", "TERM": "dumb", "CARGO_TERM_COLOR": "never", "GIT_PAGER": "cat", "LANG": "C.UTF-8"})
    done = subprocess.run(
        command, shell=True, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"setup step failed ({done.returncode}): {command}\n{done.stdout[-2000:]}")
    return done


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def prepare_more_itertools(work: Path) -> Path:
    """A git repository of the more-itertools sdist, then three real bugs and a new module, uncommitted."""
    run("pip download --no-binary :all: --no-deps more-itertools==11.2.1 -d dl", work)
    run("tar --no-same-owner -xzf dl/more_itertools-11.2.1.tar.gz && mv more_itertools-11.2.1 more-itertools", work)
    repo = work / "more-itertools"
    run("git init -q && git add -A && git -c user.name=corpus -c user.email=corpus@localhost commit -qm sdist", repo)
    run("sed -i 's/if len(chunk) != n:/if len(chunk) > n:/' more_itertools/more.py", repo)
    run("sed -i 's/return sum(compress(repeat(1), zip(iterable)))/&  + 1/' more_itertools/more.py", repo)
    run("sed -i 's/return next(reversed(iterable))/return next(iter(iterable))/' more_itertools/more.py", repo)
    run(
        "sed -i 's/    return list(islice(iterable, n))/    return list(islice(iterable, n + 1))/' "
        "more_itertools/recipes.py",
        repo,
    )
    run(
        "cp more_itertools/recipes.py more_itertools/recipes_copy.py && mkdir -p scratch && "
        "cp docs/*.rst scratch/ && sed -i 's/Python/CPython/g' README.rst",
        repo,
    )
    return repo


def prepare_jq(work: Path) -> Path:
    """The jq C sources bundled in the jq sdist, as a git repository, configured for a build."""
    run("pip download --no-binary :all: --no-deps jq==1.13.0 -d dl", work)
    run(
        "tar --no-same-owner -xzf dl/jq-1.13.0.tar.gz && tar --no-same-owner -xzf jq-1.13.0/deps/jq-1.8.2.tar.gz && mv jq-1.8.2 jq-src",
        work,
    )
    repo = work / "jq-src"
    run("git init -q && git add -A && git -c user.name=corpus -c user.email=corpus@localhost commit -qm import", repo)
    return repo


RUST_LIB = """\
/// Roman numerals, with a deliberate off-by-one in the parser and an unused variable.
pub fn to_roman(mut n: u32) -> String {
    let table = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
                 (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")];
    let unused = 3;
    let mut out = String::new();
    for (value, digits) in table.iter() {
        while n >= *value { out.push_str(digits); n -= value; }
    }
    out
}

pub fn from_roman(s: &str) -> Option<u32> {
    let value = |c| match c { 'I' => Some(1), 'V' => Some(5), 'X' => Some(10), 'L' => Some(50),
                              'C' => Some(100), 'D' => Some(500), 'M' => Some(1000), _ => None };
    let mut total = 0u32;
    let chars: Vec<char> = s.chars().collect();
    for i in 0..chars.len() {
        let v = value(chars[i])?;
        let next = if i + 1 < chars.len() { value(chars[i + 1])? } else { 0 };
        if v <= next { total -= v; } else { total += v; }
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    macro_rules! roundtrip { ($($name:ident: $n:expr,)*) => { $(
        #[test] fn $name() { assert_eq!(from_roman(&to_roman($n)), Some($n), "roundtrip of {}", $n); }
    )* } }
    roundtrip! { r1: 1, r2: 2, r3: 3, r4: 4, r5: 5, r9: 9, r10: 10, r14: 14, r19: 19, r40: 40, r44: 44,
                 r90: 90, r99: 99, r400: 400, r444: 444, r900: 900, r1994: 1994, r2024: 2024, r3999: 3999, }
    #[test] fn rejects_garbage() { assert_eq!(from_roman("ABC"), None); }
    #[test] fn formats_mcmxciv() { assert_eq!(to_roman(1994), "MCMXCIV"); }
}
"""

RUST_BROKEN = """\
use std::collections::HashMap;

pub struct Inventory { items: HashMap<String, u32> }

impl Inventory {
    pub fn new() -> Self { Inventory { items: HashMap::new() } }
    pub fn add(&mut self, name: &str, count: u32) { *self.items.entry(name.to_string()).or_insert(0) += count; }
    pub fn take(&mut self, name: &str, count: u32) -> Result<u32, String> {
        let left = self.items.get_mut(name).ok_or(format!("no {name}"))?;
        if *left < count { return Err("not enough".into()); }
        *left -= count;
        Ok(left)
    }
    pub fn total(&self) -> u64 { self.items.values().sum() }
    pub fn names(&self) -> Vec<&String> { let v = self.items.keys().collect(); v.sort(); v }
}
"""

GO_MOD = "module example.com/wordstat\n\ngo 1.19\n"
GO_SRC = """\
package wordstat

import (
	"sort"
	"strings"
	"unicode"
)

// Count returns how often each lower-cased word occurs; punctuation separates words.
func Count(text string) map[string]int {
	counts := map[string]int{}
	for _, w := range strings.FieldsFunc(text, func(r rune) bool { return !unicode.IsLetter(r) && r != '\\'' }) {
		counts[strings.ToLower(w)]++
	}
	return counts
}

// Top returns the n most frequent words, ties broken alphabetically.
func Top(counts map[string]int, n int) []string {
	words := make([]string, 0, len(counts))
	for w := range counts {
		words = append(words, w)
	}
	sort.Slice(words, func(i, j int) bool { return counts[words[i]] > counts[words[j]] })
	if n < len(words) {
		words = words[:n]
	}
	return words
}

// Reverse reverses a string byte by byte.
func Reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}
"""
GO_TEST = """\
package wordstat

import (
	"fmt"
	"reflect"
	"testing"
)

func TestCount(t *testing.T) {
	cases := []struct{ in string; word string; want int }{
		{"a b a", "a", 2}, {"Hello, hello!", "hello", 2}, {"it's its", "it's", 1}, {"", "x", 0},
		{"one-two-three two", "two", 2}, {"CAPS caps Caps", "caps", 3}, {"tab\\tsep tab", "tab", 2},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%q", c.in), func(t *testing.T) {
			if got := Count(c.in)[c.word]; got != c.want {
				t.Errorf("Count(%q)[%q] = %d, want %d", c.in, c.word, got, c.want)
			}
		})
	}
}

func TestTop(t *testing.T) {
	for n := 0; n < 12; n++ {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			got := Top(Count("b a c a b a d e f g h i j k"), n)
			if n >= 2 && !reflect.DeepEqual(got[:2], []string{"a", "b"}) {
				t.Fatalf("Top(..., %d)[:2] = %v, want [a b]", n, got[:2])
			}
			if n >= 4 && got[2] != "c" {
				t.Errorf("Top(..., %d)[2] = %q, want \\"c\\" (ties alphabetical)", n, got[2])
			}
		})
	}
}

func TestReverse(t *testing.T) {
	for _, s := range []string{"abc", "racecar", "", "héllo", "日本語", "go"} {
		t.Run(s, func(t *testing.T) {
			if Reverse(Reverse(s)) != s {
				t.Errorf("double reverse of %q changed it", s)
			}
			if s == "héllo" && Reverse(s) != "olléh" {
				t.Errorf("Reverse(%q) = %q, want %q", s, Reverse(s), "olléh")
			}
		})
	}
}
"""

JS_SRC = """\
// Small date and money helpers, with real mistakes for the tests to find.
function formatCents(cents) {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}$${Math.floor(abs / 100)}.${abs % 100}`;
}
function daysBetween(a, b) {
  return Math.round((new Date(b) - new Date(a)) / 86400000);
}
function slugify(title) {
  return title.toLowerCase().trim().replace(/[^a-z0-9]+/g, '-');
}
function chunk(list, size) {
  const out = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}
module.exports = { formatCents, daysBetween, slugify, chunk };
"""
JS_TEST = """\
const { formatCents, daysBetween, slugify, chunk } = require('./helpers');

describe('formatCents', () => {
  test.each([[0, '$0.00'], [5, '$0.05'], [199, '$1.99'], [-250, '-$2.50'], [100000, '$1000.00']])(
    'formats %i as %s', (cents, text) => { expect(formatCents(cents)).toBe(text); });
});
describe('daysBetween', () => {
  test('same day', () => expect(daysBetween('2024-01-01', '2024-01-01')).toBe(0));
  test('leap year', () => expect(daysBetween('2024-02-28', '2024-03-01')).toBe(2));
  test('year', () => expect(daysBetween('2023-01-01', '2024-01-01')).toBe(365));
});
describe('slugify', () => {
  test.each([['Hello World', 'hello-world'], ['  Trim me  ', 'trim-me'], ['C++ & Rust!', 'c-rust'],
             ['already-slug', 'already-slug'], ['Ünïcode', 'unicode']])('%s', (t, s) => expect(slugify(t)).toBe(s));
});
describe('chunk', () => {
  for (let size = 1; size <= 6; size++) {
    test(`size ${size}`, () => { expect(chunk([1, 2, 3, 4, 5, 6], size).flat()).toEqual([1, 2, 3, 4, 5, 6]); });
  }
  test('empty', () => expect(chunk([], 3)).toEqual([]));
  test('keeps order', () => expect(chunk(['a', 'b', 'c'], 2)).toEqual([['a', 'b'], ['c']]));
  test('size larger than list', () => expect(chunk([1, 2], 5)).toEqual([[1, 2], []]));
});
"""


def prepare_rust(work: Path) -> tuple[Path, Path]:
    run("cargo new -q --lib roman && cargo new -q --lib inventory", work)
    write(work / "roman" / "src" / "lib.rs", RUST_LIB)
    write(work / "inventory" / "src" / "lib.rs", RUST_BROKEN)
    return work / "roman", work / "inventory"


def prepare_go(work: Path) -> Path:
    folder = work / "wordstat"
    write(folder / "go.mod", GO_MOD)
    write(folder / "wordstat.go", GO_SRC)
    write(folder / "wordstat_test.go", GO_TEST)
    return folder


def prepare_js(work: Path) -> Path:
    folder = work / "jsproj"
    folder.mkdir(parents=True, exist_ok=True)
    write(folder / "package.json", '{"name": "jsproj", "version": "1.0.0", "private": true}\n')
    run(
        "npm install --no-audit --no-fund --loglevel=error jest@29.7.0 typescript@5.6.3 ms@2.1.3 "
        "semver@7.6.3 yargs-parser@21.1.1",
        folder,
    )
    write(folder / "helpers.js", JS_SRC)
    write(folder / "helpers.test.js", JS_TEST)
    return folder


def samples(work: Path) -> list[Sample]:
    mi, jq = str(work / "more-itertools"), str(work / "jq-src")
    js, roman, inv, go = (str(work / n) for n in ("jsproj", "roman", "inventory", "wordstat"))
    site, main = str(SITE), str(REPO)
    return [
        Sample(
            "git_log_patch_routing",
            "git",
            "git_diff",
            "git log -p --reverse 84dd065..e687c36 -- optmod/routing",
            main,
            "the optmod repository's own history, a fixed range",
        ),
        Sample(
            "git_show_lint_commit",
            "git",
            "git_diff",
            "git show --stat -p 994aba6",
            main,
            "an optmod commit that reformats several files",
        ),
        Sample("git_diff_more_itertools", "git", "git_diff", "git diff", mi, "real sed edits to the sdist"),
        Sample(
            "configure_jq",
            "build",
            "build_log",
            "./configure --without-oniguruma --disable-docs --disable-valgrind",
            jq,
        ),
        Sample(
            "make_jq",
            "build",
            "build_log",
            "make -j2 V=1 CFLAGS='-O2 -Wall -Wextra'",
            jq,
            "a verbose build with extra warnings enabled",
            setup="make clean",
        ),
        Sample(
            "git_diff_stat_patch_jq",
            "git",
            "git_diff",
            "git diff --stat -p HEAD",
            jq,
            "after the build and a sed rename of jv_copy to jv_dup in three C files",
            setup="sed -i 's/\\bjv_copy\\b/jv_dup/g' src/execute.c src/builtin.c src/jv_aux.c",
        ),
        Sample("git_status_more_itertools", "git", "git_status", "git status", mi),
        Sample(
            "git_status_jq_build",
            "git",
            "git_status",
            "git status --untracked-files=all",
            jq,
            "after configure and make: build products untracked",
        ),
        Sample(
            "git_log_jq",
            "git",
            "git_log",
            "git log -n 40 --stat",
            str(work / "git-clone"),
            "a clone of the optmod repository",
        ),
        Sample("grep_rn_httpx", "search", "grep", "grep -rn 'def ' httpx/_client.py httpx/_models.py", site),
        Sample("rg_starlette_async", "search", "grep", "rg -n 'async def|await ' starlette", site),
        Sample(
            "grep_rn_usr_share_python",
            "search",
            "grep",
            "grep -rn --include='*.py' 'raise ' /usr/lib/python3.11/email "
            "/usr/lib/python3.11/json /usr/lib/python3.11/unittest",
            "/",
        ),
        Sample("rg_raise_pydantic", "search", "grep", "rg -n 'raise [A-Za-z]+Error' pydantic", site),
        Sample("ls_la_site_packages", "listing", "ls", "ls -la", site),
        Sample("ls_laR_fastapi", "listing", "ls", "ls -laR fastapi", site),
        Sample("ls_la_usr_bin", "listing", "ls", "ls -la /usr/bin", "/"),
        Sample("tree_starlette", "listing", "tree", "tree starlette", site),
        Sample("tree_usr_share_doc_L2", "listing", "tree", "tree -L 2 /usr/share/doc", "/"),
        Sample("tree_sklearn_dirs", "listing", "tree", "tree -d sklearn", site),
        Sample("find_httpx", "listing", "find", "find httpx pydantic_core uvicorn -type f", site),
        Sample(
            "pytest_more_itertools",
            "build",
            "pytest",
            "python -m pytest -v -p no:cacheprovider tests",
            mi,
            "real bugs introduced with sed into chunked(strict), ilen, last and take",
        ),
        Sample(
            "pytest_tb_short_more_itertools",
            "build",
            "pytest",
            "python -m pytest -q --tb=short -p no:cacheprovider tests/test_recipes.py",
            mi,
        ),
        Sample("unittest_make_test", "build", "unittest", "make test", mi, "the sdist's own Makefile target"),
        Sample("unittest_recipes", "build", "unittest", "python -m unittest tests.test_recipes", mi),
        Sample("mypy_strict_more_itertools_tests", "build", "mypy", "mypy --strict tests/test_recipes.py", mi),
        Sample("mypy_jq_setup", "build", "mypy", "mypy --strict --no-incremental jq-1.13.0/setup.py", str(work)),
        Sample(
            "ruff_select_all_recipes",
            "build",
            "ruff",
            "ruff check --no-cache --select ALL more_itertools/recipes.py",
            mi,
        ),
        Sample(
            "ruff_concise_tests",
            "build",
            "ruff",
            "ruff check --no-cache --output-format=concise --select E,F,W,B,UP,SIM,RUF,PT tests",
            mi,
        ),
        Sample("cargo_test_roman", "build", "cargo", "cargo test", roman, "an off-by-one in from_roman"),
        Sample("cargo_build_inventory", "build", "cargo", "cargo build", inv, "type and borrow errors"),
        Sample("go_test_wordstat", "build", "go_test", "go test -v ./...", go),
        Sample(
            "go_test_count_reverse", "build", "go_test", "go test -v -count=1 -run 'TestCount|TestReverse' ./...", go
        ),
        Sample("jest_helpers", "build", "jest", "npx jest --verbose helpers.test.js", js),
        Sample(
            "tsc_checkjs_packages",
            "build",
            "tsc",
            "npx tsc --allowJs --checkJs --noEmit --strict --pretty "
            "false --target es2020 node_modules/ms/index.js node_modules/semver/classes/range.js "
            "node_modules/yargs-parser/build/lib/tokenize-arg-string.js",
            js,
        ),
        Sample(
            "tsc_pretty_semver",
            "build",
            "tsc",
            "npx tsc --allowJs --checkJs --noEmit --strict --pretty "
            "--target es2020 node_modules/semver/classes/semver.js node_modules/semver/classes/comparator.js",
            js,
        ),
        Sample(
            "dpkg_log",
            "truncate",
            "truncate",
            "tail -n 1500 /var/log/dpkg.log",
            "/",
            "a long log of distinct lines: nothing repeats, so truncation is what applies",
        ),
        Sample(
            "uvicorn_app_log",
            "logs",
            "log_dedup",
            "bash " + str(work / "serve_app.sh"),
            str(work),
            "a FastAPI app under uvicorn, hit by curl; it logs a warning for some items",
        ),
        Sample(
            "jq_error_spam",
            "logs",
            "log_dedup",
            "seq 1 400 | ./jq '.name'",
            str(work / "jq-src"),
            "the jq built above, fed numbers where it expects objects",
        ),
        Sample(
            "http_server_access_log",
            "logs",
            "log_dedup",
            "bash " + str(work / "serve_and_hit.sh"),
            str(work),
            "python -m http.server hit by curl",
        ),
        Sample("apt_term_log", "truncate", "truncate", "tail -n 400 /var/log/apt/term.log", "/"),
        Sample(
            "cat_argparse",
            "truncate",
            "truncate",
            "cat /usr/lib/python3.11/argparse.py",
            "/",
            "an agent reading a long file",
        ),
        Sample("pydoc_collections", "truncate", "truncate", "python -m pydoc collections", "/"),
        Sample("pip_show_files_numpy", "truncate", "truncate", "pip show -f numpy", main),
        Sample(
            "pydoc_json",
            "unchanged",
            "none",
            "python -m pydoc json.decoder",
            "/",
            "unrecognised, below the truncation threshold: must pass unchanged",
        ),
        Sample(
            "pip_show_files_uvicorn",
            "unchanged",
            "none",
            "pip show -f uvicorn",
            main,
            "unrecognised, below the truncation threshold: must pass unchanged",
        ),
        Sample("pip_list_json", "unchanged", "none", "pip list --format=json", main, "JSON: must pass unchanged"),
        Sample(
            "uname_short",
            "unchanged",
            "none",
            "uname -srm && git --version && python --version",
            "/",
            "short: must pass unchanged",
        ),
        Sample(
            "readme_prose",
            "unchanged",
            "none",
            "cat README.rst | head -c 3000",
            mi,
            "unrecognised prose below the truncation threshold: must pass unchanged",
        ),
    ]


APP = """\
import logging

from fastapi import FastAPI, HTTPException

app = FastAPI()
log = logging.getLogger("uvicorn.error")


@app.get("/items/{item_id}")
def read_item(item_id: int) -> dict[str, int]:
    if item_id % 7 == 0:
        log.warning("item %d took the slow path", item_id)
    if item_id % 5 == 0:
        raise HTTPException(404, "no such item")
    return {"id": item_id}
"""

SERVE_APP = """\
uvicorn app:app --port 8798 --host 127.0.0.1 > app.log 2>&1 &
pid=$!
sleep 3
for i in $(seq 1 150); do curl -s -o /dev/null http://127.0.0.1:8798/items/$i; done
curl -s -o /dev/null http://127.0.0.1:8798/items/not-a-number
kill $pid
sleep 1
cat app.log
"""

SERVE_AND_HIT = """\
python -m http.server 8799 --bind 127.0.0.1 --directory more-itertools > access.log 2>&1 &
pid=$!
sleep 1
for i in $(seq 1 120); do curl -s -o /dev/null http://127.0.0.1:8799/README.rst; done
for i in $(seq 1 40); do curl -s -o /dev/null http://127.0.0.1:8799/missing-$((i % 4)).txt; done
for i in $(seq 1 60); do curl -s -o /dev/null http://127.0.0.1:8799/more_itertools/; done
kill $pid
cat access.log
"""


def prepare_all(work: Path) -> None:
    prepare_more_itertools(work)
    prepare_jq(work)
    prepare_rust(work)
    prepare_go(work)
    prepare_js(work)
    write(work / "serve_and_hit.sh", SERVE_AND_HIT)
    write(work / "app.py", APP)
    write(work / "serve_app.sh", SERVE_APP)
    run(f"git clone -q {REPO} git-clone", work)


def capture(sample: Sample) -> dict[str, object]:
    if sample.setup:
        run(sample.setup, Path(sample.cwd))
    done = run(sample.command, Path(sample.cwd), check=False)
    text = done.stdout
    if len(text.encode()) > MAX_SAMPLE_BYTES:
        raise RuntimeError(f"{sample.name}: {len(text.encode())} bytes, narrow the command")
    write(CORPUS / sample.family / f"{sample.name}.txt", text)
    return {
        "file": f"{sample.family}/{sample.name}.txt",
        "family": sample.family,
        "filter": sample.filter,
        "command": sample.command,
        "cwd": sample.cwd,
        "exit_code": done.returncode,
        "note": sample.note,
        **({"setup": sample.setup} if sample.setup else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/optmod-corpus"))
    parser.add_argument("--keep", action="store_true", help="reuse a prepared work folder")
    parser.add_argument("--only", nargs="*", default=None, help="with --keep: re-capture only these samples")
    args = parser.parse_args()
    work: Path = args.work
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        prepare_all(work)
    index_path = CORPUS / "index.json"
    previous = {e["file"]: e for e in json.loads(index_path.read_text())["samples"]} if args.only else {}
    entries = []
    for sample in samples(work):
        file = f"{sample.family}/{sample.name}.txt"
        if args.only is not None and sample.name not in args.only and file in previous:
            entries.append(previous[file])
            continue
        entry = capture(sample)
        print(f"{entry['exit_code']:>4}  {entry['file']}")
        entries.append(entry)
    index = {"captured_by": "bench/capture_tool_outputs.py", "samples": entries}
    write(CORPUS / "index.json", json.dumps(index, indent=1) + "\n")


if __name__ == "__main__":
    main()
