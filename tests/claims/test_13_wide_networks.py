"""Lecture 13 (wide networks): each script's lesson, asserted on its SUMMARY in full mode.

Every bound is derived from the Monte-Carlo error of the quantity or from the theory; the
comments give the values measured for seeds 0-9 (min / max) on the reference machine.
"""

import math

import pytest

pytestmark = pytest.mark.claims
LECTURE = "lectures/13_wide_networks"


def test_01_nngp(run_script, claim_seed):
    s = run_script(f"{LECTURE}/01_nngp.py", seed=claim_seed)["summary"]
    assert s["draws"] == 60_000 and s["widest"] == 64
    # The excess kurtosis of the one-hidden-layer output is exactly 15/n. Its sample estimate
    # from 60,000 draws has a relative error of about 10 % at n = 64 (sd of the sample kurtosis
    # ~ sqrt(24/N) inflated by the heavy tails), so the slope fitted over n = 8..64 has a
    # standard error of about 0.05: -1 +- 0.2 is four of them. Measured slope -1.05 / -0.90;
    # n * kurtosis averaged over the four widths 14.2 / 16.3 (exact: 15, sd ~0.8).
    assert abs(s["kurtosis_slope_depth1"] + 1) <= 0.2
    assert abs(s["kurtosis_times_width_depth1"] - 15) <= 2.5
    # Two hidden layers: kurtosis ~ c/n + O(1/n^2); the second-order term steepens the slope
    # in this range (measured -1.18 / -1.06). The bound excludes the Berry-Esseen rate -1/2.
    assert -1.4 <= s["kurtosis_slope_depth2"] <= -0.8
    # The Kolmogorov-Smirnov distance falls like 1/n (Edgeworth, symmetric output), not like
    # n^(-1/2): fitted over n = 4..32, measured -1.02 / -0.88 (one layer), -0.95 / -0.84 (two
    # layers; the sampling noise 0.0035 flattens the end of the range). Slope SE ~0.05.
    assert -1.2 <= s["ks_slope_depth1"] <= -0.75
    assert -1.2 <= s["ks_slope_depth2"] <= -0.75
    # From width 1 to 64 the distance falls by more than a factor 20 (measured 0.254 / 0.259
    # down to 0.0055 / 0.0087), staying above the sampling level 0.87 / sqrt(N) = 0.0035.
    assert s["ks_widest_depth1"] <= s["ks_narrowest_depth1"] / 20
    # The sample covariance at n = 64 equals the closed-form NNGP kernel within its Monte-Carlo
    # error: the largest |z| over the 6 entries (z = difference / sample standard error).
    # 6 entries x 2 depths x 10 seeds: P(|z| > 4) = 6e-5 each, so a false alarm has probability
    # below 1 %. Measured max |z| 0.49 / 2.97 (one layer, exact at every width), 0.89 / 1.89
    # (two layers, whose O(1/n) bias is below the noise at n = 64).
    assert s["cov_max_abs_z_depth1"] <= 4
    assert s["cov_max_abs_z_depth2"] <= 4
    # The kernel is the arc-cosine recursion, not the input kernel: K^2(x_0, x_2) = 0.4533,
    # K^3(x_0, x_2) = 0.5783 with K^1(x_0, x_2) = (1 + cos(2 pi / 3)) / 2 = 1/4.
    theta = math.acos(0.25)
    k2 = (math.sin(theta) + (math.pi - theta) * 0.25) / math.pi
    assert s["nngp_offdiag_depth1"] == pytest.approx(k2, abs=1e-12)
    theta2 = math.acos(k2)
    k3 = (math.sin(theta2) + (math.pi - theta2) * k2) / math.pi
    assert s["nngp_offdiag_depth2"] == pytest.approx(k3, abs=1e-12)


def test_02_empirical_ntk(run_script, claim_seed):
    s = run_script(f"{LECTURE}/02_empirical_ntk.py", seed=claim_seed)["summary"]
    assert s["networks"] == 64 and s["widest"] == 512
    # The relative fluctuation of the empirical NTK falls like n^(-1/2). Each point is a
    # standard deviation from 64 networks (relative error ~1/sqrt(2 * 63) = 0.09), so the slope
    # over five widths 32..512 has a standard error of about 0.04 (the script's own estimate from
    # the scatter: 0.01 / 0.09). Measured -0.56 / -0.49.
    assert abs(s["fluct_slope"] + 0.5) <= 0.15
    # At n = 512 a single network's kernel is within ~13 % of the limit (measured 0.111 / 0.136).
    assert s["fluct_widest"] <= 0.2
    # The mean over the 64 networks matches the NTK recursion within its standard error at
    # every input: max |z| over 9 inputs (strongly correlated); z has a Student t law with 63
    # degrees of freedom, P(|t| > 4) = 1.7e-4, P(|t| > 4.5) = 3e-5, so over 9 (45) entries and
    # 10 seeds a false alarm has probability about 1.5 %. Measured at n = 512: 0.57 / 2.29; over
    # all five widths: 1.61 / 3.13. The O(1/n) bias of the mean is below the noise even at n = 32.
    assert s["mean_max_abs_z_widest"] <= 4
    assert s["mean_max_abs_z_all"] <= 4.5
    # Theta(x, x) = L + 1 = 3 for sigma_w^2 = 2 (an identity of the recursion), and the
    # measured mean at n = 512 agrees within 5 %, three standard errors (fluctuation
    # 0.13 / sqrt(64) ~ 1.6 %): measured 2.947 / 3.059.
    assert s["ntk_diag_closed_form"] == pytest.approx(3.0, abs=1e-12)
    assert abs(s["ntk_diag_mean_widest"] / 3.0 - 1) <= 0.05


