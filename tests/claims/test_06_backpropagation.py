"""Lecture 06 (backpropagation): each script's lesson, asserted on its SUMMARY in full mode."""

import math

import pytest

pytestmark = pytest.mark.claims
LECTURE = "lectures/06_backpropagation"


def test_01_backprop_by_hand(run_script, claim_seed):
    s = run_script(f"{LECTURE}/01_backprop_by_hand.py", seed=claim_seed)["summary"]
    # The NumPy forward pass computes Keras' loss (measured: 0 for seeds 0, 1, 2).
    assert s["loss_numpy_minus_keras"] < 1e-12
    # Full mode checks every parameter by finite differences.
    assert s["n_finite_differences"] == s["n_parameters"]
    # The hand-written backward pass equals the tape's gradient to float64 round-off
    # (measured: at most 4.3e-16 over the layers for seeds 0, 1, 2) ...
    assert s["max_rel_error_tape"] < 1e-7
    # ... and central differences (h = 1e-5) to their own accuracy (measured: at most 1.2e-9).
    assert s["max_rel_error_fd"] < 1e-5


def test_02_chain_rule_graph(run_script, claim_seed):
    s = run_script(f"{LECTURE}/02_chain_rule_graph.py", seed=claim_seed)["summary"]
    # Forward mode and reverse mode by hand agree with tf.GradientTape, ForwardAccumulator and
    # the closed form on 100,000 random points (measured: exactly 0 for seeds 0, 1, 2).
    assert s["max_rel_error"] < 1e-10
    # The gradient at the point drawn in the figure, against the closed form computed here.
    x1, x2 = s["x1_shown"], s["x2_shown"]
    assert math.isclose(s["df_dx1_shown"], 1 / x1 + x2, rel_tol=1e-12, abs_tol=1e-12)
    assert math.isclose(s["df_dx2_shown"], x1 - math.cos(x2), rel_tol=1e-12, abs_tol=1e-12)
    # Finite differences only approximate the gradient (measured: 2.1e-11 for seeds 0, 1, 2),
    # worse than automatic differentiation in either mode.
    assert s["max_rel_error"] < s["rel_error_finite_differences"] < 1e-6


def test_03_custom_training_loop(run_script, claim_seed):
    s = run_script(f"{LECTURE}/03_custom_training_loop.py", seed=claim_seed)["summary"]
    # Training actually moved the weights (measured: 0.26, 0.29, 0.30 for seeds 0, 1, 2) ...
    assert s["weights_moved"] > 0.05
    # ... and the loop ends at fit's weights (measured: exactly 0 for seeds 0, 1, 2).
    assert s["max_weight_diff"] < 1e-5
    # The reported epoch losses agree too (measured: 2.3e-7, 1.0e-7, 1.0e-7;
    # fit averages the batch losses in float32).
    assert s["max_loss_diff"] < 1e-5


def test_04_vanishing_gradients(run_script, claim_seed):
    s = run_script(f"{LECTURE}/04_vanishing_gradients.py", seed=claim_seed)["summary"]
    # Sigmoid: the first kernel's gradient is many orders of magnitude below the last one's
    # (measured: 4.2e-10, 9.0e-10, 9.7e-10 for seeds 0, 1, 2; theory 4^-15 = 9.3e-10).
    assert s["sigmoid_first_over_last"] < 1e-3
    # ReLU: the same order of magnitude (measured: 1.7, 2.1, 3.7).
    assert 0.1 < s["relu_first_over_last"] < 10
    # The sigmoid network loses a factor near 1/4 per layer (measured: 0.24, 0.25, 0.25) ...
    assert 0.15 < s["sigmoid_mean_gain_per_layer"] < 0.3
    # ... and never more than the chain-rule bound (1/4)||W||_2 allows (measured: 0.67, 0.76, 0.73).
    assert s["sigmoid_max_gain_over_bound"] <= 1.0
