"""Lecture 05 (feedforward networks): each script's lesson, asserted on its SUMMARY in full mode.

Each threshold comes with its derivation and the values measured for seeds 0-9 (min / max).
"""

import math

import pytest

pytestmark = pytest.mark.claims
LECTURE = "lectures/05_feedforward_networks"


def test_01_xor(run_script, claim_seed):
    s = run_script(f"{LECTURE}/01_xor.py", seed=claim_seed)["summary"]
    # The convexity argument applies to the noisy clusters: every segment joining two class-0
    # points of different clusters crosses every such class-1 segment (True for seeds 0-9), so
    # every line misclassifies a whole cluster of 50: accuracy <= 150/200 = 0.75 (a proof) ...
    assert s["cluster_diagonals_cross"]
    assert s["line_accuracy_bound"] == 0.75
    # ... and a scan of 720 directions finds a line that reaches the bound (0.75 for seeds
    # 0-9): the best line's accuracy is exactly 3/4, a lower and an upper bound that meet.
    assert s["best_line_accuracy"] == s["line_accuracy_bound"]
    # The trained logistic regression cannot beat the best line (measured 0.500 / 0.530 over
    # seeds 0-9).
    assert s["linear_accuracy"] <= s["best_line_accuracy"]
    # One hidden layer of two units classifies every point (measured 1.0 for seeds 0-9, with
    # 5 / 11 of the 16 restarts reaching it).
    assert s["mlp_accuracy"] == 1.0


def test_02_activation_functions(run_script, claim_seed):
    s = run_script(f"{LECTURE}/02_activation_functions.py", seed=claim_seed)["summary"]
    # Automatic differentiation agrees with the analytic derivative of every activation to
    # float32 round-off away from the kinks: a few units of float32's eps = 1.2e-7 times
    # max |sigma'| <= lambda alpha = 1.76 gives about 1e-6 (measured max over all eight:
    # 4.3e-7; nothing here depends on the seed).
    names = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "softplus", "selu"]
    for name in names:
        assert s[f"max_error_{name}"] <= 1e-6, name
    assert s["max_error_all"] <= 1e-6
    # At the kink, TensorFlow's ReLU returns the subgradient 0.
    assert s["relu_derivative_at_0"] == 0.0
    # SELU's derivative jumps at 0 from lambda alpha = 1.7581 to lambda = 1.0507: autodiff at
    # the grid points 2e-3 left and right of 0 gives lambda alpha e^(-0.002) and lambda, to
    # float32 round-off.
    selu_lambda, selu_alpha = 1.0507009873554805, 1.6732632423543772
    left = selu_lambda * selu_alpha * math.exp(-0.002)
    assert s["selu_derivative_left_of_0"] == pytest.approx(left, rel=1e-6)
    assert s["selu_derivative_right_of_0"] == pytest.approx(selu_lambda, rel=1e-6)


def test_03_width_and_depth(run_script, claim_seed):
    s = run_script(f"{LECTURE}/03_width_and_depth.py", seed=claim_seed)["summary"]
    # The smallest network (width 4, one hidden layer) underfits the spirals (measured training
    # accuracy 0.638 / 0.722 over seeds 0-9) ...
    assert s["spirals_smallest_accuracy"] <= 0.80
    # ... the largest (width 64, three hidden layers) fits them (measured 0.995 / 1.000).
    assert s["spirals_largest_accuracy"] >= 0.95
    # Accuracy never falls with width at any depth: the smallest step from one width to the
    # next (measured 0.000 / 0.002, never negative) ...
    assert s["spirals_min_width_step"] >= 0.0
    # ... and depth helps the narrowest network: the better of the two deeper width-4 networks
    # beats the one-layer one (gain measured 0.107 / 0.350). Not both: a narrow deep ReLU
    # network can get stuck (seed 8: depth 2 reaches 0.587 against 0.675 for depth 1).
    assert s["spirals_narrow_deeper_gain"] >= 0.05
    # The moons need little capacity: the smallest network's shortfall from the largest is
    # less than half of its shortfall on the spirals (measured moons 0.011 / 0.127, spirals
    # 0.278 / 0.362; ratio at most 0.40, seed 6).
    assert s["moons_shortfall"] <= 0.5 * s["spirals_shortfall"]


def test_04_universal_approximation(run_script, claim_seed):
    s = run_script(f"{LECTURE}/04_universal_approximation.py", seed=claim_seed)["summary"]
    # The constructed network's max error falls like 1/N^2: the slope of the log-log fit over
    # N = 4..512 is -2 within 0.02 (measured -1.988; the construction involves no randomness,
    # and the deviation from -2 is the O(1/N) correction of the error at small N).
    assert s["n_min"] == 4 and s["n_max"] == 512
    assert -2.02 <= s["fitted_slope"] <= -1.98
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
    # the same function: a float64 identity (measured max difference 3.9e-13; the slopes of
    # T^6 are 64, which multiplies the round-off of the input; no randomness).
    assert s["max_deep_shallow_gap"] <= 1e-12
    # Approximation: with m = 2^(k-2) - 2 = 14 units every one-hidden-layer network is at L1
    # distance >= 1/8 - (m + 2)/2^(k+2) = 1/16 from T^6 ...
    assert s["l1_units_for_sixteenth"] == 14
    assert s["l1_bound_at_those_units"] == pytest.approx(1 / 16, abs=1e-15)
    # ... consistent with the constructed approximants, whose distance stays above the bound
    # for every m (smallest margin measured 0.133) and is 0 (to the grid's resolution, 1e-5)
    # with 2^k units.
    assert s["l1_min_distance_minus_bound"] >= 0.0
    assert s["l1_distance_2_to_k_units"] <= 1e-9


def test_06_three_keras_apis(run_script, claim_seed):
    s = run_script(f"{LECTURE}/06_three_keras_apis.py", seed=claim_seed)["summary"]
    # sum((n_in + 1) * n_out) for 4 -> 16 -> 8 -> 3 is 80 + 136 + 27 = 243, and each API's
    # count_params() gives exactly that, layer by layer.
    assert s["formula_parameters"] == 243
    for api in ("sequential", "functional", "subclassed"):
        assert s[f"{api}_parameters"] == 243
    assert s["parameter_counts_match"]
    # With the weights copied, the outputs are identical bit for bit; before copying they
    # differed (measured max difference 0.76 / 0.98 over seeds 0-9, both models):
    # differently initialized networks disagree on class probabilities by far more than 0.1.
    assert s["functional_identical"] and s["subclassed_identical"]
    assert s["functional_diff_before_copy"] > 0.1
    assert s["subclassed_diff_before_copy"] > 0.1