def test_03_lazy_training(run_script, claim_seed):
    s = run_script(f"{LECTURE}/03_lazy_training.py", seed=claim_seed)["summary"]
    assert s["steps"] == 400 and s["widest"] == 32768
    # The NTK formula of the script equals the kernel from tf.GradientTape gradients up to
    # float32 rounding (measured relative difference 8.5e-8 / 1.03e-7).
    assert s["ntk_formula_vs_autodiff"] <= 1e-5
    # Gradient descent is stable (eta * lambda_max / N < 1, measured 0.56 / 0.80) and fits the
    # 12 points (training RMSE of every network, largest per seed 0.029 / 0.075, targets of
    # size ~1).
    assert s["eta_times_lambda_max_over_n"] < 1
    assert s["max_train_rmse"] <= 0.1
    # ||theta_T - theta_0|| = O(1) while ||theta_0|| ~ sqrt(4 n): relative change ~ n^(-1/2).
    # Each point is an RMS over 4 networks whose changes differ by a few per cent, so the slope
    # over widths 128..32768 (factor 256) is known to about +-0.02; its finite-width
    # correction is larger at n = 128. Measured -0.53 / -0.49.
    assert abs(s["weight_change_slope"] + 0.5) <= 0.1
    # The kernel moves at least as fast as the O(n^(-1/2)) bound falls, and not faster than the
    # O(1/n) of smooth activations: measured -0.73 / -0.59.
    assert -1.1 <= s["ntk_change_slope"] <= -0.45
    # The trained network approaches its NTK predictor: the distance falls at every step of
    # the width (a factor 4 each, expected ratio ~2 against a replicate scatter of ~20 %),
    # with slope near the -1/2 of the bound (measured -0.54 / -0.46), by a factor > 5 overall
    # (measured 12.1 / 18.5).
    assert s["kernel_distance_monotone"]
    assert -0.75 <= s["kernel_distance_slope"] <= -0.3
    assert s["kernel_distance_widest"] <= s["kernel_distance_narrowest"] / 5


def test_04_linearized_network(run_script, claim_seed):
    s = run_script(f"{LECTURE}/04_linearized_network.py", seed=claim_seed)["summary"]
    assert s["steps"] == 300 and s["widest"] == 16384
    # The Taylor layer starts at the network: f_lin(x; 0) = f(x; theta_0) up to float32
    # rounding (measured 0 exactly).
    assert s["start_gap"] <= 1e-5
    # Trained by the same SGD with momentum, the network stays within O(n^(-1/2)) of its
    # linearization (Lee et al. 2019): the end-of-training RMS gap on the test grid falls at
    # every step of the width (factor 4, expected ratio ~2 against a replicate scatter of
    # ~20 %), with slope -0.55 / -0.45, by a factor 6.3 / 10.8 from n = 256 to 16384.
    assert s["prediction_gap_monotone"]
    assert -0.8 <= s["prediction_gap_slope"] <= -0.3
    assert s["prediction_gap_widest"] <= s["prediction_gap_narrowest"] / 4
    # The networks of the largest width fit the training set (mean squared error measured
    # 1.6e-4 / 1.3e-3, targets of size ~1).
    assert s["final_train_loss_widest"] <= 0.01


def test_05_feature_learning(run_script, claim_seed):
    s = run_script(f"{LECTURE}/05_feature_learning.py", seed=claim_seed)["summary"]
    assert s["width"] == 4096 and s["steps"] == 1500
    # The NTK formula equals the autodiff kernel up to float32 rounding (measured 4.2e-8 / 4.5e-8).
    assert s["ntk_formula_vs_autodiff"] <= 1e-5
    # Both scalings fit the 24 points (training RMSE 0.006 / 0.041, targets of size ~1).
    assert s["max_train_rmse"] <= 0.1
    # NTK parameterization: the hidden weights move by O(n^(-1/2)) (measured 0.061 / 0.069 at
    # n = 4096, where 1/sqrt(n) = 0.016); mean-field: by order 1 (measured 2.89 / 3.10).
    assert s["weight_move_ntk"] <= 0.15
    assert s["weight_move_mf"] >= 1.0
    # Both start from the same weights, hence with the same centred alignment (0.0184 / 0.0193
    # on the equally spaced angles).
    assert s["align_start_mf"] == pytest.approx(s["align_start_ntk"], rel=1e-6)
    # Over seeds 0-9 (each value a mean over 4 networks per scaling, the two scalings paired
    # through their common initial weights): the lazy alignment changes by 0.0041 / 0.0048
    # (mean 0.0046, sd 0.0002; of the order of the kernel's own O(n^(-1/2)) movement,
    # 1/sqrt(4096) = 0.016), bounded by 0.01, twice the largest value. The mean-field alignment
    # grows by 0.045 / 0.071 (mean 0.054, sd 0.010; bound 0.03 = mean - 2.4 sd, six times the
    # lazy change), 9.7 / 15.5 times the lazy change (mean 11.8, sd 2.0; bound 6 = mean - 3 sd),
    # and every mean-field network multiplies its own start by 3.2 / 4.7 (smallest of the 4
    # per seed; mean 3.6, sd 0.5; bound 2 = mean - 3 sd).
    change_ntk = abs(s["align_end_ntk"] - s["align_start_ntk"])
    change_mf = s["align_end_mf"] - s["align_start_mf"]
    assert change_ntk <= 0.01
    assert change_mf >= 0.03
    assert change_mf >= 6 * change_ntk
    assert s["min_growth_mf"] >= 2.0
