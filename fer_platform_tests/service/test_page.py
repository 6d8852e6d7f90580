"""The web page in headless Chromium (Playwright from npm): upload a face, see faces with the same expression,
the emotion and a bar per emotion score."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fer_platform_tests.constants import TEST_EMOTIONS
from fer_platform_tests.deployment import REPO, free_port, start, stop, wait_for_port
from fer_platform_tests.populated import API_KEY

DRIVER = Path(__file__).with_name("page_upload.mjs")


@pytest.mark.timeout(300)
def test_uploading_a_face_on_the_page_shows_results(search_env, tmp_path):
    if shutil.which("chromium") is None or not (REPO / "node_modules" / "playwright-core").is_dir():
        pytest.fail("chromium and node_modules/playwright-core are needed: run bin/setup")
    port = free_port()
    server = start(
        [str(Path(sys.executable).parent / "fer-platform"), "serve", "--port", str(port)],
        os.environ | search_env,
        tmp_path / "serve.log",
    )
    try:
        wait_for_port(port, server, timeout=120)
        image = Path(search_env["FER_IMAGE_ROOT"]) / "test" / "happy" / "im1.png"
        shot = tmp_path / "page.png"
        out = subprocess.run(
            ["node", str(DRIVER), f"http://127.0.0.1:{port}/", API_KEY, str(image), str(shot), "expression"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    finally:
        stop(server)
    assert out.returncode == 0, out.stderr[-2000:]
    page = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(page["results"]) == 5 and all(r.split(" · ")[0] in TEST_EMOTIONS for r in page["results"])
    assert page["prediction"].startswith("Predicted: ") and shot.stat().st_size > 10_000
    # One bar per emotion from the promoted emotion_model, widths (percent) summing to 100.
    assert sorted(e for e, _ in page["scores"]) == sorted(TEST_EMOTIONS)
    assert sum(width for _, width in page["scores"]) == pytest.approx(100, abs=0.5)
