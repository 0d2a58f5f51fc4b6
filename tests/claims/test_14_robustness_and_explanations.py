"""Lecture 14 (robustness and explanations): each script's lesson, asserted in full mode.

Every threshold is derived from theory or from the quantity's sampling error; the values
measured are written next to it (min / max over seeds 0-9).
"""

import pytest

pytestmark = pytest.mark.claims
LECTURE = "lectures/14_robustness_and_explanations"


# --- scripts 01-03 (adversarial examples): writer A ---


def test_01_linear_fragility(run_script, claim_seed):
    s = run_script(f"{LECTURE}/01_linear_fragility.py", seed=claim_seed)["summary"]
    # eps * sign(w) changes the Keras Dense layer's float64 score by exactly eps * ||w||_1:
    # an identity, so float64 rounding only (a few units of 2.2e-16 times the sqrt(d) ~ 128
    # terms of the dot product; measured 4.7e-15 / 1.2e-14).
    assert s["change_rel_error_fixed"] <= 1e-12
    assert s["change_rel_error_glorot"] <= 1e-12
    # The projections x - s w / ||w||_2^2 (L2) and x - s sign(w) / ||w||_1 (L-inf) lie on the
    # boundary: the Keras score there is 0 relative to |w|.|z| + |b| (measured 2.0e-16 /
    # 3.8e-16); the L2 step is the minimum-norm solution of w . delta = -s (numpy lstsq;
    # measured 1.2e-15 / 7.1e-15).
    assert s["boundary_rel_error_l2"] <= 1e-12
    assert s["boundary_rel_error_linf"] <= 1e-12
    assert s["lstsq_rel_error"] <= 1e-12
    # The L-inf distance |s| / ||w||_1 is the optimum of a linear program (HiGHS, feasibility
    # tolerance 1e-7; it returns a vertex, exact to rounding: measured 2.3e-16 / 9.3e-16).
    assert s["lp_rel_error"] <= 1e-7
    # The score change grows like d for fixed-scale weights: the log-log slope over d = 16 ..
    # 16,384 is 1 within 4 of its standard errors, which the script derives from the relative
    # spread sqrt(pi/2 - 1) / sqrt(20 d) of the mean |w_i| (0.0046; measured slope 0.9936 / 1.0050);
    # Glorot weights give the slope of d * sqrt(6 / (d + 20)) / 2, 0.5506, within 4 standard
    # errors (0.0035; measured 0.5449 / 0.5555). The standard error itself is checked, so the
    # tolerance cannot silently grow. (slope_fixed_expected is 1 by arithmetic, the
    # least-squares slope of log(c d) against log d: reported, not a claim.)
    assert abs(s["slope_fixed"] - 1.0) <= 4 * s["slope_fixed_se"]
    assert s["slope_fixed_se"] <= 0.005
    assert abs(s["slope_glorot"] - s["slope_glorot_expected"]) <= 4 * s["slope_glorot_se"]
    assert s["slope_glorot_se"] <= 0.004
    # Distances to the boundary of random images in [0, 1]^d: the L2 distance does not depend
    # on d (slope 0) and the L-inf distance falls like d^(-1/2). Each slope is fitted to
    # medians of 4,000 distances (200 images x 20 units; the units' scores are uncorrelated).
    # The median m = 0.195 of |N(0, 1/12)|, with density f(m) = 2.2, has the relative standard
    # error 1 / (2 f(m) m sqrt(4000)) = 1.9 %, which the fit's coefficients (sum c_k^2 =
    # 0.030) turn into 0.0032 on the slope. The L-inf distance also carries the per-unit
    # factor ||w||_2 / ||w||_1, whose log has the standard deviation 0.063 at d = 16 (halving
    # with each factor 4 in d); averaged over 20 units it adds 0.0015, 0.0035 in all. The
    # bound 0.014 is 4 of these standard errors, and 3 of the spreads measured over seeds
    # (standard deviations 0.0041 and 0.0047; measured slopes -0.0081 / 0.0061 and
    # -0.508 / -0.493).
    assert abs(s["slope_l2_distance"]) <= 0.014
    assert abs(s["slope_linf_distance"] + 0.5) <= 0.014
    # ... and the L2 median is the 0.195 of |N(0, 1/12)| within 4 of its relative standard
    # errors, 4 x 1.9 % (measured 0.187 / 0.200 at d = 16,384).
    assert 0.18 <= s["median_l2_largest_dim"] <= 0.21
    # The attack -sign(s) eps sign(w), applied through the Keras layer to every image and unit
    # (24,000 per d), changes the sign of the score exactly when the L-inf distance
    # |s| / ||w||_1 is below eps: float64 could disagree only for |s| within rounding
    # (1e-15 relative) of eps ||w||_1 (measured 0 disagreements for every seed) ...
    assert s["flip_mismatches"] == 0
    # ... and one grey level flips every decision at d = 16,384, counted by the layer: the
    # L-inf distance there exceeds 1/16 only if |N(0, 1)| > 22 (measured 1.0 for every seed).
    assert s["flipped_largest_dim"] == 1.0


