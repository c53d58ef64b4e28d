"""The programs of docs/ffi.md run, and print what the page says they print."""
import os
import pathlib
import re
import subprocess
import sys

import pytest

from dfr_ctypes import find_library

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "ffi.md"
BLOCKS = re.findall(r"```python\n(# ffi\.md program: (\w+)\n.*?)```", DOC.read_text(), re.S)


def run(source):
    env = dict(os.environ, DFR_LIBPATH=find_library())
    return subprocess.run([sys.executable, "-c", source], env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_page_has_both_programs():
    assert sorted(name for _, name in BLOCKS) == ["cffi", "ctypes"]


@pytest.mark.parametrize("name", ["ctypes", "cffi"])
def test_program_runs(name):
    source = next(src for src, n in BLOCKS if n == name)
    p = run(source)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    if name == "ctypes":
        assert p.stdout.splitlines() == [
            "recovered from ZeroDivisionError('division by zero')",
            "chain result: 0",
            "outer got 42",
            "from the pool: 499500 on the main thread: True",
        ]
    else:
        assert p.stdout.splitlines() == ["result: 50", "destroy ran for [{'factor': 10}]"]


# The C programs of README.md and docs/deferreds.md: each compiles warning-free as C11
# against the headers, links against the library under test, and prints what its
# comment says.  Every dfr_/DFR_ name in a C block of the docs exists in the headers.
ROOT = DOC.parents[1]
C_PROGRAMS = {"README.md": ["result: 42"], "docs/deferreds.md": ["result: 42"]}


def c_blocks(rel):
    return re.findall(r"```c\n(.*?)```", (ROOT / rel).read_text(), re.S)


@pytest.mark.parametrize("rel", sorted(C_PROGRAMS))
def test_c_program_runs(rel, tmp_path):
    source = next(b for b in c_blocks(rel) if "int main" in b)
    (tmp_path / "app.c").write_text(source)
    lib = pathlib.Path(find_library()).resolve()
    # The compiler is not ours to sanitize: no preloaded runtime while it runs.
    cc_env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    p = subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic",
                        "-I", str(ROOT / "include"), "app.c", "-o", "app", str(lib),
                        "-Wl,-rpath," + str(lib.parent)],
                       cwd=tmp_path, env=cc_env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([str(tmp_path / "app")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == C_PROGRAMS[rel]


def test_doc_names_exist():
    headers = " ".join(p.read_text() for p in (ROOT / "include").rglob("*.h"))
    known = set(re.findall(r"\b(?:dfr|DFR)_\w+", headers))
    pages = ["README.md", *(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
    missing = set()
    for rel in pages:
        for block in c_blocks(rel):
            missing |= {n for n in re.findall(r"\b(?:dfr|DFR)_\w+", block) if n not in known}
    assert not missing, f"names in the docs' C blocks that no header declares: {missing}"
