"""The package builds quietly (no setuptools deprecation box in a newcomer's console) and the wheel carries what
the definitions load besides Python: each defs folder's ``defs.yaml`` (its asset group) and the page."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import fer_platform.defs
from fer_platform_tests.support.constants import REPO


@pytest.mark.slow  # builds a wheel in a subprocess
def test_the_wheel_builds_without_deprecations_and_holds_every_defs_yaml(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "deprecated" not in (proc.stdout + proc.stderr).lower(), proc.stderr[-3000:]
    [wheel] = tmp_path.glob("fer_platform-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    folders = [p.name for p in Path(fer_platform.defs.__file__).parent.iterdir() if (p / "defs.yaml").exists()]
    assert len(folders) == 6
    assert {f"fer_platform/defs/{folder}/defs.yaml" for folder in folders} <= names
    assert "fer_platform/service/page.html" in names