def test_02_fgsm_and_pgd(run_script, claim_seed):
    s = run_script(f"{LECTURE}/02_fgsm_and_pgd.py", seed=claim_seed)["summary"]
    # Both classifiers are good on clean digits: 450 test digits give a binomial standard
    # error of 0.008 at 97 %; 0.94 is 3 of them below the smallest measured value (MLP
    # 0.962 / 0.978, CNN 0.973 / 0.989).
    assert s["clean_accuracy_mlp"] >= 0.94
    assert s["clean_accuracy_cnn"] >= 0.94
    # The attacks' input gradient (tf.GradientTape, float32) equals the MLP's chain rule
    # written out in float64 NumPy, to float32 rounding: unit roundoff 6e-8, accumulated over
    # sums of 64 and 128 terms; 3e-6 of the largest entry (measured 2.8e-7 / 7.8e-7).
    assert s["input_gradient_rel_error_mlp"] <= 3e-6
    # Every attacked image lies in the eps-ball and in [0, 1] exactly: the radii are multiples
    # of 1/64 and the pixels of 1/16, so x +- eps are exact in float32 and clipping returns a
    # bound or its input; the distances are measured in float64 (measured 0.0 for every seed).
    assert s["max_violation"] == 0.0
    # PGD is not stronger than FGSM digit by digit (it returns its last iterate, from a random
    # start, and maximizes the loss, not the error): per radius a few digits are misclassified
    # by FGSM only. Their count behaves like a rare-event count with a mean of at most 1.2 per
    # radius (measured means over seeds 0 / 1.2 per radius); for a Poisson count of
    # mean 1.2, P(>= 7) = 1.5e-4, so over 6 radii and 2 models a count above 6 has
    # probability 0.2 % per seed (measured largest count 2 (MLP) and 3 (CNN) over seeds 0-9).
    assert s["max_fgsm_only_flips_mlp"] <= 6
    assert s["max_fgsm_only_flips_cnn"] <= 6
    # The accuracy gap PGD - FGSM at a radius is (FGSM-only - PGD-only flips) / 450, so the
    # bound above gives PGD's accuracy at most FGSM's + 6/450 at every radius (measured largest
    # gap 0.0 for both models and every seed; at 2/64 both attacks flip nearly the same
    # digits, so the gap is 0 there, a tie, not a margin).
    assert s["max_pgd_minus_fgsm_mlp"] <= 6 / 450
    assert s["max_pgd_minus_fgsm_cnn"] <= 6 / 450
    # In the steep middle of the curves, 6/64 .. 10/64, PGD flips more digits than FGSM at
    # every radius (PGD-only minus FGSM-only: measured smallest 11 (MLP) and 7 (CNN); the
    # smallest per-radius mean over seeds is 13.9, and P(Poisson(7) <= 1) = 0.7 %) and tens
    # more in total over the three radii (measured 54 / 87 (MLP), 48 / 86 (CNN); means 72.4
    # and 67.9, standard deviations over seeds 9.1 and 13.3, so 28 is 3 of the CNN's below
    # its mean and 4.9 of the MLP's below its mean).
    assert s["min_pgd_only_minus_fgsm_only_middle_mlp"] >= 1
    assert s["min_pgd_only_minus_fgsm_only_middle_cnn"] >= 1
    assert s["total_pgd_only_minus_fgsm_only_middle_mlp"] >= 28
    assert s["total_pgd_only_minus_fgsm_only_middle_cnn"] >= 28
    # Hence PGD's accuracy is strictly below FGSM's somewhere, by at least 9 of the 450
    # digits (measured gaps -0.089 / -0.049 (MLP) and -0.093 / -0.051 (CNN)).
    assert s["min_pgd_minus_fgsm_mlp"] <= -0.02
    assert s["min_pgd_minus_fgsm_cnn"] <= -0.02
    # (At eps = 0 both attacks return the digits themselves: a check of the code, not a
    # claim, so it is not asserted.)
    # At eps = 12/64 (three grey levels) PGD leaves at most 8 % of the digits correctly
    # classified (measured 0.007 / 0.022 (MLP) and 0.007 / 0.038 (CNN); the binomial standard
    # error is at most 0.009 at 4 %, so 8 % is the largest value plus 4 of them) ...
    assert s["pgd_accuracy_largest_eps_mlp"] <= 0.08
    assert s["pgd_accuracy_largest_eps_cnn"] <= 0.08
    # ... while a 5-nearest-neighbour classifier on raw pixels, which no gradient attacked,
    # still reads most of the MLP's PGD digits correctly (measured 0.75 / 0.82, standard error
    # 0.02; the bound is 5 of them below the smallest value), against 0.98 / 0.99 on clean
    # digits: the attack changed the MLP's decision far more than the digit ...
    assert s["knn_accuracy_pgd_mlp_largest_eps"] >= 0.65
    assert s["knn_accuracy_clean"] >= 0.95
    # ... but not nothing: random signs of the same size, Pi(x +- eps), leave the reader at
    # 0.97 / 0.99 (binomial standard error 0.007; 0.94 is 4 of them below the smallest), and
    # the paired difference random - PGD is 0.16 / 0.23 (standard error
    # sqrt((p10 + p01 - (p10 - p01)^2) / 450) = 0.019 at about 20 % discordant digits, the
    # spread over seeds 0.023; 0.1 is the smallest less 3 of them): PGD greys the background.
    assert s["knn_accuracy_random_signs_largest_eps"] >= 0.94
    diff = s["knn_accuracy_random_signs_largest_eps"] - s["knn_accuracy_pgd_mlp_largest_eps"]
    assert diff >= 0.1
    # How PGD fills the box at 12/64 (figure 2): about two thirds of the pixels at +-eps
    # (measured 0.666 / 0.680, standard deviation over seeds 0.0045) and about a quarter
    # unchanged, background at 0 pushed down and clipped (measured 0.231 / 0.250, standard
    # deviation 0.0054); each bound lies 3.6-4.4 standard deviations outside the measured range.
    assert 0.65 <= s["pgd_fraction_at_eps"] <= 0.70
    assert 0.21 <= s["pgd_fraction_unchanged"] <= 0.27


