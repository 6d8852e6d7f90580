"""The learning-rate schedules: how many epochs fit, what auto picks and why, warm-up and anneal shapes."""

import pytest

from fer_platform.models.training.schedule import annealed_lr, epochs_that_fit, resolve, warmup_lr


def test_epochs_that_fit_follow_the_mean_epoch_time_and_the_limit():
    # 1,670 s left, 92 % of it planned for (later epochs may be slower): 1 + 1536 // 130
    assert epochs_that_fit(budget_s=1800, spent_s=130, epochs_done=1, max_epochs=300) == 12
    assert epochs_that_fit(budget_s=1800, spent_s=5, epochs_done=1, max_epochs=300) == 300
    assert epochs_that_fit(budget_s=100, spent_s=150, epochs_done=3, max_epochs=300) == 3  # already over


def test_auto_anneals_when_the_budget_ends_training_and_keeps_the_plateau_otherwise():
    schedule, why = resolve("auto", 13, 300)
    assert schedule == "one_cycle" and "13 of 300 epochs" in why
    assert resolve("auto", 300, 300)[0] == "plateau"
    assert resolve("plateau", 13, 300) == ("plateau", "asked for with FER_TRAIN_SCHEDULE")
    fixed = resolve("auto", 20, 300, fixed=True)
    assert fixed[0] == "one_cycle" and "FER_TRAIN_EPOCHS=20" in fixed[1]
    with pytest.raises(ValueError, match="FER_TRAIN_SCHEDULE='cosine'"):
        resolve("cosine", 13, 300)


def test_warm_up_reaches_the_rate_and_the_anneal_ends_at_zero():
    assert warmup_lr(0.01, 0, 100) == pytest.approx(0.001 + 0.009 / 100)
    assert warmup_lr(0.01, 99, 100) == pytest.approx(0.01)
    assert annealed_lr(0.01, 100, 100, 1300) == pytest.approx(0.01)
    assert annealed_lr(0.01, 700, 100, 1300) == pytest.approx(0.005)
    assert annealed_lr(0.01, 1300, 100, 1300) == pytest.approx(0.0) == annealed_lr(0.01, 2000, 100, 1300)
