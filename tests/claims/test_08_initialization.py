"""Lecture 08 (initialization): each script's lesson, asserted on its SUMMARY in full mode.

The measured values quoted next to the thresholds are for seeds 0, 1 and 2.
"""

import math

import pytest

pytestmark = pytest.mark.claims
LECTURE = "lectures/08_initialization"


def test_01_signal_propagation(run_script, claim_seed):
    s = run_script(f"{LECTURE}/01_signal_propagation.py", seed=claim_seed)["summary"]
    # He with ReLU keeps the last-to-first variance ratio near 1 (mean over 32 networks; the
    # recursion predicts exactly 1). Measured 1.10, 1.05, 1.20.
    assert s["pred_act_ratio_he_relu"] == pytest.approx(1.0)
    assert 0.5 <= s["act_ratio_he_relu"] <= 2.0
    # N(0, 0.01²) collapses it, N(0, 1) explodes it. Measured 1.6e-93 .. 2.2e-93 and
    # 1.6e+103 .. 2.2e+103.
    assert s["act_ratio_small_relu"] < 1e-6
    assert s["act_ratio_large_relu"] > 1e6
    # Glorot (= LeCun in square layers) loses a factor 2 per ReLU layer: 2^-49 = 1.8e-15.
    assert s["act_ratio_glorot_relu"] < 1e-12
    # Measured and predicted variances agree within a factor 2 at every layer, for every
    # initializer and activation, across 200 decades. Measured largest |log10| deviation
    # 0.08, 0.08, 0.12 (activations) and 0.06, 0.08, 0.07 (gradients, without N(0, 1)/tanh).
    assert s["max_log10_dev_activations"] <= math.log10(2.0)
    assert s["max_log10_dev_gradients"] <= math.log10(2.0)
    # The heavy-tailed exception (see the script) still lands within a factor 10 of a
    # 10^46 prediction. Measured 0.44, 0.54, 0.40.
    assert s["log10_dev_gradients_large_tanh"] <= 1.0
    # A single network strays much further from the recursion than the mean of 32 (the reason
    # for pooling). Measured ranges [0.03, 2.7], [0.04, 7.3], [0.13, 6.5].
    assert s["he_relu_single_network_max"] / s["he_relu_single_network_min"] > 4.0


def test_02_activation_histograms(run_script, claim_seed):
    s = run_script(f"{LECTURE}/02_activation_histograms.py", seed=claim_seed)["summary"]
    # Naive U[-1/sqrt(n), 1/sqrt(n)]: the activations' spread shrinks about 3^(-1/2) per layer
    # (3^-2 = 0.11 over four layers): measured 0.105, 0.102, 0.103 ...
    assert s["act_std_ratio_naive"] < 0.2
    # ... while Glorot keeps most of it: measured 0.70, 0.69, 0.70.
    assert s["act_std_ratio_glorot"] > 0.5
    # The back-propagated gradients, first layer against last: naive 0.086, 0.088, 0.086;
    # Glorot 0.67, 0.69, 0.68.
    assert s["grad_std_ratio_naive"] < 0.2
    assert s["grad_std_ratio_glorot"] > 0.5


def test_03_custom_initializers(run_script, claim_seed):
    s = run_script(f"{LECTURE}/03_custom_initializers.py", seed=claim_seed)["summary"]
    assert s["truncated_std"] == pytest.approx(0.87962566103423978, abs=1e-15)  # Keras' constant
    for name in ("glorot_uniform", "glorot_normal", "he_normal"):
        # Sample variance of 2 million weights within 2 % of the formula (measured <= 0.12 %).
        assert s[f"var_rel_error_{name}"] < 0.02
        # Two-sample KS test against Keras' built-in does not reject (p-values are uniform
        # under the null hypothesis; measured 0.16 .. 0.83).
        assert s[f"ks_pvalue_{name}"] > 1e-3
    # The test has power: it rejects the untruncated normal of the same variance (p ~ 1e-240).
    assert s["ks_pvalue_untruncated"] < 1e-10
    # Saved and reloaded: identical outputs, and the custom initializers rebuilt.
    assert s["reload_max_abs_diff"] == 0.0
    assert s["initializers_restored"] is True


def test_04_symmetry_breaking(run_script, claim_seed):
    s = run_script(f"{LECTURE}/04_symmetry_breaking.py", seed=claim_seed)["summary"]
    # Training moved the weights (measured max change 2.0, 2.3, 1.7) ...
    assert s["weight_change_constant"] > 0.1
    # ... but from the constant start both hidden kernels stay rank 1: sigma_2 / sigma_1 is at
    # rounding level (measured 5e-17 .. 8e-17).
    assert s["rank_w1_constant"] == 1
    assert s["rank_w2_constant"] == 1
    assert s["sigma2_over_sigma1_constant"] < 1e-6
    # From Glorot both are of full rank (32), well conditioned (measured 0.06 .. 0.10).
    assert s["rank_w1_glorot"] == s["hidden_units"]
    assert s["rank_w2_glorot"] == s["hidden_units"]
    assert s["sigma_min_over_max_glorot"] > 0.01
    # The symmetric network learns little: measured 0.39, 0.34, 0.38 against 1.00.
    assert s["train_accuracy_constant"] < 0.6
    assert s["train_accuracy_glorot"] > 0.95


def test_05_deep_relu_training(run_script, claim_seed):
    s = run_script(f"{LECTURE}/05_deep_relu_training.py", seed=claim_seed)["summary"]
    # At initialization Glorot's signal has halved 29 times (2^-29 = 1.9e-9), He's has not.
    assert s["signal_ratio_glorot"] < 1e-6
    assert 0.2 < s["signal_ratio_he"] < 5.0
    # After 40 epochs Glorot's network is still at log(10) = 2.303, the uniform guess
    # (measured 2.299, 2.295, 2.302) ...
    assert s["final_loss_glorot"] > 2.2
    # ... while He's has trained: measured 0.026, 0.014, 0.005, i.e. 88, 170 and 444 times
    # below Glorot's.
    assert s["final_loss_he"] < 0.3
    assert s["loss_ratio_glorot_over_he"] > 10.0
