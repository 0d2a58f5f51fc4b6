"""Lecture 04 (regularization): each script's lesson, asserted on its SUMMARY in full mode.

Every threshold is derived from theory or from the quantity's rounding error; the values
measured for seeds 0-9 (min / max over the ten seeds) are written next to it.
"""

import pytest

pytestmark = pytest.mark.claims
LECTURE = "lectures/04_regularization"


def test_01_ridge_regression(run_script, claim_seed):
    s = run_script(f"{LECTURE}/01_ridge_regression.py", seed=claim_seed)["summary"]
    # Keras' L2(lam) on the mean squared error is ridge with alpha = n * lam: the trained
    # float32 coefficients (of size <= 0.5) agree with the float64 closed form to float32
    # rounding, the script's tolerance 1e-6 (measured 9.5e-8 / 2.1e-7, seeds 0-4).
    assert s["max_error_keras_vs_closed_form"] <= s["tolerance"] == 1e-6
    # The closed form agrees with scikit-learn's Ridge(alpha = n lam), two float64 solvers on a
    # float32 target (measured 1.2e-14 / 2.4e-8, seeds 0-4).
    assert s["max_error_sklearn_vs_closed_form"] <= 1e-7
    # The wrong mappings miss by far more than the tolerance (measured alpha = lam: 0.27 / 0.56,
    # alpha = n lam / 2: 0.051 / 0.106, seeds 0-4).
    assert s["max_error_if_alpha_equals_lam"] >= 1000 * s["tolerance"]
    assert s["max_error_if_alpha_is_n_lam_half"] >= 1000 * s["tolerance"]


def test_02_lasso(run_script, claim_seed):
    s = run_script(f"{LECTURE}/02_lasso.py", seed=claim_seed)["summary"]
    # The mapping alpha = lam / 2: scikit-learn's Lasso solutions (coordinate descent to a
    # duality gap of 1e-10) satisfy the optimality conditions of Keras' objective to a relative
    # violation of 7.2e-7 / 1.1e-6; read with alpha = lam, every active coefficient violates
    # them by exactly 1 (g_j = -lam sign(w_j) against the required -lam/2 sign(w_j); measured
    # 1.000 / 1.000).
    assert s["kkt_violation_alpha_lam_half"] <= 5e-6
    assert s["kkt_violation_alpha_lam"] >= 0.99
    # The Lasso's exact zeros grow with the penalty: none at the smallest penalty, all at the
    # largest, non-decreasing at the five Keras penalties, and rank-correlated along the whole
    # path (not monotone there: correlated features can leave zero again; Spearman measured
    # 0.914 / 0.976).
    assert s["lasso_zeros_at_smallest_penalty"] == 0
    assert s["lasso_zeros_at_largest_penalty"] == s["n_features"]
    assert s["lasso_zeros_grow_at_keras_penalties"]
    assert s["spearman_penalty_vs_lasso_zeros"] >= 0.9
    # (Measured below: Keras for seeds 0-7; for seeds 0-9 a float64 NumPy replay of the same
    # steps, which reproduces Keras' ratios to the third digit on seeds 0-7.)
    # Subgradient steps give no exact zero at all (measured 0 of 19 / 26 Lasso zeros) ...
    assert s["lasso_zeros_at_keras_penalties"] > 0
    assert s["keras_exact_zeros"] == 0
    # ... but the weights the Lasso zeroes end in the band |w| <= 2 eta lam. The band is
    # invariant while |g_j| <= lam; with |g_j| <= gamma lam it widens to (1 + gamma) eta lam, and
    # gamma over the last 2,000 steps was at most 1.043 (NumPy replay of the same steps), so
    # the bound is 1.02 x the band (measured 0.566 / 0.993 of it). Near the Lasso solution
    # the data gradient on its zeros is at most lam, up to the iterate's O(eta) distance from
    # the solution (gamma at the end of the run measured 0.88 / 1.0001, Keras, seeds 0-7).
    assert s["keras_on_lasso_zeros_over_2_eta_lam"] <= 1.02
    assert s["keras_gradient_on_lasso_zeros_over_lam"] <= 1.05
    # The band's count differs from the Lasso's support only where a Lasso coefficient is
    # itself inside the band, just off a kink (measured 0 / 2 such coefficients, at most 0.86
    # of the band); and the weights on the Lasso's zeros are below 10 % of the largest weight
    # (measured 3.5 % / 5.9 %).
    assert s["lasso_where_disagree_over_2_eta_lam"] <= 1.0
    assert s["keras_largest_on_lasso_zeros"] <= 0.1 * s["keras_largest_weight"]


def test_03_early_stopping_as_ridge(run_script, claim_seed):
    s = run_script(f"{LECTURE}/03_early_stopping_as_ridge.py", seed=claim_seed)["summary"]
    # r(t) = ||w_t - w_ridge(1 / (2 eta t))|| / ||w_LS|| is at most B(t), the largest
    # difference of the two filter factors at the actual steps eta lambda_i; an inequality
    # between float64 quantities of size ~0.2 (measured max_t (r - B) = -0.015 / -0.002).
    assert s["max_distance_minus_bound"] <= 1e-12
    # At eta lambda_max = 0.5 the top direction alone gives B(3) = 0.875 - 0.6 = 0.275, above
    # the eta -> 0 limit 0.204 (measured max_t B = 0.2750 for every seed; max_t r = 0.138 /
    # 0.187).
    assert s["max_bound"] == pytest.approx(0.275, abs=1e-3)
    assert s["continuous_limit_of_bound"] == pytest.approx(0.2036, abs=1e-4)
    assert s["max_relative_distance"] <= s["max_bound"]
    # Gradient descent ends at least squares: after eta t lambda_min = 40 the slowest
    # coordinate is off by (1 - eta lambda_min)^t <= e^-40, so only float64 rounding remains
    # (measured 2.0e-14 / 1.1e-13). The matched ridge solution, at eta t lambda_min = 40, keeps
    # a filter factor 40/41 on that coordinate, so it is within 1/41 = 0.0244 of least squares
    # relative to ||w_LS|| (measured final r = 0.0095 / 0.0224).
    assert s["final_gd_to_least_squares"] <= 1e-12
    assert s["final_relative_distance"] <= 1 / 41
    # The iterates are those of keras.optimizers.SGD, up to float32 rounding accumulated over
    # the steps (measured 1.7e-8 for seed 0; 5.0e-8 after the 50 steps of smoke mode).
    assert s["keras_sgd_vs_numpy_gd"] <= 1e-6


def test_04_map_estimation(run_script, claim_seed):
    s = run_script(f"{LECTURE}/04_map_estimation.py", seed=claim_seed)["summary"]
    # The scaled negative log-posterior equals Keras' loss (MSE + L2 or L1 with the mapped lam)
    # up to a constant; Keras computes in float32 on values of size ~10, so the spread is float32
    # rounding, ~1e-6 (measured 1.1e-6 / 3.9e-6, seeds 0-7).
    assert s["identity_spread_gaussian"] <= 1e-5
    assert s["identity_spread_laplace"] <= 1e-5
    # The numerically found MAP points are the ridge and Lasso solutions, to Powell's
    # tolerance xtol = 1e-10 (measured 1.4e-10 / 1.8e-8 and 9e-11 / 1.7e-8, seeds 0-7). That
    # the Gaussian prior shrinks the least-squares norm is a theorem about ridge, implied by the
    # first of these, so it is not asserted separately.
    assert s["map_vs_ridge"] <= 1e-7
    assert s["map_vs_lasso"] <= 1e-7
