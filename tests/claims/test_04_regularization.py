"""Lecture 04 (regularization): each script's lesson, asserted on its SUMMARY in full mode.

The measured values quoted next to the thresholds are for seeds 0 / 1 / 2.
"""

import pytest

pytestmark = pytest.mark.claims
LECTURE = "lectures/04_regularization"


def test_01_ridge_regression(run_script, claim_seed):
    s = run_script(f"{LECTURE}/01_ridge_regression.py", seed=claim_seed)["summary"]
    # Keras' L2(lam) on the mean squared error is ridge with alpha = n * lam: the trained
    # coefficients agree with the closed form to the stated tolerance 1e-5
    # (measured 1.5e-7 / 1.6e-7 / 1.3e-7, float32 rounding) ...
    assert s["max_error_keras_vs_closed_form"] <= s["tolerance"] == 1e-5
    # ... the closed form agrees with scikit-learn's Ridge(alpha = n lam) (measured ~5e-9) ...
    assert s["max_error_sklearn_vs_closed_form"] <= 1e-6
    # ... and the wrong mappings miss by far more (measured >= 0.06 / 0.06 / 0.06).
    assert s["max_error_if_alpha_equals_lam"] >= 100 * s["tolerance"]
    assert s["max_error_if_alpha_is_n_lam_half"] >= 100 * s["tolerance"]


def test_02_lasso(run_script, claim_seed):
    s = run_script(f"{LECTURE}/02_lasso.py", seed=claim_seed)["summary"]
    # The mapping alpha = lam / 2: scikit-learn's Lasso solutions satisfy the optimality
    # conditions of Keras' objective (measured relative violation 7.6e-7), the wrong mapping
    # alpha = lam does not (measured 1.0).
    assert s["kkt_violation_alpha_lam_half"] <= 1e-4
    assert s["kkt_violation_alpha_lam"] >= 0.1
    # The Lasso's exact zeros grow with the penalty: none at the smallest penalty, all at the
    # largest, non-decreasing at the five Keras penalties, and rank-correlated along the whole
    # path (not monotone there: correlated features can leave zero again; measured Spearman
    # 0.91 / ... / ...).
    assert s["lasso_zeros_at_smallest_penalty"] == 0
    assert s["lasso_zeros_at_largest_penalty"] == s["n_features"]
    assert s["lasso_zeros_grow_at_keras_penalties"]
    assert s["spearman_penalty_vs_lasso_zeros"] >= 0.8
    # Subgradient steps give no exact zeros (measured 0 of 24 / ... / ...), but the weights the
    # Lasso zeroes are small: within 2 eta lam of zero, the band the theory predicts (measured
    # at most 0.98 of it), and below 10 % of the largest weight (measured 4.4 %).
    assert s["keras_exact_zeros"] < s["lasso_zeros_at_keras_penalties"]
    assert s["keras_on_lasso_zeros_over_2_eta_lam"] <= 1.1
    assert s["keras_largest_on_lasso_zeros"] <= 0.1 * s["keras_largest_weight"]


def test_03_early_stopping_as_ridge(run_script, claim_seed):
    s = run_script(f"{LECTURE}/03_early_stopping_as_ridge.py", seed=claim_seed)["summary"]
    # Gradient descent at step t stays within 25 % of ||w_LS|| of the ridge solution with
    # lam = 1 / (2 eta t), over the whole range from t = 1 to least squares (measured largest
    # relative distance 0.173 / ... / ...; the continuous-time bound is 0.204).
    assert s["max_relative_distance"] <= 0.25
    # Both paths end at least squares.
    assert s["final_gd_to_least_squares"] <= 1e-6
    assert s["final_relative_distance"] <= 0.05
    # The iterates are those of keras.optimizers.SGD (measured 1.7e-8).
    assert s["keras_sgd_vs_numpy_gd"] <= 1e-5


def test_04_map_estimation(run_script, claim_seed):
    s = run_script(f"{LECTURE}/04_map_estimation.py", seed=claim_seed)["summary"]
    # The scaled negative log-posterior equals Keras' loss (MSE + L2 or L1 with the mapped lam)
    # up to a constant (measured spread 2e-6, float32 rounding).
    assert s["identity_spread_gaussian"] <= 1e-4
    assert s["identity_spread_laplace"] <= 1e-4
    # The numerically found MAP points are the ridge and Lasso solutions (measured 5.7e-9 and
    # 1.8e-8).
    assert s["map_vs_ridge"] <= 1e-6
    assert s["map_vs_lasso"] <= 1e-6
    # The Gaussian prior shrinks the least-squares estimate (measured 0.83 / 0.87 / ...).
    assert s["shrinkage_l2"] < 1.0
