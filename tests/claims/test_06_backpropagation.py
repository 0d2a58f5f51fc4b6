"""Lecture 06 (backpropagation): each script's lesson, asserted on its SUMMARY in full mode.

Each threshold comes with its derivation and the values measured for seeds 0-9 (min / max).
"""

import math

import pytest

pytestmark = pytest.mark.claims
LECTURE = "lectures/06_backpropagation"


def test_01_backprop_by_hand(run_script, claim_seed):
    s = run_script(f"{LECTURE}/01_backprop_by_hand.py", seed=claim_seed)["summary"]
    # The NumPy forward pass computes Keras' float64 loss (measured: 0 for seeds 0-3).
    assert s["loss_numpy_minus_keras"] < 1e-12
    # Full mode checks every parameter by finite differences.
    assert s["n_finite_differences"] == s["n_parameters"]
    # The hand-written backward pass equals the tape's gradient to float64 round-off: a float64
    # identity (measured: at most 4.3e-16 over the layers, seeds 0-3) ...
    assert s["max_rel_error_tape"] < 1e-12
    # ... and central differences (h = 1e-5) to their own accuracy (measured at most 1.1e-9),
    # which is their round-off: each quotient is off by about eps L / h, so a layer of m
    # entries by sqrt(m) eps L / h in norm. Measured over that estimate: 0.23 / 0.27 over the
    # layers (seeds 0-3); a wrong derivative of relative size 1e-8 would push it above 2.
    assert s["max_rel_error_fd"] < 1e-8
    assert 0.05 <= s["min_fd_error_over_roundoff"]
    assert s["max_fd_error_over_roundoff"] <= 2.0


def test_02_chain_rule_graph(run_script, claim_seed):
    s = run_script(f"{LECTURE}/02_chain_rule_graph.py", seed=claim_seed)["summary"]
    # Forward mode and reverse mode by hand agree with tf.GradientTape, ForwardAccumulator and
    # the closed form on 100,000 random points: float64 identities (measured: exactly 0 for
    # seeds 0-9).
    assert s["max_rel_error"] < 1e-12
    # The gradient at the point drawn in the figure, against the closed form computed here.
    x1, x2 = s["x1_shown"], s["x2_shown"]
    assert math.isclose(s["df_dx1_shown"], 1 / x1 + x2, rel_tol=1e-12, abs_tol=1e-12)
    assert math.isclose(s["df_dx2_shown"], x1 - math.cos(x2), rel_tol=1e-12, abs_tol=1e-12)
    # Finite differences only approximate the gradient (measured: 2.14e-11 / 2.15e-11 over
    # seeds 0-9, the O(h^2) + O(eps/h) error at h = 1e-5), far worse than automatic
    # differentiation.
    assert 1e-12 < s["rel_error_finite_differences"] < 1e-9


def test_03_custom_training_loop(run_script, claim_seed):
    s = run_script(f"{LECTURE}/03_custom_training_loop.py", seed=claim_seed)["summary"]
    # Training actually moved the weights (measured: 0.26 / 0.42 over seeds 0-9) ...
    assert s["weights_moved"] > 0.05
    # ... and the loop ends at fit's weights: the same float32 operations in the same order
    # (measured: exactly 0 for seeds 0-9; a float32 identity, asserted at 1e-6).
    assert s["max_weight_diff"] < 1e-6
    # The reported epoch losses agree to float32 averaging (measured: 5.8e-8 / 2.8e-7 over
    # seeds 0-9; fit averages the batch losses in float32, the loop in float64).
    assert s["max_loss_diff"] < 1e-6


def test_04_vanishing_gradients(run_script, claim_seed):
    s = run_script(f"{LECTURE}/04_vanishing_gradients.py", seed=claim_seed)["summary"]
    # Sigmoid: the first kernel's gradient is 4^-(L-1) = 9.3e-10 times the last one's, within
    # a factor 10 (measured 3.6e-10 / 9.7e-10 over seeds 0-9, log10 of ratio * 4^15 in
    # [-0.42, 0.02]).
    ratio = s["sigmoid_first_over_last"] / s["quarter_to_the_L_minus_1"]
    assert abs(math.log10(ratio)) < 1.0
    # ReLU: the same order of magnitude (measured 0.85 / 3.7).
    assert 0.1 < s["relu_first_over_last"] < 10
    # The sigmoid network loses a factor just below 1/4 per layer, sqrt(E[sigma'(z)^2]) with z
    # near 0 (geometric mean over the square layers, measured 0.233 / 0.242) ...
    assert 0.22 <= s["sigmoid_mean_gain"] <= 0.25
    # ... the ReLU network 1/sqrt(2) = 0.7071 (measured 0.687 / 0.720) ...
    assert abs(s["relu_mean_gain"] - 1 / math.sqrt(2)) < 0.03
    # ... and both follow the mean-field recursion layer by layer: the geometric mean of
    # measured over predicted factors is 1 within 5 % (measured sigmoid 0.988 / 1.024, ReLU
    # 0.987 / 1.013; a per-layer spread of about 5 % over 15 layers).
    assert abs(s["sigmoid_gain_over_mean_field"] - 1) < 0.05
    assert abs(s["relu_gain_over_mean_field"] - 1) < 0.05
    # The worst-case bound (1/4)||W||_2 is never exceeded (measured up to 0.67 / 0.76 of it),
    # but it is about 1/2, not 1/4: the square Glorot kernels have ||W||_2 near
    # 2 sqrt(n Var[w]) = 2 (measured 1.80 / 2.04 over all of them).
    assert s["sigmoid_max_gain_over_bound"] <= 1.0
    assert 1.7 <= s["hidden_kernel_norm_min"] and s["hidden_kernel_norm_max"] <= 2.2
