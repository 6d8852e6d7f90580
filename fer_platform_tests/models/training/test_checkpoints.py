"""Resumable training: a run SIGKILLed mid-way continues from its last checkpoint and ends exactly where an
uninterrupted run ends; damaged or foreign checkpoints are ignored with a warning; a finished run's folder goes."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from fer_platform.models.faces import load_split
from fer_platform.models.training.checkpoints import CHECKPOINT, Checkpoints
from fer_platform.models.training.recipe import Recipe
from fer_platform.models.training.train import train_model
from fer_platform.sample_data import write_sample_dataset
from fer_platform.storage.location import open_location
from fer_platform_tests.support.constants import REPO

pytestmark = pytest.mark.slow  # trainings killed and resumed in subprocesses

RECIPES = {
    "plateau": Recipe(arch="vgg_small", budget_s=600, max_epochs=5, schedule="plateau"),
    "one_cycle": Recipe(arch="vgg_small", budget_s=600, max_epochs=9, schedule="one_cycle", epochs=5),
}
RECIPE = RECIPES["plateau"]
MODEL = "emotion_model"
TRAIN = """
import sys, torch
from fer_platform.models.training.checkpoints import Checkpoints
from fer_platform.models.faces import load_split
from fer_platform.models.training.recipe import Recipe
from fer_platform.models.training.train import train_model
from fer_platform.storage.location import open_location
torch.set_num_threads(1)
faces = load_split(__import__("pathlib").Path(sys.argv[1]), "train")
from fer_platform_tests.models.training.test_checkpoints import RECIPES
recipe = RECIPES[sys.argv[3]]
checkpoints = Checkpoints(open_location(sys.argv[2]), "emotion_model", faces.digest, recipe)
train_model(faces, recipe, torch.device("cpu"), lambda e, a: __import__("time").sleep(1.5), checkpoints)
"""


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    root = tmp_path_factory.mktemp("faces")
    write_sample_dataset(root, per_class=20, test_per_class=2, emotions=("angry", "happy", "sad"))
    return root, load_split(root, "train")


def same_weights(a, b) -> bool:
    return all(torch.equal(t, b.state_dict()[name]) for name, t in a.state_dict().items())


@pytest.mark.parametrize("schedule", list(RECIPES))
def test_a_run_killed_mid_way_resumes_and_ends_as_an_uninterrupted_one(faces, tmp_path, schedule):
    root, train = faces
    lake = open_location(str(tmp_path / "lake"))
    recipe = RECIPES[schedule]
    checkpoints = Checkpoints(lake, MODEL, train.digest, recipe)
    proc = subprocess.Popen([sys.executable, "-c", TRAIN, str(root), str(tmp_path / "lake"), schedule], cwd=REPO)
    deadline = time.monotonic() + 120
    while (state := checkpoints.load()) is None or state["epoch"] < 2:
        assert proc.poll() is None and time.monotonic() < deadline, "the training process ended or stalled"
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = checkpoints.load()["epoch"]
    assert 2 <= killed_at < 5
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the killed process: the same weights need the same thread count
    try:
        resumed = train_model(train, recipe, torch.device("cpu"), checkpoints=checkpoints)
        fresh = train_model(train, recipe, torch.device("cpu"))
    finally:
        torch.set_num_threads(threads)
    assert resumed.resumed_from == killed_at and resumed.epochs == fresh.epochs == 5
    assert resumed.schedule == fresh.schedule == schedule
    assert resumed.curve == fresh.curve  # every epoch's loss to the last bit: the same batches, the same steps
    assert same_weights(resumed.model.network, fresh.model.network)
    checkpoints.clear()
    assert lake.names(f"models/{MODEL}/_runs/") == set()


def test_damaged_or_foreign_checkpoints_are_ignored_with_a_warning(faces, tmp_path):
    _, train = faces
    lake = open_location(str(tmp_path / "lake"))
    checkpoints = Checkpoints(lake, MODEL, train.digest, RECIPE)
    lake.write_atomic(f"{checkpoints.folder}/{CHECKPOINT}", b"not a checkpoint")
    warned = []
    checkpoints.warn = warned.append
    assert checkpoints.load() is None and "damaged checkpoint" in warned[0]
    other = Recipe(arch="vgg_small", budget_s=600, max_epochs=9, schedule="plateau")
    Checkpoints(lake, MODEL, train.digest, other).save({"epoch": 1})
    foreign = Checkpoints(lake, MODEL, train.digest, other)
    foreign.folder = checkpoints.folder  # another recipe's file where this run looks
    foreign.save({"epoch": 1})
    assert checkpoints.load() is None and "another recipe" in warned[1]
    assert train_model(train, RECIPE, torch.device("cpu"), checkpoints=checkpoints).resumed_from == 0


def test_the_first_checkpoint_creates_a_fresh_lake_s_container(lake_url):
    """A first training run on a new deployment checkpoints before any version was registered: the lake's
    container (or folder) does not exist yet."""
    lake = open_location(lake_url)
    checkpoints = Checkpoints(lake, MODEL, "d" * 64, RECIPE)
    checkpoints.save({"epoch": 1})
    assert checkpoints.load()["epoch"] == 1
