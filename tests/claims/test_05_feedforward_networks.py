"""Lecture 05 (feed-forward networks): each script's lesson, asserted on its SUMMARY in full mode.

Measured values for seeds 0, 1, 2 are given next to each threshold.
"""

import pytest

pytestmark = pytest.mark.claims
LECTURE = "lectures/05_feedforward_networks"


def test_01_xor(run_script, claim_seed):
    s = run_script(f"{LECTURE}/01_xor.py", seed=claim_seed)["summary"]
    # No line gets more than 3 of the 4 corners: neither the trained logistic regression
    # (measured 0.500, 0.500, 0.500) nor the best of all lines found by a scan over directions
    # and thresholds, an oracle independent of training (measured 0.750, 0.750, 0.750).
    assert s["linear_accuracy"] <= 0.75
    assert s["best_line_accuracy"] <= 0.75
    # One hidden layer of two units classifies every point (measured 1.0 for all three seeds,
    # with 6, 9 and 7 of the 16 restarts reaching it).
    assert s["mlp_accuracy"] == 1.0


def test_02_activation_functions(run_script, claim_seed):
    s = run_script(f"{LECTURE}/02_activation_functions.py", seed=claim_seed)["summary"]
    # Automatic differentiation agrees with the analytic derivative of every activation to
    # 1e-5 away from the kinks (measured max over all eight: 4.3e-7, float32).
    names = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "softplus", "selu"]
    for name in names:
        assert s[f"max_error_{name}"] <= 1e-5, name
    assert s["max_error_all"] <= 1e-5


def test_03_width_and_depth(run_script, claim_seed):
    s = run_script(f"{LECTURE}/03_width_and_depth.py", seed=claim_seed)["summary"]
    # The smallest network (width 4, one hidden layer) underfits the spirals (measured training
    # accuracy 0.675, 0.678, 0.677) ...
    assert s["spirals_smallest_accuracy"] <= 0.80
    # ... the largest (width 64, three hidden layers) fits them (measured 1.000, 0.995, 1.000).
    assert s["spirals_largest_accuracy"] >= 0.95
    # Accuracy grows with width at every depth: the smallest step from one width to the next
    # (measured 0.000, 0.000, 0.002) ...
    assert s["spirals_min_width_step"] >= -0.02
    # ... and with depth at the narrowest width: both deeper width-4 networks beat the
    # one-layer one (smallest gain measured 0.132, 0.058, 0.202).
    assert s["spirals_narrow_deeper_gain"] >= 0.03


def test_04_universal_approximation(run_script, claim_seed):
    s = run_script(f"{LECTURE}/04_universal_approximation.py", seed=claim_seed)["summary"]
    # The constructed network's max error falls like 1/N^2: the slope of the log-log fit over
    # N = 4..512 is -2 within 0.1 (measured -1.988; the construction involves no randomness).
    assert s["n_min"] == 4 and s["n_max"] == 512
    assert -2.1 <= s["fitted_slope"] <= -1.9
    # Oracle: the interpolation theorem's bound h^2 max|f''| / 8 holds for every N
    # (measured max error / bound 0.999994: the bound is attained asymptotically).
    assert s["max_error_over_bound"] <= 1.0


def test_05_depth_separation(run_script, claim_seed):
    s = run_script(f"{LECTURE}/05_depth_separation.py", seed=claim_seed)["summary"]
    # The k-fold composed tent has exactly 2^k linear pieces, counted on a grid (measured
    # 2, 4, 8, 16, 32, 64), with 2k hidden units ...
    assert s["k_max"] == 6
    for k in range(1, 7):
        assert s[f"pieces_k{k}"] == 2**k, k
    assert s["pieces_equal_2_to_k"]
    # ... and the one-hidden-layer network with 2^k units built from the same knots computes
    # the same function (measured max difference 3.9e-13 in float64).
    assert s["max_deep_shallow_gap"] <= 1e-9


def test_06_three_keras_apis(run_script, claim_seed):
    s = run_script(f"{LECTURE}/06_three_keras_apis.py", seed=claim_seed)["summary"]
    # sum((n_in + 1) * n_out) for 4 -> 16 -> 8 -> 3 is 80 + 136 + 27 = 243, and each API's
    # count_params() gives exactly that, layer by layer.
    assert s["formula_parameters"] == 243
    for api in ("sequential", "functional", "subclassed"):
        assert s[f"{api}_parameters"] == 243
    assert s["parameter_counts_match"]
    # With the weights copied, the outputs are identical bit for bit; before copying they
    # differed (measured max difference functional / subclassed: 0.82 / 0.89, 0.90 / 0.76,
    # 0.86 / 0.91).
    assert s["functional_identical"] and s["subclassed_identical"]
    assert s["functional_diff_before_copy"] > 0.01
    assert s["subclassed_diff_before_copy"] > 0.01
