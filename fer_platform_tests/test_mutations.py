"""The mutation catalogue still applies to the code: every snippet occurs exactly once in its file, the change
is a change, and every test it names exists (``python -m fer_platform_tests.mutations`` runs them)."""

import subprocess
import sys

import pytest

from fer_platform_tests.mutations.__main__ import REPO
from fer_platform_tests.mutations.catalogue import MUTATIONS


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_each_mutation_applies_to_exactly_one_place(mutation):
    text = (REPO / mutation.path).read_text()
    assert text.count(mutation.old) == 1, f"{mutation.path} no longer holds the snippet of {mutation.name!r}"
    assert mutation.new != mutation.old and mutation.tests


def test_every_claim_has_a_mutation():
    claims = {m.claim for m in MUTATIONS}
    for claim in ("auth before body", "size before body", "decode bound", "admission", "atomic lake write",
                  "registry exclusivity", "resume from the store", "replica sync transaction", "run-key dedup",
                  "pin refusal"):
        assert claim in claims
    assert {"blocking check recall_at_10", "blocking check not_worse_than_served"} <= claims


@pytest.mark.slow  # collects the whole suite in a subprocess
def test_every_named_test_exists():
    tests = sorted({t for m in MUTATIONS for t in m.tests})
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", *tests],
        cwd=REPO, capture_output=True, text=True, check=False,
    )
    assert collected.returncode == 0, collected.stdout[-2000:] + collected.stderr[-2000:]