def test_03_adversarial_training(run_script, claim_seed):
    s = run_script(f"{LECTURE}/03_adversarial_training.py", seed=claim_seed)["summary"]
    # Paired comparison on the same 540 test digits (same initial weights, same batches): per
    # digit the difference D of the two models' correctness has the variance
    # p10 + p01 - (p10 - p01)^2 (p10: only the robust model right, p01: only the standard
    # one), and the script reports the standard error sqrt(var / 540).
    # Robust accuracy under 20-step PGD at the training radius 8/64 rises from 0.19 / 0.22 to
    # 0.73 / 0.77, a gain of 0.52 / 0.59 (seeds 0-9); its standard error is 0.021 / 0.022
    # (the spread over seeds, 0.020, agrees), and 0.45 is the smallest gain less 3 of them.
    assert s["robust_gain"] >= 0.45
    assert s["robust_gain_se"] <= 0.025
    # Clean accuracy drops by at most 3 points (measured -0.004 / 0.006: on these small digits
    # the robust model is as accurate as the standard one). Each model errs on 2-3 % of the
    # digits; the paired standard error is 0.0041 / 0.0083, and 0.03 is the largest drop plus
    # 3 of the largest standard error.
    assert s["clean_drop"] <= 0.03
    # (binomial standard error 0.0067 at 97.6 %; 0.94 is 4 of them below the smallest, 0.969)
    assert s["clean_accuracy_adversarial"] >= 0.94
    # The robust model's loss is flatter around the test digits: its mean loss rises along its
    # signed gradient by a ninth to an eighth of the standard model's rise (measured 0.63 /
    # 0.70 against 5.2 / 5.8, a ratio of 0.109 / 0.130, standard deviation over seeds 0.0064;
    # 0.15 is the largest ratio plus 3 of them), and its input gradient is smaller in L1 (mean
    # ||grad_x L||_1 1.73 / 1.90 against 3.7 / 4.8, a ratio of 0.38 / 0.47, standard deviation
    # 0.031; 0.6 is the largest plus 4 of them).
    assert s["loss_rise_gradient_adversarial"] <= 0.15 * s["loss_rise_gradient_standard"]
    assert s["grad_l1_adversarial"] <= 0.6 * s["grad_l1_standard"]
    # Along a random sign vector r, drawn independently of the digits, the loss of both models
    # rises far less than along the gradient sign: along the gradient the first-order rise is
    # eps ||grad||_1 > 0; along r the rise is measured symmetrically,
    # (l(eps r) + l(-eps r)) / 2 - l(0), which cancels the first-order term eps grad . r and
    # leaves the curvature, eps^2 r' H r / 2. Its ratio to the gradient rise is a measured,
    # not a predicted, quantity: 0.002 / 0.033 (standard, standard deviation over seeds 0.010)
    # and 0.022 / 0.076 (robust, 0.020); each bound is the largest ratio plus 3 of them.
    assert s["loss_rise_random_standard"] <= 0.065 * s["loss_rise_gradient_standard"]
    assert s["loss_rise_random_adversarial"] <= 0.14 * s["loss_rise_gradient_adversarial"]


