"""The import contracts of ``[tool.importlinter]`` hold, and they catch the imports they are meant to catch."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the package found under ``root`` (so a modified copy can be checked)."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_contracts_hold():
    proc = lint_imports(REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "6 kept, 0 broken" in proc.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "broken"),
    [
        ("defs/images/assets.py", "import fer_platform.defs.embeddings.assets", "Stages under defs/"),
        ("images/manifest.py", "import fer_platform.embeddings.model", "only where data flows"),  # against the flow
        ("embeddings/partition.py", "import fer_platform.images.decode", "only where data flows"),  # not named
        ("postgres/dsn.py", "import fer_platform.table.schema", "Entry points > Dagster"),  # against the layers
        ("table/rows.py", "import dagster", "do not import Dagster"),
        ("service/engine.py", "import fer_platform.orchestration.resources", "do not import Dagster"),
    ],
)
def test_a_wrong_import_breaks_its_contract(tmp_path, module, bad_import, broken):
    copy = tmp_path / "repo"
    shutil.copytree(REPO / "fer_platform", copy / "fer_platform", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", copy)
    target = copy / "fer_platform" / module
    target.write_text(target.read_text() + f"\n{bad_import}  # a violation planted by the test\n")
    proc = lint_imports(copy)
    assert proc.returncode != 0
    assert "1 broken" in proc.stdout and broken in proc.stdout.replace("\n", " ")


def import_cycles(package: str) -> list[list[str]]:
    """The module-level import cycles of ``package``, type-only imports included (strongly connected components of
    grimp's import graph with more than one module)."""
    graph = grimp.build_graph(package, cache_dir=None, exclude_type_checking_imports=False)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's algorithm
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while not component or component[-1] != module:
                component.append(stack.pop())
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


def test_no_import_cycle_type_only_imports_included():
    assert import_cycles("fer_platform") == []


def test_no_folder_holds_more_than_twelve_modules_and_no_module_more_than_250_lines():
    for folder in [REPO / "fer_platform", *(p for p in (REPO / "fer_platform").rglob("*") if p.is_dir())]:
        modules = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
        assert len(modules) <= 12, f"{folder.relative_to(REPO)} holds {len(modules)} modules"
        for module in modules:
            lines = len(module.read_text().splitlines())
            assert lines <= 250, f"{module.relative_to(REPO)} has {lines} lines"


def test_a_type_only_cycle_is_found(tmp_path):
    """A cycle planted in a copy, behind ``if TYPE_CHECKING``, is reported (the check sees type-only imports)."""
    copy = tmp_path / "repo"
    shutil.copytree(REPO / "fer_platform", copy / "fer_platform", ignore=shutil.ignore_patterns("__pycache__"))
    recipe = copy / "fer_platform" / "models" / "training" / "recipe.py"
    recipe.write_text(
        recipe.read_text()
        + "\nfrom typing import TYPE_CHECKING\n"
        + "if TYPE_CHECKING:\n    from fer_platform.models.training import checkpoints\n"
    )
    script = (
        "import json; from fer_platform_tests.test_layers import import_cycles; "
        "print(json.dumps(import_cycles('fer_platform')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=copy,
        env={"PYTHONPATH": f"{copy}:{REPO}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    cycle = ["fer_platform.models.training.checkpoints", "fer_platform.models.training.recipe"]
    assert json.loads(proc.stdout) == [cycle]
