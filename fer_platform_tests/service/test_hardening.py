"""The service under hostile input, on a live server over loopback: key and size before the body, bounded
decoding, the admission bound, validated parameters, safe responses, slow connections closed.

The platform is the session's shared one, only read: the server of this module serves a copy of its lake (the
/images test writes into that copy), and the admission test starts a server of its own, so that no test depends on
another having run before it, or leaves anything another test sees.
"""

import os
import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from fer_platform.images.decode import MAX_PIXELS, MAX_WIDE_PIXELS
from fer_platform.service.app import DECODE_WORKERS
from fer_platform.service.guard import MULTIPART_OVERHEAD
from fer_platform.settings import load_settings
from fer_platform_tests.support.populated import API_KEY
from fer_platform_tests.support.service.clients import answer_within, chunk, chunked_body, raw_request
from fer_platform_tests.support.service.hostile import CORPUS, PIXEL_CAPS, largest_accepted
from fer_platform_tests.support.service.live import live_server, memory_mb, reset_peak

AUTH = {"Authorization": f"Bearer {API_KEY}"}
HEADER_TIMEOUT_S = 2
# A refusal decided from the headers (or from the bytes already counted) is answered within this, while the client
# sends nothing more: a server that waits for the rest of the body never answers at all.
ANSWER_WITHIN_S = 3
QUIET_S = 1  # how long a server that must still be waiting for the body is watched for a premature answer
SOME_BODY = b"\0" * 4096  # a few KB of body, then the client stops sending (the socket stays open)

# The admission test: a server with the app's own number of decode workers and a shorter queue, so that a few dozen
# concurrent uploads fill them; each upload is the largest image the decoder accepts, really decoded.
QUEUE = 14
CLIENTS = 32
# What one decode + face crop of the largest accepted image adds to the server's RSS: its 4096x4096 RGB pixels
# (48 MiB), the grayscale copy (16 MiB) and the face cascade's buffers; one request on a warm server measured
# +116 MB of peak RSS, rounded up.
DECODE_COST_MB = 150
# Beyond the decodes themselves: the freed blocks each decoding thread's malloc arena keeps, the thread stacks, the
# admitted uploads (~60 KB each, a few copies). Measured: the whole burst peaks at +306 MB with 2 workers, i.e.
# ~75 MB over 2 x 116; rounded up.
SLACK_MB = 150
# Peak RSS over the RSS before the burst: DECODE_WORKERS decodes at a time, 450 MB. Without the worker bound, the
# 16 admitted uploads decode at once: measured +560 MB for 8 of them on an already grown server, +1.7 GB for 24.
MEMORY_BOUND_MB = DECODE_WORKERS * DECODE_COST_MB + SLACK_MB


def limits() -> tuple[int, int]:
    """(FER_MAX_UPLOAD_BYTES, the largest body the guard lets through: that plus the multipart framing)."""
    limit = load_settings().max_upload_bytes
    return limit, limit + MULTIPART_OVERHEAD


@pytest.fixture(scope="module")
def lake(shared_search_env, tmp_path_factory) -> Path:
    """The module's own copy of the shared platform's lake (8 MB)."""
    copy = tmp_path_factory.mktemp("lake") / "lake"
    shutil.copytree(load_settings().resolved_lake_url, copy)
    return copy


