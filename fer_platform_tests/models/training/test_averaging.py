"""Weight averaging (issue 34): the averaged weights are what training validates and keeps; decay 0 turns it off."""

from dataclasses import replace

import pytest
import torch

from fer_platform.models.faces import load_split
from fer_platform.models.training.averaging import horizon, warmed_ema
from fer_platform.models.training.recipe import Recipe
from fer_platform.models.training.train import Trainer
from fer_platform.sample_data import write_sample_dataset

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    root = tmp_path_factory.mktemp("faces")
    write_sample_dataset(root, per_class=12, test_per_class=1, emotions=("angry", "happy"))
    return load_split(root, "train")


def test_the_average_warms_up_before_it_reaches_its_decay():
    average = warmed_ema(0.999)
    first = average(torch.zeros(1), torch.ones(1), torch.tensor(0))
    assert first.item() == pytest.approx(0.9)  # rate 1/10: the random start weighs little
    late = average(torch.zeros(1), torch.ones(1), torch.tensor(10**6))
    assert late.item() == pytest.approx(0.001)


def test_the_averaged_weights_are_validated_and_kept(faces):
    recipe = Recipe(arch="vgg_small", budget_s=600, max_epochs=2, batch_size=8, ema_decay=0.5)  # spans 2 steps
    trainer = Trainer(faces, recipe, CPU)
    trained = trainer.run()
    assert trained.model.network is trainer.average.module is not trainer.network
    kept, raw = trained.model.network.state_dict(), trainer.network.state_dict()
    assert any(not torch.equal(kept[k], raw[k]) for k in raw if raw[k].is_floating_point())
    plain = Trainer(faces, replace(recipe, ema_decay=0.0), CPU)
    assert plain.average is None and plain.run().model.network is plain.network


def test_a_run_shorter_than_the_average_s_horizon_keeps_the_network(faces):
    assert (horizon(0.999), horizon(0.5), horizon(0.0)) == (1000, 2, 0)
    trainer = Trainer(faces, Recipe(arch="vgg_small", budget_s=600, max_epochs=2, batch_size=8), CPU)
    trained = trainer.run()  # 6 steps, the default average spans 1,000: it would lag the whole run
    assert trainer.average is not None and trained.model.network is trainer.network
