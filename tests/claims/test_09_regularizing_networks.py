"""Lecture 09 (regularizing networks): each script's lesson, asserted on its SUMMARY in full mode.

Every claim is meant to hold for seeds 0-9 (MMA440_CLAIM_SEEDS=0,...,9); the measured values
quoted next to the thresholds are min / max over those seeds unless a comment says otherwise.
"""

import math

import pytest

pytestmark = pytest.mark.claims
LECTURE = "lectures/09_regularizing_networks"


def test_01_l2_and_dropout(run_script, claim_seed):
    s = run_script(f"{LECTURE}/01_l2_and_dropout.py", seed=claim_seed)["summary"]
    # The final validation cross-entropy is the mean over the validations of the last 50 epochs
    # (ten values): a dropout network's curve jitters by about +-0.01 from one validation to the
    # next, so the mean has a standard error of about 0.003, 1-3 % of the losses (0.11-0.29).
    none = s["final_val_loss_none"]  # measured 0.113 / 0.285
    # Dropout and L2 + dropout lower it, by more than that noise: ratios to none measured
    # 0.785 / 0.963 and 0.738 / 0.966 (largest for seed 3, whose plain network overfits least).
    assert s["final_val_loss_dropout"] <= 0.98 * none
    assert s["final_val_loss_both"] <= 0.98 * none
    # The L2 penalty shrinks the weights (norm ratio measured 0.57-0.58 for seeds 0-2, a
    # deterministic effect of 2 lam w in every gradient); dropout alone does not (0.99).
    assert s["weight_norm_l2"] <= 0.7 * s["weight_norm_none"]
    assert s["weight_norm_dropout"] >= 0.9 * s["weight_norm_none"]
    # L2 alone is not asserted to lower the validation loss: under Adam it does not for every
    # seed (ratios 0.836 / 1.074; above 1 for seeds 2 and 3). See the lecture README, "Known
    # limitation: L2 with Adam".


def test_02_weight_decay_vs_l2(run_script, claim_seed):
    s = run_script(f"{LECTURE}/02_weight_decay_vs_l2.py", seed=claim_seed)["summary"]
    # SGD: L2(lam) in the loss and weight_decay = 2 lam give the same weights at every step.
    # The two computations round differently: float64, 150 steps, weights of size about 0.3,
    # so a few hundred ulps of 1e-16 at most (measured about 1e-15).
    assert s["sgd_max_weight_difference"] <= 1e-12
    # Adam + L2 and AdamW(2 lam) are different algorithms (measured 0.46 / 0.33 / 0.35 for
    # seeds 0-2, the size of the weights) ...
    assert s["adam_max_weight_difference"] >= 1e-2
    # ... because Adam rescales the penalty per weight: its shrinkage rates spread over more
    # than a factor 10 between the 10 % and 90 % quantiles (measured about 40).
    assert s["adam_relative_shrinkage_q90"] >= 10 * s["adam_relative_shrinkage_q10"]


def test_03_dropout(run_script, claim_seed):
    s = run_script(f"{LECTURE}/03_dropout.py", seed=claim_seed)["summary"]
    # Inverted dropout keeps the mean activation, to the stated 1 % (measured 3e-4 / 9e-4 /
    # 8e-4 for seeds 0-2, within a few standard errors of zero) ...
    assert s["relative_error_of_mean"] <= s["tolerance"] == 0.01
    # ... drops the fraction p of the units (measured 0.5001 / 0.5000 / 0.4997; the standard
    # error of a fraction over 50 masks x 300 x ~250 active units is about 1e-3) and is the
    # identity at inference.
    assert abs(s["fraction_dropped"] - s["dropout_rate"]) <= 0.01
    assert s["inference_is_identity"]
    # Monte-Carlo dropout: the predictive spread away from the data is at least twice that
    # near the data (measured ratios 12 / 7.2 / 16 for seeds 0-2).
    assert s["mc_std_away_from_data"] >= 2 * s["mc_std_near_data"]


