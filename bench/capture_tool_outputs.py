"""Re-create the tool-output corpus in tests/corpus/tool_outputs/ by running real commands on this machine.

Nothing in the corpus is written by hand: every sample is the combined stdout+stderr of one command, stored
with the command, the folder it ran in and its exit code in `index.json`. The subjects are real: the optmod
repository itself, sdists downloaded from PyPI (more-itertools, jq with its bundled C sources) into which real
bugs are introduced with sed, npm packages, site-packages, /usr/share and /var/log of this machine, and small
Rust / Go / JavaScript / Python projects kept in tests/corpus/tool_outputs/projects/, built, tested and served.

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
# Sources of the small Rust, Go, JavaScript and Python subjects, and the scripts that drive the two servers.
PROJECTS = CORPUS / "projects"
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


def prepare_rust(work: Path) -> None:
    run("cargo new -q --lib roman && cargo new -q --lib inventory", work)
    for crate in ("roman", "inventory"):
        shutil.copy(PROJECTS / crate / "src" / "lib.rs", work / crate / "src" / "lib.rs")


def prepare_js(work: Path) -> None:
    folder = work / "jsproj"
    shutil.copytree(PROJECTS / "jsproj", folder)
    write(folder / "package.json", '{"name": "jsproj", "version": "1.0.0", "private": true}\n')
    run(
        "npm install --no-audit --no-fund --loglevel=error jest@29.7.0 typescript@5.6.3 ms@2.1.3 "
        "semver@7.6.3 yargs-parser@21.1.1",
        folder,
    )


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


def prepare_all(work: Path) -> None:
    prepare_more_itertools(work)
    prepare_jq(work)
    prepare_rust(work)
    prepare_js(work)
    shutil.copytree(PROJECTS / "wordstat", work / "wordstat")
    for script in ("http_server/serve_and_hit.sh", "uvicorn_app/serve_app.sh", "uvicorn_app/app.py"):
        shutil.copy(PROJECTS / script, work)
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