# --- scripts 04-06 (boundaries and attributions): writer B ---


def test_04_deepfool_boundary(run_script, claim_seed):
    s = run_script(f"{LECTURE}/04_deepfool_boundary.py", seed=claim_seed)["summary"]
    # Linear model, float64: one DeepFool step is the orthogonal projection, equal to NumPy's
    # minimum-norm least-squares solution to rounding (values of order 1, unit roundoff
    # 1.1e-16; measured 2.2e-16 / 6.7e-16, seeds 0-9); its length is |f| / ||w|| (measured
    # 2.2e-16), the score there is 0 (measured 6.1e-16 / 1.2e-15) and a second step does not
    # move (measured 1.5e-16 / 3.5e-16).
    assert s["linear_projection_error"] <= 1e-12
    assert s["linear_distance_error"] <= 1e-12
    assert s["linear_max_abs_f_after"] <= 1e-12
    assert s["linear_second_step"] <= 1e-12
    # Network: bisection on the first sign change of the last segment puts the boundary points
    # on f = 0 to rounding (2^-60 of a 1/64 piece; measured |f| <= 1.1e-14 / 2.9e-14). How many
    # points DeepFool takes across is a property of the trained score, not a claim: 87 / 100 of
    # 100 crossed over seeds 0-9, the stalls clustered in one pocket of |f| > 0 (13 points,
    # seed 4); the claims below need only enough compared points.
    assert s["deepfool_max_abs_f"] <= 1e-12
    # The grid oracle is accurate: every contour vertex and segment midpoint lies within
    # oracle_error of f = 0 (first order), O(h^2) = O(2.5e-5) times the curvature (measured
    # 2.8e-5 / 3.4e-4); enough points are compared (measured 79 / 97 of 100; with 60 points
    # a binomial fraction has standard error <= 0.065).
    assert s["oracle_error"] <= 1e-3
    assert s["n_inside_grid"] >= 60
    # oracle_error measures one direction: every contour point is within it of f = 0, so
    # d <= d_grid + oracle_error. The reverse, d_grid <= d + oracle_error, needs a contour
    # point near the true nearest point (the grid resolves the whole boundary): assumed. Since
    # f(x*) = 0, d_DeepFool >= d holds by definition, so this first check tests the oracle and
    # that assumption (measured min(d_DeepFool - d_grid) + oracle_error = 1.5e-5 / 3.3e-4 > 0,
    # seeds 0-9).
    assert s["min_excess"] >= -s["oracle_error"]
    # The lesson: DeepFool is tight for some points (measured min excess -2.9e-5 / 4.6e-6,
    # inside the oracle's error)...
    assert s["min_excess"] <= s["oracle_error"]
    # ...and well above the true distance for others (by the measured direction
    # d <= d_grid + oracle_error, d_DeepFool / d >= ratio * d_grid / (d_grid + oracle_error),
    # oracle_error <= 3.4e-4 against d_grid of order 0.1): largest
    # ratio measured 1.25 / 3.8; fraction of points more than 5 % above measured 0.15 / 0.48,
    # about 90 points each, so 0.05 is 3 binomial standard errors (0.038) below the smallest.
    assert s["max_ratio"] >= 1.15
    assert s["fraction_ratio_above_1_05"] >= 0.05
    # There x - x* is not normal to the boundary. For a flat boundary through x* at angle theta
    # to the offset, d = ||x - x*|| cos(theta), so ratio = 1 / cos(theta): ratio > 1.05 means
    # cos < 1 / 1.05 = 0.952 and ratio <= 1.01 means cos >= 1 / 1.01 = 0.990. Medians over
    # those points measured 0.740 / 0.899 (ratio > 1.05) and 0.9960 / 0.9999 (ratio <= 1.01).
    assert s["median_normal_cosine_above"] <= 1 / 1.05
    assert s["median_normal_cosine_tight"] >= 1 / 1.01
    # The first-order estimate |f(x)| / ||grad f(x)|| is no bound: it falls below the true
    # distance for some points and above it for others (fraction below measured 0.31 / 0.54,
    # about 90 points, binomial standard error 0.05), and it is further off than DeepFool
    # (median |log ratio| 3.8 / 15.9 times DeepFool's, seeds 0-9).
    assert 0.15 <= s["linear_fraction_under"] <= 0.85
    assert s["linear_min_ratio"] < 1 < s["linear_max_ratio"]
    assert s["linear_median_abs_log_ratio"] >= 2 * s["deepfool_median_abs_log_ratio"]


