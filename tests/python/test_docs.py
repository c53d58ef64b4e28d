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
