"""Lecture 01 (types of learning problems): each script's lesson, asserted on its SUMMARY in
full mode, against an independent oracle where there is one (normal equations, scikit-learn,
PCA by eigendecomposition, likelihoods by hand in NumPy)."""

import pytest

pytestmark = pytest.mark.claims
LECTURE = "lectures/01_learning_problems"


def test_01_linear_regression(run_script, claim_seed):
    s = run_script(f"{LECTURE}/01_linear_regression.py", seed=claim_seed)["summary"]
    # Gradient descent on a Dense(1) unit reaches the least-squares coefficients of the normal
    # equations (measured: largest difference 3e-7 to 1e-6 for seeds 0, 1, 2; float32 weights).
    assert s["max_coefficient_difference"] < 1e-4
    # ... and the float64 training loss of its weights is the least-squares minimum
    # (measured: below 3e-13).
    assert s["final_excess_mse"] < 1e-9


def test_02_logistic_regression(run_script, claim_seed):
    s = run_script(f"{LECTURE}/02_logistic_regression.py", seed=claim_seed)["summary"]
    # The sigmoid unit and scikit-learn's unpenalized LogisticRegression find the same
    # maximum-likelihood coefficients (measured: 5e-7 to 2e-6 for seeds 0, 1, 2) ...
    assert s["max_coefficient_difference"] < 1e-4
    # ... hence the same decision function (measured: at most 1.2e-5 on the test points) ...
    assert s["max_decision_difference"] < 1e-3
    # ... the same label for every test point and the same accuracies.
    assert s["label_agreement_test"] == 1.0
    assert s["train_accuracy_keras"] == s["train_accuracy_sklearn"]
    assert s["test_accuracy_keras"] == s["test_accuracy_sklearn"]


def test_03_softmax_regression(run_script, claim_seed):
    s = run_script(f"{LECTURE}/03_softmax_regression.py", seed=claim_seed)["summary"]
    # Ten linear scores and a softmax classify the digits well (measured test accuracy:
    # 0.961, 0.967, 0.967 for seeds 0, 1, 2; 360 test digits, so one digit is 0.003).
    assert s["test_accuracy"] >= 0.93


def test_04_linear_autoencoder_pca(run_script, claim_seed):
    s = run_script(f"{LECTURE}/04_linear_autoencoder_pca.py", seed=claim_seed)["summary"]
    # The decoder's column space is the top-k principal subspace: every principal angle is
    # below 1 degree (measured: largest angle about 0.01 degrees for seeds 0, 1, 2) ...
    assert s["max_principal_angle_degrees"] < 1.0
    # ... and the reconstruction error is PCA's optimal one (measured ratio: 1 + 1e-6).
    assert s["mse_ratio"] < 1.001


def test_05_losses_as_likelihoods(run_script, claim_seed):
    s = run_script(f"{LECTURE}/05_losses_as_likelihoods.py", seed=claim_seed)["summary"]
    # In float64, MSE (affinely rescaled), categorical and binary cross-entropy from Keras equal
    # the Gaussian, categorical and Bernoulli negative log-likelihoods computed by hand. The
    # lecture's tolerance is 1e-6; measured: at most 7e-15, so assert much tighter.
    assert s["max_difference_float64"] < 1e-12
    # The hand formula for the Gaussian is SciPy's log-density (measured: 9e-16).
    assert s["scipy_gaussian_difference"] < 1e-12
    # With float32 inputs the agreement is float32 round-off of losses up to about 7: stated
    # tolerance 1e-5 (measured: at most 3.4e-6 over seeds 0..19, BCE on probabilities).
    assert s["max_difference_float32"] < 1e-5
