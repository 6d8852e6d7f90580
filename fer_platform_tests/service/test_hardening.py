"""The service under hostile input, on a live server over loopback: key and size before the body, bounded
decoding, validated parameters, safe responses, slow connections closed."""

import os
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from fer_platform.settings import load_settings
from fer_platform_tests.deployment import free_port, start, stop, wait_for_port
from fer_platform_tests.populated import API_KEY
from fer_platform_tests.service.clients import chunked, raw_request
from fer_platform_tests.service.hostile import CORPUS, float_tiff_bomb

AUTH = {"Authorization": f"Bearer {API_KEY}"}
HEADER_TIMEOUT_S = 2
MEMORY_BOUND_MB = 2500  # peak RSS of the server after 16 concurrent float-TIFF bombs (measured: BENCHMARKS.md)


@pytest.fixture(scope="module")
def server(search_env, tmp_path_factory):
    """``fer-platform serve`` on a free port; yields (base URL, pid)."""
    port = free_port()
    env = os.environ | search_env | {"FER_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S)}
    proc = start(
        [str(Path(sys.executable).parent / "fer-platform"), "serve", "--port", str(port)],
        env,
        tmp_path_factory.mktemp("serve") / "serve.log",
    )
    try:
        wait_for_port(port, proc, timeout=120)
        yield f"http://127.0.0.1:{port}", proc.pid, port
    finally:
        stop(proc)


def test_a_body_without_the_key_is_refused_before_it_is_read(server):
    _, _, port = server
    head = (
        b"POST /search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: multipart/form-data\r\n\r\n"
    )
    started = time.monotonic()
    response, sent = raw_request(port, head, chunked(300_000_000))
    assert response.startswith(b"HTTP/1.1 401") and sent < 10_000_000 and time.monotonic() - started < 5


def test_an_oversize_body_with_the_key_is_cut_off_at_the_limit(server):
    _, _, port = server
    limit = load_settings().max_upload_bytes
    declared = b"POST /search HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 300000000\r\n\r\n"
    response, _ = raw_request(port, declared % API_KEY.encode())
    assert response.startswith(b"HTTP/1.1 413")
    streamed = b"POST /search HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n"
    response, sent = raw_request(port, streamed % API_KEY.encode(), chunked(300_000_000))
    assert response.startswith(b"HTTP/1.1 413") and sent < limit + 20_000_000


@pytest.mark.parametrize("name", list(CORPUS))
def test_hostile_uploads_get_their_status(server, name):
    url, _, _ = server
    make, status = CORPUS[name]
    response = httpx.post(f"{url}/search", files={"file": (f"{name}.bin", make())}, headers=AUTH, timeout=60)
    assert response.status_code == status, response.text
    assert response.headers["x-content-type-options"] == "nosniff"


def peak_rss_mb(pid: int) -> float:
    """VmHWM of the server and its children (uvicorn runs in the ``fer-platform`` process itself)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024


def test_sixteen_concurrent_bombs_stay_within_the_memory_bound(server):
    url, pid, _ = server
    bomb = float_tiff_bomb()

    def send(_):
        files = {"file": ("bomb.tiff", bomb)}
        return httpx.post(f"{url}/predict", files=files, headers=AUTH, timeout=120)

    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(send, range(16)))
    assert {r.status_code for r in responses} <= {415, 503}
    assert all(r.headers.get("retry-after") for r in responses if r.status_code == 503)
    assert peak_rss_mb(pid) < MEMORY_BOUND_MB


@pytest.mark.parametrize("emotion", ["ha\x00ppy", "HAPPY", "", "happy\u202e", "x" * 300])
def test_emotion_must_be_a_stored_one(server, search_env, emotion):
    url, _, _ = server
    image = Path(search_env["FER_IMAGE_ROOT"], "test", "happy", "im0.png").read_bytes()
    response = httpx.post(f"{url}/search", params={"emotion": emotion}, files={"file": image}, headers=AUTH)
    assert response.status_code == 422
    if "\x00" not in emotion:
        assert "angry, happy, sad" in response.json()["detail"]


def test_images_serves_only_images_with_the_sniffed_type(server, search_env):
    url, _, port = server
    lake = Path(load_settings().resolved_lake_url) / "raw" / "images" / "fer2013" / "train" / "happy"
    (lake / "page.html").write_bytes(CORPUS["html_png_polyglot"][0]())
    (lake / "notes.svg").write_bytes(CORPUS["svg"][0]())
    polyglot = httpx.get(f"{url}/images/raw/images/fer2013/train/happy/page.html", headers=AUTH)
    assert polyglot.status_code == 200 and polyglot.headers["content-type"] == "image/png"
    assert polyglot.headers["x-content-type-options"] == "nosniff"
    for path in ("raw/images/fer2013/train/happy/notes.svg", "raw/images/fer2013/train", "raw/images/fer2013/train/"):
        assert httpx.get(f"{url}/images/{path}", headers=AUTH).status_code == 404, path
    head = b"GET /images/raw/images/fer2013/../../../etc/passwd HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n"
    response, _ = raw_request(port, head % API_KEY.encode())
    assert response.startswith(b"HTTP/1.1 404")


def test_every_response_is_safe_to_render(server):
    url, _, _ = server
    page = httpx.get(f"{url}/")
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'sha256-" in policy and "unsafe-inline" not in policy
    for response in (page, httpx.get(f"{url}/healthz"), httpx.get(f"{url}/openapi.json")):
        assert response.headers["x-content-type-options"] == "nosniff" and response.headers["x-frame-options"] == "DENY"


def test_a_connection_sending_half_its_headers_is_closed(server):
    _, _, port = server
    with socket.create_connection(("127.0.0.1", port), timeout=HEADER_TIMEOUT_S * 5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        assert sock.recv(1024) == b""  # closed by the server, no answer
        assert time.monotonic() - started < HEADER_TIMEOUT_S * 3
