"""Lecture 01 (types of learning problems): each script's lesson, asserted on its SUMMARY in
full mode, against an independent oracle where there is one (normal equations, scikit-learn,
PCA by eigendecomposition, likelihoods by hand in NumPy)."""

import math

import pytest

pytestmark = pytest.mark.claims
LECTURE = "lectures/01_learning_problems"


def test_01_linear_regression(run_script, claim_seed):
    s = run_script(f"{LECTURE}/01_linear_regression.py", seed=claim_seed)["summary"]
    # Gradient descent on a Dense(1) unit reaches the least-squares coefficients of the normal
    # equations, up to float32 round-off of weights of size about 2 (one ulp is 2.4e-7; measured
    # over seeds 0-9: largest difference 2.7e-7 to 1.0e-6, a few ulps).
    assert s["max_coefficient_difference"] < 5e-6
    # ... and the float64 training loss of its weights is the least-squares minimum: a float32
    # error delta <= 1e-6 in the weights costs at most lambda_max delta^2 / 2 ~ 1e-12 (measured
    # over seeds 0-9: 3.1e-14 to 2.7e-13).
    assert s["final_excess_mse"] < 1e-12
    # The convergence is linear at the predicted rate rho = max |1 - eta lambda_i(H)|: the slope
    # of log(excess) over the steps with excess > 1e-9 gives rho to float32 precision (relative
    # errors of ~1e-3 in an excess of 1e-9 spread over ~50 steps give ~1e-5; measured over seeds
    # 0-9: 1.4e-6 to 2.2e-5, over 42 to 86 steps).
    assert s["rate_fit_steps"] >= 20
    assert s["rate_relative_error"] < 1e-4


def test_02_logistic_regression(run_script, claim_seed):
    s = run_script(f"{LECTURE}/02_logistic_regression.py", seed=claim_seed)["summary"]
    # The sigmoid unit and scikit-learn's unpenalized LogisticRegression find the same
    # maximum-likelihood coefficients, up to float32 round-off of coefficients of size about 2.5
    # (one ulp 2.4e-7; measured over seeds 0-9: 4.6e-7 to 2.1e-6) ...
    assert s["max_coefficient_difference"] < 1e-5
    # ... hence the same decision function (measured over seeds 0-9: at most 2.4e-6 to 1.1e-5
    # on the 2,000 test points, inputs up to about 4 in size) ...
    assert s["max_decision_difference"] < 5e-5
    # ... and the float64 cross-entropy of the Keras weights is scikit-learn's optimum up to
    # round-off: a float32 error delta ~ 1e-6 costs ~ lambda_max delta^2 (measured over seeds
    # 0-9: 7.6e-15 to 7.1e-14) ...
    assert s["final_excess_loss"] < 5e-13
    # ... the same label for every test point and the same accuracies.
    assert s["label_agreement_test"] == 1.0
    assert s["train_accuracy_keras"] == s["train_accuracy_sklearn"]
    assert s["test_accuracy_keras"] == s["test_accuracy_sklearn"]


def test_03_softmax_regression(run_script, claim_seed):
    s = run_script(f"{LECTURE}/03_softmax_regression.py", seed=claim_seed)["summary"]
    # Ten linear scores and a softmax classify the digits well (measured test accuracy over
    # seeds 0-9: 0.956 to 0.975; 360 test digits, so one digit is 0.0028 and the binomial
    # standard error about 0.01: the bound is about 2.5 of them below the lowest).
    assert s["test_accuracy"] >= 0.93
    # No maximum-likelihood estimate: the training digits are linearly separable. scikit-learn's
    # weakly penalized weights classify every training digit correctly with a positive margin
    # (measured over seeds 0-9: margin 1.36 to 1.96, seeds 0 and 2-9) ...
    assert s["separating_train_accuracy"] == 1.0
    assert s["separating_margin"] > 0.0
    # ... so the unpenalized loss falls strictly along the ray (sW, sb), s = 1, 2, 4, 8, 16,
    # towards its infimum 0. Each example's term is log(1 + sum_{c != y} exp(-s m_ic)) <=
    # 9 exp(-s margin), so L(16 W, 16 b) <= 9 exp(-16 margin) (measured over seeds 0-9: largest
    # ratio of consecutive losses 0.031 to 0.056; loss at s = 16 2.6e-17 to 4.3e-13).
    assert s["ray_loss_max_step_ratio"] < 0.5
    # (+ 1e-15: float64 rounds log(1 + x) to 0 or to about x + 2e-16 when x is tiny).
    assert s["ray_loss_s16"] <= 9.0 * math.exp(-16.0 * s["separating_margin"]) + 1e-15


def test_04_linear_autoencoder_pca(run_script, claim_seed):
    s = run_script(f"{LECTURE}/04_linear_autoencoder_pca.py", seed=claim_seed)["summary"]
    # The decoder's column space is the top-k principal subspace, up to the noise floor of
    # Adam's constant step (measured over seeds 0-9: largest principal angle 3.2e-4 to 9.5e-3
    # degrees, seed-dependent because the floor is a jitter; the bound is 3 times the largest).
    assert s["max_principal_angle_degrees"] < 0.03
    # ... and the reconstruction error is PCA's, the Eckart-Young optimum: never below it beyond
    # float32 round-off of Keras' mean (about 1e-7 relative), and above it only by Adam's
    # jitter (measured over seeds 0-9: ratio 1 + 1.2e-7 to 1 + 8.5e-7).
    assert abs(s["mse_ratio"] - 1.0) < 3e-6
    assert s["mse_ratio"] > 1.0 - 1e-6


def test_05_losses_as_likelihoods(run_script, claim_seed):
    s = run_script(f"{LECTURE}/05_losses_as_likelihoods.py", seed=claim_seed)["summary"]
    # In float64, MSE (affinely rescaled), categorical and binary cross-entropy from Keras equal
    # the Gaussian, categorical and Bernoulli negative log-likelihoods computed by hand, to
    # float64 round-off of losses up to about 8 (measured over seeds 0-9: 2.0e-15 to 7.1e-15).
    assert s["max_difference_float64"] < 1e-12
    # The hand formula for the Gaussian is SciPy's log-density (measured over seeds 0-9: 8.9e-16
    # to 1.8e-15).
    assert s["scipy_gaussian_difference"] < 1e-12
    # With float32 inputs the agreement is float32 round-off of losses up to about 8, a few ulps
    # of 4.8e-7 (measured over seeds 0-9: 6.6e-7 to 3.4e-6, BCE on probabilities).
    assert s["max_difference_float32"] < 1e-5
