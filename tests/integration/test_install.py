"""The README's install commands take the pinned CPU build of torch and no CUDA wheels.

pip resolves each command against the package index (``--dry-run``) as if into an empty
environment; the test reads what it would install from pip's JSON report. It needs the
package index, and fails, saying so, when the index cannot be reached.
"""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).parents[2]
CUDA = re.compile(r"nvidia-|cuda-|triton$")


def readme_install_commands() -> list[list[str]]:
    """The arguments after ``pip install`` of each line in the README's Install block."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Install\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    lines = [line for line in block.splitlines() if line.startswith("pip install ")]
    return [shlex.split(line, comments=True)[2:] for line in lines]


def resolve(args: list[str], report: Path) -> dict[str, str]:
    """``{name: version}`` that ``pip install *args`` would install into an empty environment."""
    pip = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
    command = [*pip, "--retries", "1", "--timeout", "20", "--report", str(report), *args]
    unreachable = f"pip could not resolve `pip install {shlex.join(args)}`; this test needs"
    unreachable += " the package index (is it reachable from this machine?)"
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{unreachable}: no answer within 240 s")
    if done.returncode != 0:
        pytest.fail(f"{unreachable}:\n{done.stderr[-3000:]}")
    installed = json.loads(report.read_text())["install"]
    return {canonicalize_name(p["metadata"]["name"]): p["metadata"]["version"] for p in installed}


def test_readme_install_takes_the_pinned_torch_and_no_cuda(tmp_path):
    torch_first, *then = readme_install_commands()
    assert "torch" in torch_first and then, "the README installs torch first, then torchsk"
    constraints = (ROOT / "requirements" / "constraints.txt").read_text()
    pinned = re.search(r"^torch==(\S+)$", constraints, re.M).group(1)

    first = resolve(torch_first, tmp_path / "torch.json")
    got = first["torch"]
    assert Version(got).public == pinned, f"the README installs torch {got}, not the pin {pinned}"
    # the later lines run with that torch installed, which pip keeps: hold it there
    installed = tmp_path / "installed.txt"
    installed.write_text(f"torch=={first['torch']}\n")
    later = [arg for line in then for arg in line]
    rest = resolve([*later, "-c", str(installed)], tmp_path / "rest.json")
    assert "torchsk" in rest and rest["torch"] == first["torch"]
    for resolved in (first, rest):
        cuda = sorted(name for name in resolved if CUDA.match(name))
        assert not cuda, f"the README's install pulls CUDA packages: {cuda}"
