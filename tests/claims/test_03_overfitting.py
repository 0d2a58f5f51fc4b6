"""Lecture 03 (overfitting): each script's lesson, asserted on its SUMMARY in full mode.

Every threshold is derived from theory or from the quantity's sampling error; the values
measured are written next to it (min / max over the seeds named there).
"""

import pytest

pytestmark = pytest.mark.claims
LECTURE = "lectures/03_overfitting"


def test_01_memorization(run_script, claim_seed):
    s = run_script(f"{LECTURE}/01_memorization.py", seed=claim_seed)["summary"]
    # The training set is memorized: every one of the 300 training digits is classified right
    # (measured 1.0 for seeds 0-1) ...
    assert s["final_train_accuracy"] == 1.0
    # ... and after the validation minimum every recorded epoch lowers the training loss.
    assert s["train_loss_falls_after_min"]
    # The validation loss passes its minimum early (measured at epoch 15 of 400 for seeds 0-3
    # and 8, within the first 40 for every seed 0-9) and then rises, by a factor of at least
    # 1.16 over seeds 0-9 (seed 8; 1.22 on seed 3, 1.44 / 1.52 on seeds 0 / 1). Training is
    # full-batch and deterministic, so the curve has no step-to-step noise, and the rise is a
    # paired change on the same 360 digits, not a new sample: the bound asks for a rise of
    # 10 %, which the figure shows plainly, below the smallest measured by a third of its size.
    assert s["min_val_loss_epoch"] <= 0.1 * s["epochs"]
    assert s["final_val_loss"] >= 1.10 * s["min_val_loss"]
    # ... while the validation accuracy barely moves: the network grows more confident on the
    # digits it gets wrong, not less accurate. One digit of 360 is 0.28 points; the change
    # measured 0.000 / +0.011 (seeds 0-1), against a rise of the loss by 44 % / 52 %.
    assert abs(s["val_accuracy_change_after_min"]) <= 0.03


def test_02_capacity_sweep(run_script, claim_seed):
    s = run_script(f"{LECTURE}/02_capacity_sweep.py", seed=claim_seed)["summary"]
    # The sweep spans more than two orders of magnitude of parameters (160 to 76,810).
    assert (s["min_params"], s["max_params"]) == (160, 76_810)
    # The training loss, averaged over the copies of a width, falls strictly at every step in
    # capacity (measured: every seed run), by more than two orders of magnitude from 2 to 1024
    # units (measured ratio 3.5e-4 / 4.1e-4, seeds 0, 1, 3, 4, 6, 7).
    assert s["train_loss_falls_at_every_width"]
    assert s["train_loss_largest"] < 0.01 * s["train_loss_smallest"]
    # The gap opens: the widest network's gap exceeds the narrowest's (mean of eight copies,
    # whose spread over initializations, about 0.045, gives the mean a standard error of 0.016;
    # measured widest 0.124 / 0.309, narrowest 0.050 / 0.125, seeds 0, 1, 3, 4, 6, 7; the
    # smallest difference, 0.059, is 3.7 standard errors).
    assert s["gap_largest"] > s["gap_smallest"]
    # Past 32 units the parameters buy memorization, not generalization: the training loss
    # falls more than tenfold to 1024 units (measured ratio 0.026 / 0.027, seeds 1, 4, 7) while
    # the validation loss changes by less than a factor 2 either way (measured ratio 1.07 /
    # 1.15, seeds 1, 4, 7; about 0.82 for seed 3, read off its figure).
    assert s["train_loss_largest"] <= 0.1 * s["train_loss_at_32"]
    assert 0.5 <= s["val_loss_largest"] / s["val_loss_at_32"] <= 2.0


def test_03_learning_curves(run_script, claim_seed):
    s = run_script(f"{LECTURE}/03_learning_curves.py", seed=claim_seed)["summary"]
    # The network memorizes every training subset: training error 0 at every size (measured 0
    # for seeds 0-9).
    assert s["max_train_error"] == 0.0
    # The validation error falls as the training set grows: its rank correlation with the size
    # is at most -0.9, which with six sizes allows one pair of neighbouring sizes out of order
    # (Spearman 1 - 6*2/(6*35) = -0.943) and no more. Not "at every size": at the large end
    # neighbouring sizes differ in expected error by a factor 2^-b ~ 0.7 or (1077/800)^-b ~ 0.86,
    # while the count of about 20 errors of 720 has a Poisson spread of over 20 %, so one pair
    # out of order is within noise (measured -0.943 on seeds 0 and 5, a pair out of order or
    # equal, and -1.0 on the other eight). From 50 to 1,077 digits the error at least halves
    # (measured ratio 0.10-0.27 over seeds 0-9), and so does the gap, which equals it since
    # the training error is 0.
    assert s["val_error_rank_corr"] <= -0.9
    assert s["val_error_largest_n"] <= 0.5 * s["val_error_smallest_n"]
    assert s["gap_largest_n"] <= 0.5 * s["gap_smallest_n"]
    # It follows a power law a n^-b: on log-log axes the six points lie near a line (R^2
    # measured 0.902-0.995 over seeds 0-9, lowest on seed 4 with 7 errors at the largest size)
    # with exponent b in 0.445-0.665. The largest size has 7 to 26 errors of 720, so its
    # log-error has a Poisson spread of 0.2-0.38; over log n spanning 3.1
    # this gives b a standard error of about 0.1, and the band below is about 2 standard errors
    # around the measured values.
    assert s["power_law_r_squared"] >= 0.85
    assert 0.3 <= s["power_law_exponent"] <= 0.8


def test_04_random_labels(run_script, claim_seed):
    s = run_script(f"{LECTURE}/04_random_labels.py", seed=claim_seed)["summary"]
    # The network fits labels drawn at random: 100 % training accuracy within the script's
    # 200 full-batch epochs (measured 1.0 for seeds 0-2, 7-9) ...
    assert s["epochs"] == 200
    assert s["random_train_accuracy"] == 1.0
    # ... yet its predictions know nothing about the true validation labels. Renaming the
    # classes leaves the experiment's distribution unchanged, so the permutation p-value is
    # uniform on (0, 1] under "no information": p >= 0.001 fails by chance with probability
    # 0.001 per seed (measured 0.17 / 1.00, seeds 0-2, 7-9). The same test finds the true-label
    # network beyond every renaming (p = 1 / 10,001, the smallest possible; measured accuracy
    # 0.95 / 0.97).
    assert s["permutation_p_value_random"] >= 1e-3
    assert s["permutation_p_value_true"] <= 1e-3
    assert s["true_val_accuracy"] >= 0.9
    # "Chance" spreads far more than the binomial 1.6 points of 360 digits: the accuracy under
    # renamed classes has a standard deviation of 0.022 / 0.024, and the validation accuracy itself
    # ranged 0.036 / 0.122 (seeds 0-2, 7-9).
    # Fitting noise takes longer than fitting structure (90 % training accuracy reached at
    # epochs 10 / 15 with true labels, 70 / 75 with random labels, seeds 0-2, 7-9).
    assert s["epochs_to_threshold_random"] >= 3 * s["epochs_to_threshold_true"]
