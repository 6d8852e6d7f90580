"""The import contracts of ``[tool.importlinter]`` hold, and they catch the imports they are meant to catch."""

import shutil
import subprocess
import sys
from pathlib import Path

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
    assert "4 kept, 0 broken" in proc.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "broken"),
    [
        ("defs/images/assets.py", "import fer_platform.defs.embeddings.assets", "Stages under defs/"),
        ("images/manifest.py", "import fer_platform.embeddings.model", "only where data flows"),  # against the flow
        ("embeddings/plan.py", "import fer_platform.images.decode", "only where data flows"),  # not named
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
