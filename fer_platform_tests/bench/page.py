"""Search page benchmark: the time from choosing a file to every result shown (all result images complete), the
page at ``--before`` (default ``7c04968^``: it uploads the image twice, to ``/search`` and ``/predict`` in
parallel, and fetches the result images one after another) against this checkout's page (one
``POST /search?predict=true``, every result image fetched concurrently).

How: ONE service (this checkout's, ``fer-platform serve`` on a platform built by the demo) and ONE headless
Chromium (``fer_platform_tests/service/page_bench.mjs``). The old page is not served by an old service from a
worktree: its ``page.html`` (``git show REV:fer_platform/service/page.html``) is served in place of ``/``
through Playwright's ``page.route``, with the CSP the current service computes for it; its ``/search`` and
``/predict`` calls go to the same current service. So the figures measure the page's behaviour alone, with the
same server, data and machine. Runs alternate (before/after, after/before, ...), each on a fresh page with the
key already entered, the same query image for both pages in a run; a warm-up pair is not counted.

    python -m fer_platform_tests.bench page [--before 7c04968^] [--runs 20] [--k 5] [--per-class 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from fer_platform_tests.bench.search import percentile
from fer_platform_tests.bench.service import KEY, demo_platform
from fer_platform_tests.support.servers.deployment import REPO, free_port, start, stop, wait_for_port

DRIVER = REPO / "fer_platform_tests" / "service" / "page_bench.mjs"
PAGE = "fer_platform/service/page.html"
CLI = "from fer_platform.cli import main; main()"


def old_page(revision: str, into: Path) -> tuple[Path, str]:
    """The page at ``revision``, written to a file, and the CSP the service computes for it (its own policy,
    with the old page's inline script and style hashes in place of the current page's)."""
    from fer_platform.service.app import inline_hashes, page_response

    html = subprocess.run(
        ["git", "show", f"{revision}:{PAGE}"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout
    path = into / "before.html"
    path.write_text(html)
    policy = page_response().headers["content-security-policy"]
    current = (REPO / PAGE).read_text()
    for tag in ("script", "style"):
        policy = policy.replace(inline_hashes(current, tag), inline_hashes(html, tag))
    return path, policy


def report(before: str, figures: dict, k: int) -> None:
    """Per page: ms from choosing the file to every result image shown (median, p90), and its two parts: to the
    last upload's answer, then from it to the images shown (medians)."""
    print(
        f"| page (k={k}) | runs | POSTs per upload | median ms | p90 ms | to the answer(s), median ms "
        "| answer to images shown, median ms |"
    )
    print("|---|---:|---|---:|---:|---:|---:|")
    total = {}
    for variant, name in (("before", f"before ({before})"), ("after", "after (this checkout)")):
        runs = figures[variant]
        total[variant] = [r["total"] for r in runs]
        posts = figures["posts"][variant]
        answered = statistics.median(r["answered"] for r in runs)
        rest = statistics.median(r["total"] - r["answered"] for r in runs)
        print(
            f"| {name} | {len(runs)} | {len(posts)} ({' + '.join(posts)}) | {statistics.median(total[variant]):.0f} | "
            f"{percentile(total[variant], 90):.0f} | {answered:.0f} | {rest:.0f} |"
        )
    ratio = statistics.median(total["before"]) / statistics.median(total["after"])
    ratio90 = percentile(total["before"], 90) / percentile(total["after"], 90)
    print(f"\nbefore/after: {ratio:.2f}x on the median, {ratio90:.2f}x on p90")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench page")
    parser.add_argument("--before", default="7c04968^", help="revision whose page.html is measured as 'before'")
    parser.add_argument("--runs", type=int, default=20, help="measurements of each page")
    parser.add_argument("--k", type=int, default=5, help="results per search (the page's k field)")
    parser.add_argument("--per-class", type=int, default=20, help="images per emotion in the demo platform")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fer-bench-page-") as tmp:
        work = Path(tmp)
        env = demo_platform(work, args.per_class)
        images = sorted(str(p) for p in (work / "home" / "images" / "test").glob("*/*.png"))
        before_html, before_csp = old_page(args.before, work)
        port = free_port()
        command = [sys.executable, "-P", "-c", CLI, "serve", "--port", str(port)]  # -P: the checkout from PYTHONPATH
        server = start(command, env | {"PYTHONPATH": str(REPO)}, work / "serve.log")
        try:
            wait_for_port(port, server, timeout=180)
            config = {
                "before_html": str(before_html),
                "before_csp": before_csp,
                "images": images,
                "runs": args.runs,
                "k": args.k,
            }
            out = subprocess.run(
                ["node", str(DRIVER), f"http://127.0.0.1:{port}/", KEY, json.dumps(config)],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            stop(server)
        if out.returncode != 0:
            sys.exit(f"page_bench.mjs failed:\n{out.stderr[-3000:]}")
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        report(args.before, figures, args.k)
