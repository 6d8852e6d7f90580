"""Service hardening benchmark: this checkout's service against the one at ``--before`` (a git revision, run
from a worktree), side by side on one platform built by the demo:

- peak RSS idle, after 16 concurrent valid queries, after 16 concurrent float-TIFF bombs and 16 concurrent
  uploads of the largest image the decoder accepts;
- time and body bytes sent until a 300 MB chunked upload without a key is refused;
- ``/search`` requests/s and p50/p99 latency with 16 and 32 clients.

    python -m fer_platform_tests.bench service [--before 350ce62] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from PIL import Image

from fer_platform_tests.bench.search import load_test, percentile
from fer_platform_tests.support.servers.deployment import REPO, free_port, start, stop, wait_for_port
from fer_platform_tests.support.service.clients import chunked, raw_request
from fer_platform_tests.support.service.hostile import encoded, float_tiff_bomb

KEY = "bench-key"


def demo_platform(work: Path, per_class: int) -> dict[str, str]:
    """A platform built by the demo under ``work`` (random weights, a short emotion_model training, the key
    ``KEY``); its environment, also set in this process."""
    from fer_platform.demo import run_demo  # heavy imports only when a benchmark runs
    from fer_platform.settings import load_settings

    env = os.environ | {
        "FER_HOME": str(work / "home"),
        "FER_WEIGHTS": "random",
        "FER_API_KEY": KEY,
        "FER_TRAIN_BUDGET_MINUTES": "0.3",
        "DAGSTER_HOME": str(work / "dagster"),
    }
    os.environ.update(env)
    (work / "dagster").mkdir()
    run_demo(load_settings(), per_class, weights_explicit=True)
    return env


def memory_mb(pid: int, field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of a process, in MB."""
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith(field))
    return int(line.split()[1]) / 1024


def concurrently(url: str, route: str, body: bytes, count: int = 16) -> list[int]:
    def send(_: int) -> int:
        files = {"file": ("q", body)}
        return httpx.post(
            f"{url}{route}", files=files, headers={"Authorization": f"Bearer {KEY}"}, timeout=300
        ).status_code

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(send, range(count)))


def statuses(codes: list[int]) -> str:
    return " ".join(f"{code}x{codes.count(code)}" for code in sorted(set(codes)))


def largest_accepted() -> bytes:
    """The largest image the decoder accepts: 16 Mpx of RGB noise-free PNG (a few KB on the wire)."""
    return encoded(Image.new("RGB", (4096, 4096), (90, 120, 200)), "PNG")


def multipart_flood(total: int):
    """A well-formed multipart upload of ``total`` zero bytes, chunked: what a parser would spool in full."""
    part = b'--flood\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n\r\n'
    yield b"%x\r\n" % len(part) + part + b"\r\n"
    yield from chunked(total)


def refuse_time(port: int) -> tuple[float, int, str]:
    """(seconds until the server answers, body bytes sent by then, its status line) for 300 MB without a key."""
    head = (
        b"POST /search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: multipart/form-data; boundary=flood\r\n\r\n"
    )
    started = time.perf_counter()
    response, sent = raw_request(port, head, multipart_flood(300_000_000), read_timeout=300)
    return time.perf_counter() - started, sent, response.split(b"\r\n", 1)[0].decode(errors="replace")


def measure(code: Path, env: dict, work: Path, image: bytes, seconds: float) -> dict:
    """Every figure for the service in ``code`` (a checkout), started fresh."""
    port = free_port()
    # -P: the checkout comes from PYTHONPATH, not from the current folder
    command = [sys.executable, "-P", "-c", "from fer_platform.cli import main; main()", "serve", "--port", str(port)]
    server = start(command, env | {"PYTHONPATH": str(code)}, work / f"serve-{code.name}.log")
    figures: dict = {}
    try:
        wait_for_port(port, server, timeout=180)
        url = f"http://127.0.0.1:{port}"
        asyncio.run(load_test(url, KEY, image, 2, 3))  # warm-up: models, pool
        figures["idle"] = memory_mb(server.pid, "VmRSS")
        figures["valid"] = (concurrently(url, "/search", image), memory_mb(server.pid, "VmHWM"))
        figures["refuse"] = refuse_time(port)
        for clients in (16, 32):
            ok, errors, ms = asyncio.run(load_test(url, KEY, image, clients, seconds))
            figures[clients] = (ok / seconds, percentile(ms, 50), percentile(ms, 99), errors)
        figures["bombs"] = (concurrently(url, "/predict", float_tiff_bomb()), memory_mb(server.pid, "VmHWM"))
        figures["largest"] = (concurrently(url, "/predict", largest_accepted()), memory_mb(server.pid, "VmHWM"))
        figures["after"] = memory_mb(server.pid, "VmRSS")
    finally:
        stop(server)
    return figures


def report(results: dict[str, dict]) -> None:
    print("| measure | " + " | ".join(results) + " |\n|---|" + "---:|" * len(results))
    rows = {
        "RSS idle (MB)": lambda f: f"{f['idle']:.0f}",
        "peak RSS after 16 concurrent valid /search (MB)": lambda f: f"{f['valid'][1]:.0f}",
        "peak RSS after 16 concurrent float-TIFF bombs (MB)": lambda f: f"{f['bombs'][1]:.0f}",
        "bomb statuses": lambda f: statuses(f["bombs"][0]),
        "peak RSS after 16 concurrent 4096x4096 RGB PNGs (MB)": lambda f: f"{f['largest'][1]:.0f}",
        "4096x4096 PNG statuses": lambda f: statuses(f["largest"][0]),
        "RSS at the end (MB)": lambda f: f"{f['after']:.0f}",
        "300 MB body without key: seconds to the 401": lambda f: f"{f['refuse'][0]:.2f}",
        "300 MB body without key: MB sent before the 401": lambda f: f"{f['refuse'][1] / 1e6:.1f}",
        "300 MB body without key: answer": lambda f: f["refuse"][2],
        **{
            f"/search, {c} clients: req/s, p50 ms, p99 ms, errors": (
                lambda f, c=c: "{:.1f}, {:.0f}, {:.0f}, {}".format(*f[c])
            )
            for c in (16, 32)
        },
    }
    for name, cell in rows.items():
        print(f"| {name} | " + " | ".join(cell(f) for f in results.values()) + " |")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench service")
    parser.add_argument("--before", default="350ce62", help="revision whose service is measured as 'before'")
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = demo_platform(work, 20)
        image = (work / "home" / "images" / "test" / "happy" / "im0.png").read_bytes()
        before = work / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(before), args.before], cwd=REPO, check=True)
        try:
            results = {
                f"before ({args.before})": measure(before, env, work, image, args.seconds),
                "after (this checkout)": measure(REPO, env, work, image, args.seconds),
            }
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=REPO, check=False)
        report(results)
