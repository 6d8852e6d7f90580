"""The README's first command on embedded defaults: sample data, embedded PostgreSQL, every partition."""

import json
import os
import socket
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import httpx
import psycopg
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from fer_platform.cli import main
from fer_platform.service.app import create_app
from fer_platform.service.schemas import SearchAnswer
from fer_platform.settings import load_settings
from fer_platform_tests.support.populated import API_KEY
from fer_platform_tests.support.servers.deployment import free_port, start, stop, wait_for_port

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


@pytest.mark.slow  # the whole demo on embedded servers
def test_demo_on_embedded_defaults(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FER_", "DAGSTER_"))}
    # No FER_WEIGHTS and no cached ImageNet weights: offline, the demo falls back to random weights, loudly.
    env |= {"FER_HOME": str(tmp_path / "home"), "FER_BATCH_SIZE": "8", "TORCH_HOME": str(tmp_path / "torch")}
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
    # A quiet console: progress lines (standard output is a pipe here), summaries, warnings; no event stream.
    assert "angry: 2/2 images (100 %)" in proc.stdout and "angry upload: 2/2 files (100 %)" in proc.stdout
    assert "seconds per stage (with its checks): landed_images" in proc.stdout
    # Two images per emotion are too few to train the CNN: the demo says so and goes on.
    assert "train_emotion_model: skipped (too few images" in proc.stdout and "angry=2" in proc.stdout
    assert "STEP_SUCCESS" not in proc.stdout + proc.stderr and " - DEBUG - " not in proc.stderr
    assert "UNTRAINED weights" in proc.stderr  # warnings still reach the console
    assert len(proc.stdout.splitlines()) < 60
    serve_answers_search_as_printed(proc.stdout, env, tmp_path)
    # Run again, verbose: nothing new to embed, and Dagster's full event stream is back.
    again = subprocess.run(
        [str(BIN / "fer-platform"), "demo", "--verbose"], env=env, capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0 and "embedded=0" in again.stdout
    assert "STEP_SUCCESS" in again.stderr and len(again.stderr.splitlines()) > 300


def serve_answers_search_as_printed(demo_output: str, env: dict, tmp_path: Path) -> None:
    """The serve command the demo printed, run by a shell as printed (a port added), answers /search with 200."""
    (line,) = [line for line in demo_output.splitlines() if line.startswith("search:")]
    command = line.removeprefix("search:").strip().split("   (")[0]
    port = free_port()
    proc = start(["bash", "-c", f"{command} --port {port}"], env | {"FER_API_KEY": "k"}, tmp_path / "serve.log")
    try:
        wait_for_port(port, proc, timeout=120)
        image = next((tmp_path / "home" / "images" / "test" / "happy").glob("*.png")).read_bytes()
        answer = httpx.post(
            f"http://127.0.0.1:{port}/search", files={"file": image}, headers={"Authorization": "Bearer k"}, timeout=60
        )
        assert answer.status_code == 200 and answer.json()["results"], answer.text
    finally:
        stop(proc)


def test_search_command_prints_the_nearest_images(shared_search_env):
    image = Path(shared_search_env["FER_IMAGE_ROOT"]) / "test" / "sad" / "im0.png"
    result = CliRunner().invoke(main, ["search", str(image), "-k", "3", "--emotion", "sad"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "face: as-is" and len(lines) == 4
    assert all(" sad " in line and "raw/images/fer2013/train/sad/" in line for line in lines[1:])


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"fer-platform, version {version('fer_platform')}"


def test_search_command_json_is_the_api_s_answer(shared_search_env):
    """``search --space expression --json`` prints what ``POST /search?space=expression`` answers."""
    image = Path(shared_search_env["FER_IMAGE_ROOT"]) / "test" / "happy" / "im1.png"
    result = CliRunner().invoke(main, ["search", str(image), "--space", "expression", "--json", "-k", "4"])
    assert result.exit_code == 0, result.output
    with TestClient(create_app(load_settings())) as client:
        auth = {"Authorization": f"Bearer {API_KEY}"}
        api = client.post("/search?space=expression&k=4", files={"file": image.read_bytes()}, headers=auth).json()
    printed = SearchAnswer.model_validate_json(result.output).model_dump()
    assert printed == api and printed["space"] == "expression" and len(printed["results"]) == 4


def test_similar_command_searches_from_a_stored_image(shared_search_env):
    with psycopg.connect(shared_search_env["FER_REPLICA_DSN"]) as conn:
        row_id = conn.execute("SELECT min(id) FROM imagenes_fer WHERE emotion = 'sad'").fetchone()[0]
    result = CliRunner().invoke(main, ["similar", str(row_id), "-k", "3", "--emotion", "happy"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 3 and all(" happy " in line for line in lines) and f" {row_id} " not in result.output
    answer = json.loads(CliRunner().invoke(main, ["similar", str(row_id), "--json", "--space", "expression"]).output)
    assert answer["query_id"] == row_id and answer["face"] is None and len(answer["results"]) == 5


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["similar", "999999999"], "no stored image with id 999999999"),
        (["similar", "x"], "'x' is not a valid integer"),
        (["similar", "1", "-k", "0"], "0 is not in the range 1<=x<=100"),
        (["similar", "1", "--emotion", "bored"], "unknown emotion 'bored': the stored emotions are angry, happy, sad"),
        (["similar", "1", "--space", "colour"], "'colour' is not one of 'seed', 'expression'"),
    ],
)
def test_similar_command_refuses_bad_input_with_the_reason(shared_search_env, args, reason):
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0 and reason in result.output


def test_search_command_refuses_a_non_image(shared_search_env, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    result = CliRunner().invoke(main, ["search", str(bad)])
    assert result.exit_code != 0 and "notes.txt is not a usable image" in result.output


def test_serve_refuses_to_start_without_a_key(monkeypatch):
    monkeypatch.delenv("FER_API_KEY", raising=False)
    result = CliRunner().invoke(main, ["serve", "--port", "1"])
    assert result.exit_code != 0 and "FER_API_KEY is not set" in result.output


def test_models_lists_versions_and_promote_rolls_back(shared_search_env):
    listed = CliRunner().invoke(main, ["models"])
    assert listed.exit_code == 0, listed.output
    assert "v0001" in listed.output and "<- promoted" in listed.output and "vgg_small" in listed.output
    missing = CliRunner().invoke(main, ["promote", "v0099"])
    assert missing.exit_code != 0 and "registered: v0001" in missing.output
    again = CliRunner().invoke(main, ["promote", "v0001"])
    assert again.exit_code == 0 and "promoted emotion_model v0001" in again.output


def test_serve_refuses_a_pin_naming_no_version(shared_search_env, monkeypatch):
    """Refused before serving: the port given is taken, so a server that did start would fail to bind, at once
    and with another message, instead of serving forever."""
    monkeypatch.setenv("FER_MODEL_VERSION", "v0077")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = CliRunner().invoke(main, ["serve", "--port", str(taken.getsockname()[1])])
    assert result.exit_code != 0 and "'v0077' not found" in result.output and "registered: v0001" in result.output
