"""The package's layers: imports go downward, modules stay small, the architecture page
matches the modules, and models pickled before the layers still load."""

import ast
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / "torchsk"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
# each layer may import the layers after it, never those before it
LAYERS = ["estimators", "io", "data", "training", "nn", "inputs", "_warnings"]
MAX_LINES = 450


def _modules():
    return sorted(PACKAGE.rglob("*.py"))


def _layer(module: str) -> str:
    return module.split(".")[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.startswith("torchsk.")}


def summary(path: Path) -> str:
    """A module docstring's first paragraph on one line, in Markdown's backticks."""
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    return " ".join(doc.split("\n\n")[0].split()).replace("``", "`")


def module_table() -> str:
    rows = [
        f"| `{path.relative_to(ROOT).as_posix()}` | {summary(path)} |"
        for path in _modules()
        if path.name != "__init__.py" or path.parent != PACKAGE
    ]
    return "\n".join(["| module | owns |", "|---|---|", *rows]) + "\n"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_a_module_imports_only_its_own_layer_and_those_below(path):
    if path.parent == PACKAGE and path.name == "__init__.py":
        return  # the top level exports from every layer
    own = LAYERS.index(path.relative_to(PACKAGE).parts[0].removesuffix(".py"))
    for module in _imports(path):
        assert LAYERS.index(_layer(module)) >= own, f"{path.name} imports {module} (upwards)"


def test_no_module_is_over_the_size_limit():
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text().splitlines()) for p in _modules()}
    assert {p: n for p, n in sizes.items() if n > MAX_LINES} == {}


def test_every_module_says_what_it_owns_and_the_architecture_page_lists_it():
    assert all(summary(path) for path in _modules())
    text = ARCHITECTURE.read_text()
    assert text.endswith(module_table()), "regenerate: python tests/integration/test_layout.py"


def test_a_model_pickled_before_the_layers_loads_and_predicts_as_it_did():
    # made by the flat modules of 2026-12-02 (torchsk._regressor, torchsk._tables, ...)
    cases = pickle.loads((ROOT / "tests" / "fixtures" / "fitted_before_layers.pkl").read_bytes())
    assert len(cases) == 3
    for est, X, expected in cases:
        assert type(est).__module__.startswith("torchsk.estimators.")
        got = est.predict_proba(X) if hasattr(est, "predict_proba") else est.predict(X)
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_old_module_names_resolve_in_a_fresh_process_and_unknown_names_fail():
    code = (
        "import pickle, torchsk\n"
        "from torchsk._modules import MLP, TabularNet\n"
        "from torchsk.nn.mlp import MLP as M\n"
        "assert MLP is M\n"
        "import torchsk._tables as t\n"
        "assert t.TableEncoder.__module__ == 'torchsk.data.tables'\n"
        "try:\n    t.NoSuchThing\nexcept AttributeError as e:\n    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "NoSuchThing" in done.stdout


def test_skops_trusts_each_saved_type_under_its_old_and_new_name():
    from torchsk import SKOPS_TRUSTED_TYPES

    new = [t for t in SKOPS_TRUSTED_TYPES if re.match(r"torchsk\.[a-z]", t)]
    old = [t for t in SKOPS_TRUSTED_TYPES if re.match(r"torchsk\._", t)]
    assert len(old) == 8  # the search came after the layers: it has no old name
    names = {t.rsplit(".", 1)[1] for t in new}
    assert names - {t.rsplit(".", 1)[1] for t in old} == {"BatchedSearchCV", "Blend"}
    for name in new:
        module, cls = name.rsplit(".", 1)
        assert getattr(__import__(module, fromlist=[cls]), cls).__module__ == module


if __name__ == "__main__":  # rewrite the table at the end of docs/architecture.md
    text = ARCHITECTURE.read_text()
    head = text[: text.index("| module | owns |")]
    ARCHITECTURE.write_text(head + module_table())