@pytest.fixture(scope="module")
def server(shared_search_env, lake, tmp_path_factory):
    """``fer-platform serve`` on a free port, serving the module's lake; yields (base URL, pid, port)."""
    env = os.environ | shared_search_env | {"FER_LAKE_URL": str(lake), "FER_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S)}
    with live_server(env, tmp_path_factory.mktemp("serve") / "serve.log") as live:
        yield live.url, live.pid, live.port


def post_head(framing: bytes, key: bool) -> bytes:
    """A ``POST /search`` request head with ``framing`` (a Content-Length or Transfer-Encoding header)."""
    auth = b"Authorization: Bearer %s\r\n" % API_KEY.encode() if key else b""
    return (
        b"POST /search HTTP/1.1\r\nHost: x\r\n" + auth + framing + b"\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\n\r\n"
    )


def stalled(port: int, head: bytes, body: bytes, seconds: float = ANSWER_WITHIN_S) -> bytes:
    """Send ``head`` and ``body``, then nothing more with the connection open; the answer given by then."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head + body)
        return answer_within(sock, seconds)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_without_the_key_is_refused_before_it_is_read(server, framing):
    """The 401 comes while the client has sent 4 KB of a body it announced as far bigger, and sends no more."""
    _, _, port = server
    limit, _ = limits()
    if framing == "chunked":
        head, body = post_head(b"Transfer-Encoding: chunked", key=False), chunk(SOME_BODY)
    else:  # a length the guard accepts: only the key can refuse it
        head, body = post_head(b"Content-Length: %d" % limit, key=False), SOME_BODY
    response = stalled(port, head, body)
    assert response.startswith(b"HTTP/1.1 401"), response
    assert b"www-authenticate: bearer" in response.lower()


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(server):
    """Content-Length one byte over the guard's limit: 413 while the client has sent 4 KB and stopped; at the limit
    itself the server waits for the body (no early answer)."""
    _, _, port = server
    _, max_body = limits()
    over = stalled(port, post_head(b"Content-Length: %d" % (max_body + 1), key=True), SOME_BODY)
    assert over.startswith(b"HTTP/1.1 413"), over
    assert stalled(port, post_head(b"Content-Length: %d" % max_body, key=True), SOME_BODY, QUIET_S) == b""


def test_a_chunked_body_is_cut_off_one_byte_past_the_limit(server):
    """Without a Content-Length the body is counted as it arrives: after exactly the limit (upload limit + the
    multipart overhead) the server still waits; one byte more and the 413 comes, the client sending nothing else,
    so the body read before the answer is the limit + 1 byte (no socket buffer in the count: the client stops)."""
    _, _, port = server
    _, max_body = limits()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(post_head(b"Transfer-Encoding: chunked", key=True) + chunked_body(max_body))
        assert answer_within(sock, QUIET_S) == b""  # at the limit: not refused, waiting for more
        sock.sendall(chunk(b"\0"))
        response = answer_within(sock, ANSWER_WITHIN_S)
    assert response.startswith(b"HTTP/1.1 413"), response


@pytest.mark.parametrize("name", list(CORPUS))
def test_hostile_uploads_get_their_status(server, name):
    url, _, _ = server
    make, status = CORPUS[name]
    response = httpx.post(f"{url}/search", files={"file": (f"{name}.bin", make())}, headers=AUTH, timeout=60)
    assert response.status_code == status, response.text
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("name", list(PIXEL_CAPS))
def test_declared_pixels_are_bounded_before_decoding(server, name):
    """At each cap (16 Mpx, 4 Mpx for float pixels) the image is decoded and answered; one column over, it is
    refused from its header with the reason (not as a decoding failure)."""
    url, _, _ = server
    make, status = PIXEL_CAPS[name]
    response = httpx.post(f"{url}/predict", files={"file": (f"{name}.bin", make())}, headers=AUTH, timeout=60)
    assert response.status_code == status, response.text
    if status == 415:
        cap = MAX_WIDE_PIXELS if "tiff" in name else MAX_PIXELS
        assert "too large" in response.json()["detail"] and f"> {cap})" in response.json()["detail"]


@pytest.fixture
def small_admission_server(shared_search_env, tmp_path):
    """The app with ``Admission(DECODE_WORKERS, QUEUE)``, started for the test alone (its peak memory is its own)."""
    with live_server(os.environ | shared_search_env, tmp_path / "serve.log", (DECODE_WORKERS, QUEUE)) as live:
        yield live


def test_uploads_beyond_workers_and_queue_get_503_and_decoding_stays_within_the_memory_bound(small_admission_server):
    """32 concurrent uploads of the largest accepted image (each decoded to 48 MiB of pixels) on a server with 2
    decode workers and 14 queue places: the ones beyond are 503 with Retry-After, the others 200, and the server's
    peak RSS grows by no more than 2 decodes' worth."""
    live = small_admission_server
    image = largest_accepted()

    def send(start: threading.Barrier | None = None) -> httpx.Response:
        if start:
            start.wait()
        files = {"file": ("largest.png", image, "image/png")}
        return httpx.post(f"{live.url}/predict", files=files, headers=AUTH, timeout=120)

    assert send().status_code == 200  # warm: the models, the cascade and the thread pool are loaded
    reset_peak(live.pid)
    before = memory_mb(live.pid, "VmRSS")
    start = threading.Barrier(CLIENTS)
    with ThreadPoolExecutor(CLIENTS) as pool:
        responses = list(pool.map(lambda _: send(start), range(CLIENTS)))
    peak = memory_mb(live.pid, "VmHWM")
    codes = sorted(r.status_code for r in responses)
    print(f"statuses {codes}; RSS before {before:.0f} MB, peak {peak:.0f} MB (+{peak - before:.0f} MB)")
    refused = [r for r in responses if r.status_code == 503]
    assert set(codes) == {200, 503}, codes
    assert codes.count(200) >= DECODE_WORKERS + QUEUE, codes  # every place was used before anyone was refused
    assert all(r.headers.get("retry-after") == "1" and "busy" in r.json()["detail"] for r in refused)
    assert peak - before < MEMORY_BOUND_MB, f"peak {peak:.0f} MB, {peak - before:.0f} MB over {before:.0f} MB"


@pytest.mark.parametrize("emotion", ["ha\x00ppy", "HAPPY", "", "happy\u202e", "x" * 300])
def test_emotion_must_be_a_stored_one(server, shared_search_env, emotion):
    url, _, _ = server
    image = Path(shared_search_env["FER_IMAGE_ROOT"], "test", "happy", "im0.png").read_bytes()
    response = httpx.post(f"{url}/search", params={"emotion": emotion}, files={"file": image}, headers=AUTH)
    assert response.status_code == 422
    if "\x00" not in emotion:
        assert "angry, happy, sad" in response.json()["detail"]


def test_images_serves_only_images_with_the_sniffed_type(server, lake):
    url, _, port = server
    folder = lake / "raw" / "images" / "fer2013" / "train" / "happy"
    (folder / "page.html").write_bytes(CORPUS["html_png_polyglot"][0]())
    (folder / "notes.svg").write_bytes(CORPUS["svg"][0]())
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
