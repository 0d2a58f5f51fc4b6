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
    # (measured |I - 1| = 5.2e-5 against the half-grid difference 1.6e-4).
    assert abs(s["integral_1d"] - 1) <= s["integral_1d_error_estimate"]
    assert abs(s["integral_2d"] - 1) <= s["integral_2d_error_estimate"] <= 1e-3
    # log|det J| from the formula equals the autodiff Jacobian's, in float64 to rounding
    # (a few units of 2.2e-16 on values of order 1; measured 2.2e-16 / 8.9e-16, seeds 0-9).
    assert s["log_det_error_1d"] <= 1e-12
    assert s["log_det_error_2d"] <= 1e-12