def test_05_integrated_gradients(run_script, claim_seed):
    s = run_script(f"{LECTURE}/05_integrated_gradients.py", seed=claim_seed)["summary"]
    # Completeness of integrated gradients up to the Riemann-sum error, whose rate is the
    # Euler-Maclaurin prediction: left rule 1/m, midpoint rule 1/m^2 (log-log slopes of the
    # median relative error over 32 digits, fitted for m = 8 ... 256). The midpoint slope is
    # -2 up to the O(m^-2) relative correction (measured -2.002 / -2.001, seeds 0-9); the left
    # rule's 1/m^2 term still bends its slope at m = 8 (measured -1.044 / -1.030).
    assert abs(s["slope_midpoint"] + 2) <= 0.02
    assert abs(s["slope_left"] + 1) <= 0.1
    # At the script's m = 64 the error is far below 1 %: (1/24) |g'(1) - g'(0)| / (64^2 |f(x) -
    # f(x')|) is a few 1e-5 (measured max over 32 digits 3.2e-5 / 7.8e-5, median 2.6e-5 /
    # 2.9e-5); asserted at 2e-4 (the 1 % the lesson states is 50 times that).
    assert s["max_completeness_error"] <= 2e-4
    # Gradient x (input - baseline) is not complete: it sums to the first-order Taylor term,
    # exact for all x only if f - f(0) is positively homogeneous of degree 1; GELU's curvature
    # (gelu(z) ~ z/2 + z^2/sqrt(2 pi)) makes it miss f(x) - f(x') by a median of 4.0 % / 7.9 %
    # over seeds 0-9, against 2.6e-5 / 2.9e-5 for integrated gradients: asserted at 100 times
    # IG's median (measured factor at least 0.040 / 2.9e-5 = 1400). (The saliency sum is in
    # logit per unit pixel, not comparable with a logit difference: no gap is asserted for it.)
    assert s["median_grad_input_gap"] >= 100 * s["median_completeness_error"]
    # Linear logits: IG = (x - x') * w exactly, and complete, in float64 to rounding (measured
    # 1.1e-15 / 1.6e-15 and 7.6e-16 / 2.5e-15 relative).
    assert s["linear_ig_error"] <= 1e-12
    assert s["linear_completeness_error"] <= 1e-12


