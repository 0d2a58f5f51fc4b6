"""Lecture 15 (normalizing flows): each script's lesson, asserted on its SUMMARY in full mode.

Every threshold is derived from theory or from the quantity's sampling error; the values
measured are written next to it (min / max over seeds 0-9).
"""

import pytest

pytestmark = pytest.mark.claims
LECTURE = "lectures/15_normalizing_flows"


def test_01_change_of_variables(run_script, claim_seed):
    s = run_script(f"{LECTURE}/01_change_of_variables.py", seed=claim_seed)["summary"]
    # The formula is exact, so the KS p-value of the samples against its CDF is uniform on
    # [0, 1]: p >= 0.001 fails by chance with probability 0.001 per seed (measured 0.10 / 0.97,
    # seeds 0-9).
    assert s["ks_pvalue"] >= 1e-3
    # The test has the power to see a wrong density: without the Jacobian factor the KS
    # distance is about 0.27, twenty times the 1 % critical value 1.63 / sqrt(20,000) = 0.012
    # (measured p = 0.0, below the smallest double, for seeds 0-9).
    assert s["ks_pvalue_naive"] <= 1e-10
    # 2-D: 64 cells with at least 5 expected samples each (measured 94.6), so the chi-square
    # approximation holds and p >= 0.001 fails with probability 0.001 per seed (measured
    # 0.048 / 0.99, seeds 0-9); the naive density is rejected (p = 0.0, seeds 0-9).
    assert s["min_expected_cell_count"] >= 5
    assert s["chi2_pvalue"] >= 1e-3
    assert s["chi2_pvalue_naive"] <= 1e-10
    # The density integrates to 1 within quadrature error: adaptive quadrature in 1-D
    # (measured |I - 1| = 7.5e-14 against the error estimate 7.8e-10, every seed: the
    # quadrature does not depend on the samples), the trapezoid rule on a 1601^2 grid in 2-D
    # (measured |I - 1| = 5.2e-5 against the half-grid difference 1.6e-4: a third of it, as the
    # rule's O(h^2) error predicts).
    assert abs(s["integral_1d"] - 1) <= s["integral_1d_error_estimate"]
    assert abs(s["integral_2d"] - 1) <= s["integral_2d_error_estimate"] <= 1e-3
    # log|det J| from the formula equals the autodiff Jacobian's, in float64 to rounding
    # (a few units of 2.2e-16 on values of order 1; measured 2.2e-16 / 8.9e-16, seeds 0-9).
    assert s["log_det_error_1d"] <= 1e-12
    assert s["log_det_error_2d"] <= 1e-12


