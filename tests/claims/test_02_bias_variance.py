"""Lecture 02 (bias-variance): each script's lesson, asserted on its SUMMARY in full mode."""

import pytest

pytestmark = pytest.mark.claims
LECTURE = "lectures/02_bias_variance"


def test_01_polynomial_degree_sweep(run_script, claim_seed):
    s = run_script(f"{LECTURE}/01_polynomial_degree_sweep.py", seed=claim_seed)["summary"]
    # Nested least-squares models: the training error never rises from one degree to the next,
    # up to round-off (measured: largest step -2.2e-5, -1.1e-5, -6.2e-6 of the degree-0 error
    # for seeds 0, 1, 2, i.e. it strictly falls).
    assert s["max_train_increase"] <= 1e-10
    # The test error is U-shaped: its minimum is at an interior degree (measured 4, 3, 6 of
    # 0..20) ...
    assert 1 <= s["best_degree"] <= s["max_degree"] - 1
    # ... and both ends lie well above it (measured: degree 0 at 6.5, 5.1, 5.2 times the
    # minimum; degree 20 at 2.8, 1.8e7, 5.3e7 times).
    assert s["test_ratio_low"] >= 2.0
    assert s["test_ratio_high"] >= 1.5


def test_02_bias_variance_decomposition(run_script, claim_seed):
    s = run_script(f"{LECTURE}/02_bias_variance_decomposition.py", seed=claim_seed)["summary"]
    # The batched pseudo-inverse fit equals numpy's Legendre.fit (measured 1.9e-15, 1.7e-15,
    # 4.3e-15 in the coefficients).
    assert s["solver_error"] <= 1e-10
    # bias^2 + variance (1/R convention) is the mean squared distance of the fits to the truth,
    # exactly (measured 1.1e-15, 2.6e-16, 1.7e-15 relative).
    assert s["max_exact_gap"] <= 1e-10
    # bias^2 + variance + noise equals the measured expected test MSE within a few percent at
    # every degree (measured at most 0.14 %, 0.22 %, 0.41 %).
    assert s["max_identity_gap"] <= 0.03
    # Variance rises at every step of the degree (smallest step x1.12, x1.11, x1.18) ...
    assert s["min_variance_step_ratio"] > 1.0
    # ... and bias^2 falls: never up by more than 5 % in one step (the worst step, degree 3 to
    # 4, is a plateau: x1.010, x1.011, x1.010), and down by a factor of at least 20 from
    # degree 0 to 8 (measured 58, 65, 61).
    assert s["max_bias2_step_ratio"] <= 1.05
    assert s["bias2_degree_0"] >= 20 * s["bias2_max_degree"]
    # Their sum with the noise is U-shaped: the best degree is interior (measured 5, 5, 5).
    assert 1 <= s["best_degree"] <= s["max_degree"] - 1


def test_03_bias_variance_mlp(run_script, claim_seed):
    s = run_script(f"{LECTURE}/03_bias_variance_mlp.py", seed=claim_seed)["summary"]
    # The batched model's loss is the mean of the networks' own objectives J_m (measured 0 in
    # float32), and one network of the stack is an ordinary Dense MLP with kernel_regularizer=L2:
    # same outputs and same loss (measured 0 and at most 2.2e-7 relative).
    assert s["batched_loss_error"] <= 1e-5
    assert s["reference_output_error"] <= 1e-5
    assert s["reference_loss_error"] <= 1e-5
    # The identity: exact for bias^2 + variance (measured 2e-16), and with the noise within a
    # few percent of the measured test MSE (measured at most 0.22 %, 0.44 %, 0.74 %).
    assert s["max_exact_gap"] <= 1e-10
    assert s["max_identity_gap"] <= 0.03
    # Along the knob, from strong to weak L2 penalty (growing capacity), bias^2 falls at every
    # step (largest step ratio measured x0.65, x0.64, x0.66) and variance rises at every step
    # (smallest x1.27, x1.19, x1.25) ...
    assert s["max_bias2_step_ratio"] < 1.0
    assert s["min_variance_step_ratio"] > 1.0
    # ... by large factors over the whole range (bias^2 down 250, 280, 150 times; variance up
    # 3.7, 4.8, 6.2 times).
    assert s["bias2_strongest_l2"] >= 20 * s["bias2_weakest_l2"]
    assert s["variance_weakest_l2"] >= 2 * s["variance_strongest_l2"]


def test_04_double_descent(run_script, claim_seed):
    s = run_script(f"{LECTURE}/04_double_descent.py", seed=claim_seed)["summary"]
    n = s["n_train"]
    # lstsq gives the pseudo-inverse solution F^+ y (measured 1.3e-15 relative).
    assert s["pinv_error"] <= 1e-8
    # Above the threshold the minimum-norm fit interpolates (measured training MSE <= 3e-26).
    assert s["max_train_mse_overparam"] <= 1e-12
    # The test error peaks at the interpolation threshold (measured p = 40 = n for all seeds) ...
    assert 0.8 * n <= s["peak_p"] <= 1.25 * n
    # ... and for p = 20 n it is below the peak by a large factor (measured 29,746, 306, 487).
    assert s["peak_over_max_features"] >= 10
    # The mechanism: the norm of the fitted weights peaks there too (measured 103, 22, 18.5
    # times its value at p = 20 n).
    assert s["norm_at_peak"] >= 5 * s["norm_max_features"]
