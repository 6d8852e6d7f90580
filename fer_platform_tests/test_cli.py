"""The README's first command on embedded defaults: sample data, embedded PostgreSQL, every partition."""

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from fer_platform.cli import main

BIN = Path(sys.executable).parent


def test_sample_data_command(tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "sample-data",
            str(tmp_path),
            "--per-class",
            "2",
            "--test-per-class",
            "1",
            "--emotions",
            "joy,anger",
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(list(tmp_path.rglob("*.png"))) == 6


def test_demo_on_embedded_defaults(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FER_", "DAGSTER_"))}
    env |= {"FER_HOME": str(tmp_path / "home"), "FER_WEIGHTS": "random", "FER_BATCH_SIZE": "8"}
    proc = subprocess.run(
        [str(BIN / "fer-platform"), "demo", "--per-class", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for emotion in ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"):
        assert f"{emotion}: ok" in proc.stdout
    assert "partition_rows=2" in proc.stdout
    assert "embedded PostgreSQL in" in proc.stdout and "dagster dev" in proc.stdout
    # Run again: nothing new to embed.
    again = subprocess.run([str(BIN / "fer-platform"), "demo"], env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "embedded=0" in again.stdout