def test_02_coupling_layers(run_script, claim_seed):
    s = run_script(f"{LECTURE}/02_coupling_layers.py", seed=claim_seed)["summary"]
    # The checks are not on a near-identity map: the random stack moves each coordinate by
    # 0.60 / 0.86 on average (seeds 0-9) and its log-determinants range over -9.5 / 9.4.
    assert s["mean_displacement"] >= 0.3
    # inverse(forward(x)) = x for 256 random inputs through 8 layers. float32: within 1e-5
    # relative to the largest input (unit roundoff 6e-8, amplified by the 16 passes through
    # exp(+-s) with |s| < 1; measured 5.1e-7 / 2.3e-6, absolute 2.0e-6 / 9.1e-6 on inputs up to
    # about 4); float64: to rounding (measured 1.0e-15 / 2.8e-15).
    assert s["relative_reconstruction_error_float32"] <= 1e-5
    assert s["relative_reconstruction_error_float64"] <= 1e-13
    # The sum of the layers' log-determinants equals log|det| of the full autodiff Jacobian:
    # float32 within 1e-5 (log-determinants of order 10 summed from 64 terms, each rounded at
    # 1.2e-7 relative; measured 1.4e-6 / 2.5e-6), float64 to rounding (measured 2.7e-15 /
    # 4.9e-15). The determinant exp(sum of s) is positive: every Jacobian has sign +1.
    assert s["log_det_error_float32"] <= 1e-5
    assert s["log_det_error_float64"] <= 1e-12
    assert s["stack_det_positive"]
    # One layer is lower triangular in the order (kept, transformed): every entry above the
    # diagonal, and every off-diagonal entry of the transformed block, is exactly 0 (measured
    # 0 for seeds 0-9); the diagonal is exp(s) to rounding (measured 2.2e-16 / 4.4e-16).
    assert s["layer_nonzero_above_diagonal"] == 0
    assert s["layer_nonzero_off_diagonal_transformed_block"] == 0
    assert s["layer_diagonal_error"] <= 1e-14
    # The layer's log_det_jacobian is the sum of the logs of that diagonal (measured 3.9e-16 /
    # 8.9e-16).
    assert s["layer_log_det_error"] <= 1e-13
    # Its non-zero entries are exactly the identity block, the dense block and the diagonal:
    # (d/2 + (d/2)^2 + d/2) / d^2 = 80 / 256 for d = 16; the stack of 8 is dense (every
    # entry non-zero; measured 1.0 for seeds 0-9).
    d = s["dim"]
    assert s["layer_nonzero_fraction"] == (d + (d // 2) ** 2) / d**2
    assert s["stack_nonzero_fraction"] == 1.0


def test_03_two_moons(run_script, claim_seed):
    s = run_script(f"{LECTURE}/03_two_moons.py", seed=claim_seed)["summary"]
    # The flow beats the best single Gaussian on 1,000 held-out points by at least half a nat
    # per point (measured 0.63 / 0.84 nats, seeds 0-9), and by at least 5 standard errors of
    # the paired difference (standard error 0.026 / 0.060; the smallest gap is 10.8 of them).
    # The 0.5: the smallest measured gap less 2 of the largest standard errors,
    # 0.63 - 2 x 0.060 = 0.51, rounded down.
    assert s["nll_gap"] >= 0.5
    assert s["nll_gap"] >= 5 * s["nll_gap_se"]
    # The kernel two-sample test (MMD, 1,000 permutations) does not tell the flow's samples
    # from held-out data at level 0.01: p >= 0.01 (measured 0.12 / 0.77).
    assert s["mmd_pvalue_flow"] >= 0.01
    # The same test has the power to reject the Gaussian: its statistic exceeds all 1,000
    # permuted ones, p = 1/1001, the smallest possible (measured for seeds 0-9).
    assert s["mmd_pvalue_gauss"] == 1 / (1 + s["n_permutations"])
    # The same test against N(0, I) samples rejects the standardized data, which has the first
    # two moments of N(0, I), with the smallest possible p (measured for seeds 0-9). The flow's
    # base-space image of the held-out data is not asserted normal: the test rejects it too for
    # some seeds (measured p 0.001 / 0.67, below 0.01 for seeds 3, 5 and 6).
    assert s["normality_pvalue_standardized"] == 1 / (1 + s["n_permutations"])


def test_04_digits_flow(run_script, claim_seed):
    s = run_script(f"{LECTURE}/04_digits_flow.py", seed=claim_seed)["summary"]
    # The flow models the digits: 2.30 / 2.39 bits per dimension on the test digits of the
    # training classes (seeds 0-9), against log2 17 = 4.09 for the uniform distribution over
    # images; the standard error of a mean over 324 test digits is about 0.03.
    assert s["bpd_test_in"] <= s["bpd_uniform"] - 1.0
    # It is also below independent pixels (each with its smoothed histogram of levels: exact
    # discrete bits per dimension, measured 2.44 / 2.46) on the same test digits, although its
    # own figure is only an upper bound. Only the sign is asserted: the paired gap is 0.05 /
    # 0.15 bits, 1.9 / 6.8 of its standard errors (0.020 / 0.029), so a margin of 2 standard
    # errors would fail for seed 5.
    assert s["bpd_gap_independent"] > 0
    # The inverse is exact: the interpolation's end points decode to the two digits within
    # float32 rounding after 8 layers and the logit (measured 1.3e-7 / 2.9e-7).
    assert s["interpolation_end_point_error"] <= 1e-6
    # Noise is detected perfectly: every noise image is less likely than every test digit
    # (AUROC 1.0; the least likely test digit has 4.4 / 6.9 bits per dimension, the most likely
    # noise image 12.5 / 18.7).
    assert s["auroc_noise"] == 1.0
    assert s["bpd_noise_min"] > s["bpd_test_in_max"]
    # Constant images do not show the failure mode of Nalisnick et al. here: each of the 17 is
    # less likely than the median test digit (measured for seeds 0-9), AUROC 0.990 / 0.9995.
    # The AUROC bound: 17 constant images, so one that beats a fraction q of the test digits
    # lowers the AUROC by q / 17; AUROC >= 0.98 allows the 17 together to beat 0.34 of the
    # digits (one constant image beating a third of them), but no constant image beats half.
    assert s["constant_more_likely_than_median_digit"] == 0.0
    assert s["auroc_constant"] >= 0.98
    # The held-out class is detected far less well: AUROC 0.67 / 0.81 (about 36 held-out test
    # digits, so a standard error near sqrt(A(1 - A) / 36) = 0.07; the band is 2 standard
    # errors beyond the measured range), above chance and well below the noise's 1.0.
    assert 0.5 <= s["auroc_held_out"] <= 0.95
    # Faint digits (the test digits at half intensity) are only weakly detected, but are not
    # more likely than the digits (the failure of Nalisnick et al. would put the AUROC below
    # 0.5): AUROC 0.65 / 0.73 (324 against 324 images, standard error about 0.03; the band is
    # 4 standard errors beyond the measured range).
    assert 0.5 <= s["auroc_faint"] <= 0.85
    # On average too the faint digits are less likely than the digits (measured 0.08 / 0.21
    # bits per dimension more; standard error of the difference about 0.03).
    assert s["bpd_faint"] > s["bpd_test_in"]