def test_04_batch_normalization(run_script, claim_seed):
    s = run_script(f"{LECTURE}/04_batch_normalization.py", seed=claim_seed)["summary"]
    # On a fixed batch the moving averages approach the batch statistics like m^t exactly:
    # the rate per step read off the first 60 steps equals the momentum (float32 rounding of
    # errors of 1e-3 relative size gives a rate error of about 1e-6).
    assert math.isclose(s["moving_mean_rate"], s["momentum"], abs_tol=1e-4)
    assert math.isclose(s["moving_var_rate"], s["momentum"], abs_tol=1e-4)
    # They converge (measured about 1e-6 and 2e-7 after 150 steps, from an initial 0.9) ...
    assert s["moving_mean_error"] <= 1e-4
    assert s["moving_var_error"] <= 1e-4
    # ... so that inference mode, far off at the start (measured 3.1 to 3.7), then agrees
    # with training mode (measured about 5e-6).
    assert s["mode_gap_initial"] >= 0.5
    assert s["mode_gap_final"] <= 1e-4
    # A 10-layer ReLU MLP: after 100 full-batch SGD epochs the loss with batch normalization is
    # below a quarter of the loss without (measured 0.044 / 0.041 / 0.047 against 2.0 / 1.9 /
    # 2.2 for seeds 0-2), in training mode and in inference mode (moving averages, momentum
    # 0.9: only 0.9^100 = 3e-5 of the initial statistics remain).
    assert s["final_loss_batch_norm"] <= 0.25 * s["final_loss_plain"]
    assert s["inference_loss_batch_norm"] <= 0.25 * s["inference_loss_plain"]


def test_05_early_stopping_and_augmentation(run_script, claim_seed):
    s = run_script(f"{LECTURE}/05_early_stopping_and_augmentation.py", seed=claim_seed)["summary"]
    # The restored weights reproduce the best epoch's validation loss: the same weights on the
    # same data, evaluated again in float32 (measured equal to the printed digits) ...
    best = s["best_val_loss_in_history"]
    assert abs(s["restored_val_loss"] - best) <= 1e-5 * best
    # ... and training stopped `patience` epochs after the best epoch (measured 33 -> 43,
    # 64 -> 74, 64 -> 74 for seeds 0-2).
    assert s["epochs_run"] == s["best_epoch"] + s["patience"]
    # Input noise lowers the final validation loss: the ratio noisy / plain measured 0.60-0.99
    # over seeds 0-9 (median 0.81). Seed 3 is the closest (0.1134 against 0.1145): on that
    # split the plain network overfits least (its validation loss, 0.115, is the lowest of
    # the ten), so there is least for the noise to cure. Training twice as long (400 epochs)
    # widens that margin to 7 % but narrows the gap claim below to a ratio of 0.81 on the same
    # seed, and a larger noise (sd 0.3 or 0.4) does not widen it (0.112 and 0.132 against 0.115).
    assert s["final_val_loss_noisy"] < s["final_val_loss_plain"]
    # ... and shrinks the generalization gap: ratio noisy / plain measured 0.40-0.73 over seeds
    # 0-9 (largest on seed 7); the bound 0.8 asks for a fifth of the gap at least.
    assert s["final_gap_noisy"] <= 0.8 * s["final_gap_plain"]


def test_06_comparison_table(run_script, claim_seed):
    s = run_script(f"{LECTURE}/06_comparison_table.py", seed=claim_seed)["summary"]
    methods = ["none", "L2", "dropout", "batch_norm", "augmentation", "combination"]
    # The table is complete: seven methods, at least three initializations each.
    assert s["replicates"] >= 3
    for method in [*methods, "early_stopping"]:
        assert 0 < s[f"{method}_test_acc_mean"] <= 1
        assert s[f"{method}_test_loss_mean"] > 0
    # Test losses of the returned models, paired with the plain network of the same initial
    # kernels: the mean over the three initializations of loss(method) / loss(none). One
    # network's ratio varies by about 0.05 between initializations (up to 0.09 for seed 5), so
    # the mean of three is known to about +-0.03 to 0.05.
    # Input noise lowers it (measured 0.70-0.94), the combination with batch normalization by
    # at least 15 % (0.48-0.81).
    assert s["augmentation_loss_ratio_mean"] < 1
    assert s["combination_loss_ratio_mean"] <= 0.85
    # Not asserted, because they are within the initialization-to-initialization noise of
    # three paired networks here: L2 (0.92-1.05), dropout (0.78-0.99), batch normalization
    # (0.76-1.06), early stopping (0.93-1.01 on the test set, although its validation loss,
    # on the very set it picks its epoch on, is 0.91-1.00 of the plain network's final one);
    # and the accuracy differences (the combination over the plain network: +0.004 to +0.032,
    # that is 1.3 to 11.7 of 360 digits; for seed 3 one or two digits, inside the error
    # bars). Dropout's effect is asserted on lecture 03's full network in test_01.
    # (Measured ranges: seeds 0-9.)
