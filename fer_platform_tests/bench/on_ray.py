"""Ray benchmark (R1-R3 of BENCHMARKS.md), side by side in one run on the same synthetic images:

- R1: a local Ray instance (2 actors x 1 thread) vs this process (2 torch threads), same files, same cores;
- R2: two 1-CPU worker nodes vs one (a head with no CPUs schedules), one 1-thread actor per node;
- R3: two nodes with one SIGKILLed half-way vs none: run time, and every image embedded exactly once;
- R4: the two nodes on another host (a network namespace joined by a virtual link), the driver here, through
  Ray Client, vs the same host.

The clusters run inside a network namespace of their own (the benchmark re-executes itself there), so no node
talks over the machine's external address. Rates count whole runs, actor start-up included, as a step sees them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from fer_platform.embeddings.embedder import embed_files
from fer_platform.embeddings.model import load_model
from fer_platform.embeddings.on_ray import RayEmbedder
from fer_platform.ray_cluster.connection import connected
from fer_platform.ray_cluster.pipelines import Pool
from fer_platform.sample_data import write_sample_dataset
from fer_platform_tests.support.servers.netns import unshare_prefix
from fer_platform_tests.support.servers.ray_nodes import RAY_ENV, RayTestCluster
from fer_platform_tests.support.servers.two_hosts import CLUSTER_IP, ClusterHost


@dataclass
class Run:
    """One pass: total seconds (connection and actor start-up included), seconds to the first result, and the
    images that arrived after it (their rate is the steady state)."""

    seconds: float
    first_s: float
    after_first: int
    seen: list[int]

    def rate(self, n: int) -> float:
        return n / self.seconds

    def steady_rate(self) -> float:
        return self.after_first / max(self.seconds - self.first_s, 1e-9)


def ray_run(address: str, paths: list[Path], actors: tuple[int, int], on_half=None) -> Run:
    """One RayEmbedder pass over ``paths``; ``on_half`` runs once half of them have arrived."""
    model = load_model("random", "cpu", "fp32")
    embedder = RayEmbedder(model.model_id, "random", "cpu", "fp32", 32, Pool(actors, actors[1], 0.0, 600, 600))
    seen: list[int] = []
    first_s, first_count = 0.0, 0
    start = time.perf_counter()
    with connected(address):
        for result in embedder.stream(paths):
            if not seen:
                first_s, first_count = time.perf_counter() - start, len(result.indices)
            seen += result.indices
            if on_half and len(seen) >= len(paths) // 2:
                threading.Thread(target=on_half).start()
                on_half = None
    return Run(time.perf_counter() - start, first_s, len(seen) - first_count, seen)


def in_process(paths: list[Path]) -> float:
    torch.set_num_threads(2)
    start = time.perf_counter()
    result = embed_files(load_model("random", "cpu", "fp32"), paths, 32, 0)
    assert len(result.indices) == len(paths)
    return time.perf_counter() - start


def cluster_of(folder: Path, workers: int) -> RayTestCluster:
    cluster = RayTestCluster(folder / f"nodes{workers}", dict(os.environ))
    cluster.folder.mkdir(parents=True)
    cluster.start(workers)
    return cluster


def measure(images: int, work: Path) -> None:
    os.environ.update(RAY_ENV)
    write_sample_dataset(work / "images", per_class=images, test_per_class=0, emotions=("happy",))
    paths = sorted((work / "images" / "train" / "happy").glob("*.png"))
    n = len(paths)
    local_s = in_process(paths)
    runs = {"R1 Ray local, 2 actors x 1 thread": ray_run("local", paths, (2, 2))}
    one = cluster_of(work, 1)
    try:
        runs["R2 one 1-CPU worker node, 1 actor"] = ray_run(one.address, paths, (1, 1))
    finally:
        one.stop()
    two = cluster_of(work, 2)
    try:
        runs["R2 two 1-CPU worker nodes, 2 actors"] = ray_run(two.address, paths, (2, 2))
        runs["R3 two nodes, one SIGKILLed half-way"] = ray_run(
            two.address, paths, (1, 2), on_half=lambda: two.kill("worker1")
        )
    finally:
        two.stop()
    runs |= from_another_host(work, paths)
    print(f"images={n} batch=32 weights=random fp32, 2 cores")
    print("| run | seconds | images/s (whole run) | first result after (s) | images/s after it |\n|---|---:|---:|---:|---:|")
    print(f"| R1 in process, 2 torch threads | {local_s:.1f} | {n / local_s:.1f} | - | - |")
    for name, run in runs.items():
        print(f"| {name} | {run.seconds:.1f} | {run.rate(n):.1f} | {run.first_s:.1f} | {run.steady_rate():.1f} |")
    r1, one_run, two_run, killed, client = runs.values()
    seen = killed.seen
    print(
        f"\nR1 Ray local / in process: whole run {local_s / r1.seconds:.2f}, steady {r1.steady_rate() * local_s / n:.2f}"
        f" (target >= 0.85)\n"
        f"R2 two nodes / one node: whole run {one_run.seconds / two_run.seconds:.2f}, "
        f"steady {two_run.steady_rate() / one_run.steady_rate():.2f} (target >= 1.7)\n"
        f"R3 killed / not killed (time) = {killed.seconds / two_run.seconds:.2f}; rows {len(set(seen))}/{n}, "
        f"{len(seen) - len(set(seen))} delivered twice (kept once), {n - len(set(seen))} missing\n"
        f"per-actor steady rate (1 node, 1 thread) = {one_run.steady_rate():.1f} img/s\n"
        f"R4 another host, Ray Client / same host: whole run {two_run.seconds / client.seconds:.2f}, "
        f"first result {client.first_s:.1f} s vs {two_run.first_s:.1f} s"
    )


def from_another_host(work: Path, paths: list[Path]) -> dict[str, Run]:
    """R4: the two worker nodes on a second host (``two_hosts.ClusterHost``), the driver here, reached through
    Ray Client (what the deployments ship)."""
    host = ClusterHost()
    host.start()
    far = RayTestCluster(work / "far", dict(os.environ), host_ip=CLUSTER_IP, prefix=host.prefix)
    far.folder.mkdir(parents=True)
    runs = {}
    try:
        far.start(2)
        runs["R4 two nodes on another host, Ray Client"] = ray_run(far.client_address, paths, (2, 2))
    finally:
        far.stop()
        host.stop()
    return runs


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m fer_platform_tests.bench ray")
    parser.add_argument("--images", type=int, default=1200)
    args = parser.parse_args(argv)
    if os.environ.get("FER_NETNS") != "1":
        inner = f"ip link set lo up && exec {sys.executable} -m fer_platform_tests.bench ray --images {args.images}"
        env = os.environ | {"FER_NETNS": "1"}
        sys.exit(subprocess.run([*unshare_prefix(), "sh", "-c", inner], env=env).returncode)
    with tempfile.TemporaryDirectory() as work:
        measure(args.images, Path(work))
