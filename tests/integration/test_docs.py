"""Every ```python block of the README and docs/ runs on its own, as a script.

Each block is written to a file in a temporary folder and run there by a fresh
interpreter, so a block that leans on names from an earlier block, or that starts
worker processes without an ``if __name__ == "__main__":`` guard, fails.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def code_blocks():
    """``(name, code)`` of every python block; the name is ``page:line`` of its fence."""
    blocks = []
    for page in PAGES:
        text = page.read_text()
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            blocks.append((f"{page.name}:{line}", match.group(1)))
    return blocks


BLOCKS = code_blocks()


def test_every_python_fence_is_collected():
    fences = sum(page.read_text().count("\n```python\n") for page in PAGES)
    assert len(BLOCKS) == fences >= 15


def _run(code: str, name: str, folder: Path) -> subprocess.CompletedProcess:
    script = folder / (re.sub(r"\W", "_", name) + ".py")
    script.write_text(code)
    return subprocess.run(
        [sys.executable, script.name],
        cwd=folder,  # files the examples write land in a temporary folder
        env={**os.environ, "MPLBACKEND": "Agg"},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("code", [code for _, code in BLOCKS], ids=[n for n, _ in BLOCKS])
def test_code_block_runs_alone_as_a_script(code, request, tmp_path):
    name = request.node.callspec.id
    done = _run(code, name, tmp_path)
    assert done.returncode == 0, f"{name} failed when run alone:\n{done.stderr[-4000:]}"


def test_readme_quick_start_runs_clean(tmp_path):
    """The first code a new user runs prints no warning (a ConvergenceWarning did)."""
    use = (ROOT / "README.md").read_text().split("\n## Use\n", 1)[1]
    done = _run(BLOCK.search(use).group(1), "readme_use", tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Warning" not in done.stderr, done.stderr[-4000:]


def test_docs_site_builds_without_warnings(tmp_path):
    # not with -q: it hides warnings from --strict (griffe's about the unfilled
    # placeholders of fit's wrapped docstrings passed with it, and failed ./dev docs)
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert "hidden_layer_sizes" in api and "predict_proba" in api


def test_the_landing_page_shows_a_runnable_example(tmp_path):
    """The docs' first page shows code, not only links; it runs clean and prints what
    the text under it says (a held-out R² of about 0.98)."""
    landing = (ROOT / "docs" / "index.md").read_text()
    block = BLOCK.search(landing)
    assert block is not None and landing.index("```python") < landing.index("](")
    done = _run(block.group(1), "landing", tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Warning" not in done.stderr, done.stderr[-4000:]
    assert 0.95 <= float(done.stdout.split()[0]) <= 1.0
