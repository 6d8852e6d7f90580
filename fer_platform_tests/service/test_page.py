"""The web page in headless Chromium (Playwright from npm): upload a face, see faces with the same expression,
the emotion and a bar per emotion score, from ONE request; search again from a result (click or Enter), filter
by emotion, and a specific error for every refused upload.

One server and one browser for the module: ``page_scenarios.mjs`` runs every scenario in one page and prints
what each left on the page and the requests it made; the tests below read that.
"""

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fer_platform_tests.support.constants import TEST_EMOTIONS
from fer_platform_tests.support.populated import API_KEY
from fer_platform_tests.support.servers.deployment import REPO, free_port, start, stop, wait_for_port

pytestmark = pytest.mark.slow  # Chromium driving the page

DRIVER = Path(__file__).with_name("page_scenarios.mjs")
MAX_UPLOAD_BYTES = 5_000_000  # the default FER_MAX_UPLOAD_BYTES
FILTER = "sad"
KEY_MESSAGE = "the API key is missing or wrong"


@pytest.fixture(scope="module")
def server(shared_search_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service on the populated platform, once per module: its page's URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("page-server") / "serve.log"
    env = os.environ | shared_search_env | {"FER_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES)}
    process = start([str(Path(sys.executable).parent / "fer-platform"), "serve", "--port", str(port)], env, log)
    try:
        wait_for_port(port, process, timeout=120)
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop(process)


@pytest.fixture(scope="module")
def page(server: str, shared_search_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every scenario of page_scenarios.mjs, run once in one browser: {scenario: the page's state after it}."""
    if shutil.which("chromium") is None or not (REPO / "node_modules" / "playwright-core").is_dir():
        pytest.fail("chromium and node_modules/playwright-core are needed: run bin/setup")
    tmp_path = tmp_path_factory.mktemp("page")
    big = tmp_path / "huge.png"  # over the limit by one byte; the page must not send it
    with open(big, "wb") as out:
        out.write(b"\x89PNG\r\n\x1a\n")
        out.truncate(MAX_UPLOAD_BYTES + 1)
    text = tmp_path / "notes.txt"
    text.write_text("not a face\n")
    broken = tmp_path / "broken.png"  # an image by its name, not by its bytes: the server says so (415)
    broken.write_text("not a png either\n")
    images = Path(shared_search_env["FER_IMAGE_ROOT"]) / "test"
    config = {
        "upload": str(images / "happy" / "im1.png"),
        "emotion": FILTER,
        "big": str(big),
        "text": str(text),
        "broken": str(broken),
        "screenshot": str(tmp_path / "page.png"),
    }
    out = subprocess.run(
        ["node", str(DRIVER), server, API_KEY, json.dumps(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    (tmp_path / "scenarios.json").write_text(out.stdout)
    return json.loads(out.stdout.strip().splitlines()[-1]) | {"screenshot": tmp_path / "page.png"}


def emotions_of(state: dict) -> list[str]:
    return [caption.split(" · ")[0] for caption in state["results"]]


def searched(state: dict) -> list[str]:
    """The API requests of a scenario, images left out."""
    return [r for r in state["requests"] if " /images/" not in r]


@pytest.mark.timeout(300)
def test_uploading_a_face_on_the_page_shows_results(page):
    upload = page["upload"]
    assert len(upload["results"]) == 5 and all(e in TEST_EMOTIONS for e in emotions_of(upload))
    assert upload["images_complete"] and upload["error"] == "" and upload["query_shown"]
    assert upload["prediction"].startswith("Predicted: ") and page["screenshot"].stat().st_size > 10_000
    # One bar per emotion from the promoted emotion_model, widths (percent) summing to 100.
    assert sorted(e for e, _ in upload["scores"]) == sorted(TEST_EMOTIONS)
    assert sum(width for _, width in upload["scores"]) == pytest.approx(100, abs=0.5)
    assert page["emotions"] == ["", *sorted(TEST_EMOTIONS)]
    assert page["problems"] == []  # no script error, nothing the CSP blocked


def test_one_upload_is_one_request(page):
    """Neighbours and prediction from one POST /search?predict=true; the result images fetched with the key."""
    upload = page["upload"]
    assert upload["posts"] == ["POST /search?k=5&space=expression&predict=true"]
    assert searched(upload) == upload["posts"]
    assert sorted(r.split(" ")[0] for r in upload["requests"] if " /images/" in r) == ["GET"] * 5


def test_a_result_searches_from_its_stored_image(page):
    """Click (or Enter on) a result: GET /similar/<its id> with the page's k and space, new results shown."""
    for name, previous in (("click", page["upload"]), ("keyboard", page["click"])):
        state = page[name]
        assert previous["focusable"]
        assert searched(state) == [f"GET /similar/{state['clicked']}?k=5&space=expression"], name
        assert state["posts"] == [] and state["error"] == "" and state["images_complete"] and state["query_shown"]
        assert len(state["results"]) == 5 and state["clicked"] not in state["ids"]
        assert state["ids"] != previous["ids"] and f"#{state['clicked']}" in state["face"]
        assert state["prediction"] == "" and state["scores"] == []


def test_the_emotion_filter_gives_only_that_emotion(page):
    for name in ("filtered", "filtered_click"):
        state = page[name]
        assert len(state["results"]) == 5 and set(emotions_of(state)) == {FILTER}, name
        assert f"emotion={FILTER}" in searched(state)[0] and state["error"] == ""
    assert page["filtered"]["posts"] == [f"POST /search?k=5&space=expression&emotion={FILTER}&predict=true"]
    assert set(emotions_of(page["upload"])) != {FILTER}  # the filter made the difference


def test_a_file_over_the_limit_is_refused_without_uploading(page):
    state = page["too_large"]
    assert state["requests"] == [] and state["results"] == []
    assert state["error"].startswith("huge.png is too large (5.0 MB)") and "5,000,000 bytes" in state["error"]
    # The server's own refusal (413, or the connection closed mid-upload) reads the same.
    refused = page["refused_by_server"]
    assert len(refused["posts"]) == 1 and refused["error"].startswith("huge.png is too large")


def test_a_file_that_is_not_an_image_is_refused(page):
    state = page["not_image"]
    assert state["requests"] == [] and state["results"] == []
    assert state["error"].startswith("notes.txt is not an image (text/plain)")
    # Named like an image: uploaded, and the server's 415 detail shown.
    broken = page["broken"]
    assert len(broken["posts"]) == 1 and broken["results"] == [] and broken["prediction"] == ""
    assert broken["error"].startswith("broken.png is not a usable image: ")


def test_a_wrong_key_is_named(page):
    assert page["key_changed_error"] == KEY_MESSAGE
    state = page["wrong_key"]
    assert state["error"] == KEY_MESSAGE and state["results"] == [] and len(state["posts"]) == 1