def test_06_fragile_explanations(run_script, claim_seed):
    s = run_script(f"{LECTURE}/06_fragile_explanations.py", seed=claim_seed)["summary"]
    # The attack keeps every prediction (steps that change it are rejected; measured 100 % of
    # the 60 digits, seeds 0-9), and so does the random baseline (redrawn until it does; at
    # most 1 / 5 draws per digit measured); the attack stays in the eps-ball up to float32
    # rounding of x +- eps (pixels up to 1, so at most 6e-8; measured 0.1 exactly) and in
    # [0, 1] (clipped).
    assert s["prediction_kept"] == 1.0
    assert s["random_prediction_kept"] == 1.0
    assert s["max_perturbation"] <= s["epsilon"] + 1e-6
    assert 0.0 <= s["min_pixel"] and s["max_pixel"] <= 1.0
    # A ReLU network is piecewise linear: the gradient of the map with respect to the input
    # (a Hessian) is exactly zero, so the attack must differentiate a softplus surrogate.
    assert s["relu_attack_gradient"] == 0.0
    # The lesson: the map moves while the prediction stays, far more under the attack than
    # under a random perturbation of the same size, and far more for the gradient map than for
    # SmoothGrad. Every arm is scored on one input per digit (the attack's last iterate, one
    # label-preserving random draw), none selected by its overlap. Mean top-8 overlap over the
    # 60 digits, seeds 0-9: attack 0.683 / 0.785, random 0.865 / 0.917, SmoothGrad under the
    # attack 0.817 / 0.863. The gaps to the attack (measured 0.098 / 0.229 and 0.077 / 0.140)
    # are asserted at 3 paired standard errors of the 60 per-digit differences (a one-sided
    # test at 3 sigma; standard errors measured 0.018 / 0.024 and 0.013 / 0.020, gaps 5.2 / 9.4
    # and 5.8 / 10.0 standard errors).
    for name in ("random", "smoothgrad"):
        gap = s[f"mean_overlap_{name}"] - s["mean_overlap_attack"]
        assert gap >= 3 * s[f"se_gap_{name}"]
