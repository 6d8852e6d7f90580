"""Apply each mutation of the catalogue, one at a time, to a temporary copy of the repository, run the tests
that cover its claim there, and print which were caught (the tests failed) and which survived.

    python -m fer_platform_tests.mutations [--only NAME ...] [--list] [--timeout 900]

The copy is imported instead of this checkout (``PYTHONPATH`` and the working directory point at it, which the
processes the tests start inherit); ``node_modules`` is linked, not copied. Exit status 1 when a mutation
survived or its tests could not run (pytest neither passed nor failed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fer_platform_tests.mutations.catalogue import MUTATIONS, Mutation

REPO = Path(__file__).resolve().parents[2]
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "node_modules", "__pycache__", "*.egg-info", ".pytest_cache")


def copy_repository(into: Path) -> Path:
    """A copy of the checkout to mutate, that Python (and every process the tests start) imports from."""
    copy = into / "repo"
    shutil.copytree(REPO, copy, ignore=NOT_COPIED)
    if (REPO / "node_modules").is_dir():
        (copy / "node_modules").symlink_to(REPO / "node_modules")
    found = subprocess.run(
        [sys.executable, "-c", "import fer_platform; print(fer_platform.__file__)"],
        cwd=copy, env=environment(copy), capture_output=True, text=True, check=True,
    ).stdout.strip()
    if not Path(found).is_relative_to(copy):
        raise RuntimeError(f"the copy is not the code imported: fer_platform comes from {found}")
    return copy


def environment(copy: Path) -> dict[str, str]:
    return os.environ | {"PYTHONPATH": str(copy)}


def apply(copy: Path, mutation: Mutation) -> str:
    """Replace the mutation's snippet in the copy; returns the file's original text."""
    path = copy / mutation.path
    original = path.read_text()
    if original.count(mutation.old) != 1:
        raise ValueError(f"{mutation.name}: the snippet occurs {original.count(mutation.old)} times in {mutation.path}")
    path.write_text(original.replace(mutation.old, mutation.new))
    return original


def run_tests(copy: Path, tests: tuple[str, ...], work: Path, timeout: float) -> tuple[int, str]:
    """pytest's exit status on ``tests`` in the copy (124 after ``timeout``), and its last lines."""
    shutil.rmtree(work / "basetemp", ignore_errors=True)
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
               f"--basetemp={work / 'basetemp'}", *tests]
    try:
        done = subprocess.run(command, cwd=copy, env=environment(copy), capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return 124, "timed out"
    tail = [line for line in done.stdout.splitlines() if line.strip()][-1:]
    return done.returncode, " ".join(tail)


def verdict(status: int) -> str:
    return {0: "SURVIVED", 1: "caught"}.get(status, f"error (pytest exit {status})")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m fer_platform_tests.mutations")
    parser.add_argument("--only", nargs="*", help="names of the mutations to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutations and their tests, run nothing")
    parser.add_argument("--timeout", type=float, default=900, help="seconds for one mutation's tests")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    if args.list:
        for m in chosen:
            print(f"{m.claim}: {m.name} ({m.path}) -> {', '.join(m.tests)}")
        return 0
    started, failed = time.monotonic(), 0
    with tempfile.TemporaryDirectory(prefix="fer-mutations-") as tmp:
        copy = copy_repository(Path(tmp))
        print("| claim | mutation | tests | result | seconds |\n|---|---|---|---|---:|", flush=True)
        for mutation in chosen:
            original = apply(copy, mutation)
            began = time.monotonic()
            try:
                status, tail = run_tests(copy, mutation.tests, Path(tmp), args.timeout)
            finally:
                (copy / mutation.path).write_text(original)
            failed += status != 1
            tests = "<br>".join(f"`{t.removeprefix('fer_platform_tests/')}`" for t in mutation.tests)
            print(f"| {mutation.claim} | {mutation.name} | {tests} | {verdict(status)} | "
                  f"{time.monotonic() - began:.0f} |", flush=True)
    caught = len(chosen) - failed
    print(f"\n{caught} of {len(chosen)} mutations caught in {(time.monotonic() - started) / 60:.1f} min")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
