"""The recipe's loss (issue 34): class weights softened by a power, label smoothing from the recipe."""

import pytest
import torch

from fer_platform.models.training.loss import class_weights, loss_function
from fer_platform.models.training.recipe import Recipe


def test_class_weights_are_inverse_frequency_softened_by_the_power():
    labels = torch.tensor([0] * 90 + [1] * 10)
    assert class_weights(labels, 2).tolist() == pytest.approx([100 / 180, 100 / 20])
    assert class_weights(labels, 2, 0.5).tolist() == pytest.approx([(100 / 180) ** 0.5, 5 ** 0.5])
    assert class_weights(labels, 2, 0.0).tolist() == [1.0, 1.0]


def test_the_loss_follows_the_recipe():
    labels = torch.tensor([0] * 90 + [1] * 10)
    recipe = Recipe(arch="vgg_small", budget_s=1, label_smoothing=0.2, class_weight_power=0.5)
    loss = loss_function(labels, 2, recipe, torch.device("cpu"))
    assert loss.label_smoothing == 0.2
    assert loss.weight.tolist() == pytest.approx([(100 / 180) ** 0.5, 5 ** 0.5])
