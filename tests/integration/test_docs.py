"""Every ```python block of the README and docs/ runs on its own, as a script.

Each block is written to a file in a temporary folder and run there as ``__main__`` in
a process of its own, with fresh globals, so a block that leans on names or imports from
an earlier block, or that starts worker processes without an
``if __name__ == "__main__":`` guard, fails. The processes are forked from a server that
has imported torch, scikit-learn and pandas once: a fresh interpreter spent about 2.7 s
of each block's run importing them, a quarter of the suite's time. The README's quick
start still runs in a fresh interpreter (``test_readme_quick_start_runs_clean``).
"""

import atexit
import multiprocessing
import os
import re
import runpy
import subprocess
import sys
import traceback
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


def _write(code: str, name: str, folder: Path) -> Path:
    script = folder / (re.sub(r"\W", "_", name) + ".py")
    script.write_text(code)
    return script


def _run(code: str, name: str, folder: Path) -> subprocess.CompletedProcess:
    """Run ``code`` as a script in a fresh interpreter, in ``folder``."""
    return subprocess.run(
        [sys.executable, _write(code, name, folder).name],
        cwd=folder,  # files the examples write land in a temporary folder
        env={**os.environ, "MPLBACKEND": "Agg"},
        capture_output=True,
        text=True,
        timeout=300,
    )


# The server is started with this process's environment: matplotlib, which reads
# MPLBACKEND when first imported, is left for the blocks to import.
_SERVER = multiprocessing.get_context("forkserver")
_SERVER.set_forkserver_preload(["torch", "torchsk", "sklearn.model_selection", "pandas"])


def _as_main(script: str, stdout: str, stderr: str) -> None:
    """The forked process: run ``script`` as a script run by ``python script`` would."""
    os.chdir(os.path.dirname(script))
    os.environ["MPLBACKEND"] = "Agg"
    # file descriptors, so that the output of the block's own worker processes lands too
    for fd, path in ((1, stdout), (2, stderr)):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
    sys.argv = [script]
    sys.path.insert(0, os.path.dirname(script))
    code = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()  # as the interpreter's exit would (loky and Dask clean up)
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)


def _run_forked(code: str, name: str, folder: Path) -> subprocess.CompletedProcess:
    """Run ``code`` as ``__main__`` in a process forked from the preloaded server."""
    script = str(_write(code, name, folder).resolve())
    out, err = str(folder / "stdout.txt"), str(folder / "stderr.txt")
    process = _SERVER.Process(target=_as_main, args=(script, out, err))
    process.start()
    process.join(timeout=300)
    if process.exitcode is None:
        process.kill()
        process.join()
    return subprocess.CompletedProcess(
        script, process.exitcode, Path(out).read_text(), Path(err).read_text()
    )


@pytest.mark.parametrize("code", [code for _, code in BLOCKS], ids=[n for n, _ in BLOCKS])
def test_code_block_runs_alone_as_a_script(code, request, tmp_path):
    name = request.node.callspec.id
    done = _run_forked(code, name, tmp_path)
    assert done.returncode == 0, f"{name} failed when run alone:\n{done.stderr[-4000:]}"


def test_a_block_that_leans_on_another_block_fails(tmp_path):
    """The forked runs keep nothing between blocks: not the names an earlier block
    defined, nor the modules the server imported, which a block must import itself."""
    assert _run_forked("import numpy as np\nx = np.ones(2)\n", "first", tmp_path).returncode == 0
    leaning = _run_forked("print(x)\n", "second", tmp_path)
    assert leaning.returncode == 1 and "NameError" in leaning.stderr
    unimported = _run_forked("print(torch.ones(1))\n", "third", tmp_path)
    assert unimported.returncode == 1 and "NameError" in unimported.stderr


def test_a_block_without_a_main_guard_that_spawns_workers_fails(tmp_path):
    """Spawned workers import the block as ``__mp_main__``, as they would a script."""
    code = (
        "import multiprocessing, sys\n"
        "def work():\n"
        "    print('worked')\n"
        "worker = multiprocessing.get_context('spawn').Process(target=work)\n"
        "worker.start()\n"
        "worker.join()\n"
        "sys.exit(worker.exitcode)\n"
    )
    unguarded = _run_forked(code, "unguarded", tmp_path)
    assert unguarded.returncode != 0 and "bootstrapping phase" in unguarded.stderr
    head, body = code.split("worker =")
    guarded = (
        head
        + "if __name__ == '__main__':\n"
        + "".join("    " + line + "\n" for line in ("worker =" + body).splitlines())
    )
    done = _run_forked(guarded, "guarded", tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "worked", done.stderr


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
    done = _run_forked(block.group(1), "landing", tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Warning" not in done.stderr, done.stderr[-4000:]
    assert 0.95 <= float(done.stdout.split()[0]) <= 1.0
