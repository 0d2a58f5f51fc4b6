"""Lecture 11 (symmetry and equivariance): each script's lesson, asserted on its SUMMARY in full
mode. Exact algebra is asserted exactly (integers, 0/1 matrices) or to 1e-10 in float64;
Keras models in float32 to 1e-5 (float32 rounding is ~1e-7 per operation)."""

import pytest

pytestmark = pytest.mark.claims
LECTURE = "lectures/11_symmetry_and_equivariance"


def test_01_groups_on_images(run_script, claim_seed):
    s = run_script(f"{LECTURE}/01_groups_on_images.py", seed=claim_seed)["summary"]
    # Group axioms and the homomorphism property hold exactly: the matrices hold 0 and 1 and
    # their products are exact (measured: 0 for every seed).
    assert s["axioms_hold"] and s["permutation_matrices"]
    assert s["d4_order"] == 8 and s["n_classes"] == 5
    assert s["homomorphism_error"] == 0.0
    # Irreducible characters of D4 are orthogonal (integers) and constant on classes.
    assert s["character_orthogonality_error"] == 0
    assert s["characters_are_class_functions"]
    # The character of the pixel representation counts fixed pixels: 8x8 and 7x7.
    assert (s["chi_e"], s["chi_r2"], s["chi_r"], s["chi_s"], s["chi_rs"]) == (64, 0, 0, 0, 8)
    assert (s["chi_odd_r"], s["chi_odd_s"], s["chi_odd_rs"]) == (1, 7, 7)
    # Multiplicities from character inner products, integers summing to the dimension.
    assert s["integer_multiplicities"]
    assert [s[f"mult_{n}"] for n in ("A1", "A2", "B1", "B2", "E")] == [10, 6, 6, 10, 16]
    assert [s[f"mult_odd_{n}"] for n in ("A1", "A2", "B1", "B2", "E")] == [10, 3, 6, 6, 12]
    assert [s[f"mult_c4_k{k}"] for k in range(4)] == [16, 16, 16, 16]
    assert [s[f"mult_c4_odd_k{k}"] for k in range(4)] == [13, 12, 12, 12]
    assert s["dimension_sum"] == 64 and s["dimension_sum_odd"] == 49
    # Isotypic projections: idempotent, orthogonal, symmetric, summing to I, commuting with
    # rho(g), trace m dim (float64 sums of 0/1 matrices times 1/8 or 2/8: measured 0 exactly
    # for every seed; the bound allows rounding of a different summation order).
    for key in (
        "idempotent_error",
        "orthogonal_error",
        "sum_to_identity_error",
        "symmetric_error",
        "commute_error",
        "trace_error",
        "c4_projection_error",
    ):
        assert s[key] <= 1e-10, key
    # Isotropic noise puts the share tr P / 64 of its energy into each component: the share is
    # Beta(k/2, (64-k)/2) distributed with sd sqrt(2 p (1-p) / 66) <= 0.087, so its mean over
    # n_noise = 2000 images has sd <= 0.0020; 5 sd = 0.0098 (measured max deviation 0.0057, for E).
    sd = (2 * 0.25 / 66) ** 0.5 / s["n_noise"] ** 0.5
    for name, dim_share in [
        ("A1", 10 / 64),
        ("A2", 6 / 64),
        ("B1", 6 / 64),
        ("B2", 10 / 64),
        ("E", 32 / 64),
    ]:
        assert abs(s[f"share_noise_{name}"] - dim_share) <= 5 * sd, name
    # Digits are far from isotropic: most of their energy is D4-invariant (measured share of
    # A1: 0.602 to 0.606 over seeds 0-9, against 10/64 = 0.16 for noise).
    assert s["share_digits_A1"] >= 0.5


def test_02_counting_intertwiners(run_script, claim_seed):
    s = run_script(f"{LECTURE}/02_counting_intertwiners.py", seed=claim_seed)["summary"]
    # Null space, character formula and orbit count agree exactly in every case.
    assert s["n_cases"] == 14
    assert s["counts_agree"]
    assert s["max_character_count_deviation"] <= 1e-12  # the character sums are integers
    # The rank decision is unambiguous: the zero singular values are float64 rounding
    # (measured max 1.4e-15 for every seed), the others are O(1) (measured min 0.47).
    assert s["max_zero_singular_value"] <= 1e-12
    assert s["min_nonzero_singular_value"] >= 0.1
    # The orbit indicators span the numerical null space (projectors equal; measured 1.5e-15).
    assert s["max_projector_gap"] <= 1e-12
    # The expected dimensions: invariant 3x3 filters (centre, edges, corners), 5x5 filters,
    # End of images = (1/|G|) sum chi^2 = 256/4 and 728/8, circulants, Deep Sets, pooling.
    assert (s["dim_c4_3x3_filters"], s["dim_d4_3x3_filters"]) == (3, 3)
    assert (s["dim_c4_5x5_filters"], s["dim_d4_5x5_filters"]) == (7, 6)
    assert (s["dim_c4_end_4x4"], s["dim_d4_end_5x5"]) == (64, 91)
    assert s["dim_cyclic_end"] == s["n_cyclic"]
    assert s["min_dim_sn_end"] == s["max_dim_sn_end"] == 2
    assert s["dim_sn_to_scalar"] == 1
    # The S_n null space contains I and 11^T (so, being 2-dimensional, it is their span); the
    # cyclic one contains every shift (measured residuals 4.9e-15 and 1.4e-15).
    assert s["deep_sets_residual"] <= 1e-12
    assert s["circulant_residual"] <= 1e-12
    # A convolution commutes with rot90 iff its filter is invariant (float64: measured 1.2e-16
    # to 1.5e-16; a generic filter: measured 1.22 to 1.72).
    assert s["conv_error_invariant_filter"] <= 1e-12
    assert s["conv_error_generic_filter"] >= 0.1


def test_03_group_convolution(run_script, claim_seed):
    s = run_script(f"{LECTURE}/03_group_convolution.py", seed=claim_seed)["summary"]
    # The models are of the same size (within 5 %).
    assert abs(s["gcnn_params"] - s["plain_params"]) <= 0.05 * s["plain_params"]
    # G-CNN: every layer equivariant to float32 rounding for r, r^2, r^3 (measured max over
    # layers 3.9e-7 to 5.4e-7 over seeds 0-9) and the invariant logits equal for the four
    # rotations (largest absolute difference 6e-8 to 1.8e-7).
    assert s["gcnn_max_layer_error_90"] <= 1e-5
    assert s["invariant_logits_spread"] <= 1e-5
    assert s["gcnn_max_error_at_multiples"] <= 1e-5
    # The plain CNN is not equivariant in any layer (measured min over layers and rotations
    # 0.052 to 0.10; logits at 90 degrees 0.089 to 0.38): five orders above the G-CNN.
    assert s["plain_min_layer_error_90"] >= 1e-2
    assert s["plain_logit_error_90"] >= 1e-2
    # Between the multiples of 90 degrees both are far from invariant (measured minima over
    # the angles 0.040 to 0.16 for the G-CNN, 0.065 to 0.15 for the plain CNN): interpolated
    # rotations are not a group action on pixels (R45 R45 differs from R90 by 0.29 to 0.31 of
    # the norm), while the bilinear R90 is np.rot90 to rounding (<= 2e-16).
    assert s["gcnn_min_error_between"] >= 1e-2
    assert s["plain_min_error_between"] >= 1e-2
    assert s["bilinear_rot90_deviation"] <= 1e-12
    assert s["r45_r45_vs_r90"] >= 0.1


def test_04_architecture_vs_augmentation(run_script, claim_seed):
    s = run_script(f"{LECTURE}/04_architecture_vs_augmentation.py", seed=claim_seed)["summary"]
    # On digits in all four orientations, paired over the training sets: the G-CNN is at least
    # as accurate as the augmented CNN (measured difference of the means over the three
    # training sets: 0.115 to 0.178 over seeds 0-9), which beats the plain CNN by far (0.224 to
    # 0.293). The accuracies rest on 324 distinct test digits (binomial sd about 0.025 each),
    # so the smallest margin is between four and five of those sd.
    assert s["acc_gcnn"] >= s["acc_augmented"]
    assert s["acc_augmented"] >= s["acc_plain"] + 0.1
    # Only the G-CNN is invariant to rounding (measured max 0 exactly for seeds 0-9 under the
    # test runner, 1.0e-6 for seed 0 run alone: the rounding depends on the thread pool);
    # augmentation leaves an error of order 0.1 (smallest of a trained model 0.118), the plain
    # CNN's is of order 1 (means 1.02 to 1.38).
    assert s["inv_error_gcnn_max"] <= 1e-5
    assert s["inv_error_augmented_min"] >= 1e-2
    assert s["inv_error_plain"] >= s["inv_error_augmented"]


def test_05_emergent_equivariance(run_script, claim_seed):
    s = run_script(f"{LECTURE}/05_emergent_equivariance.py", seed=claim_seed)["summary"]
    # With augmentation, the ensemble mean's invariance error falls with every doubling of M
    # (rank correlation -1 for every seed) on test digits and on noise images; the slope of
    # log error against log M is near the -1/2 of independent deviations with mean zero
    # (measured -0.52 to -0.44 on digits, -0.51 to -0.48 on noise).
    assert s["aug_digits_rank_corr"] <= -0.99
    assert s["aug_noise_rank_corr"] <= -0.99
    assert -0.6 <= s["aug_digits_slope"] <= -0.3
    assert -0.6 <= s["aug_noise_slope"] <= -0.3
    # At M = 32 the error is at most 0.35 of a single member's (1/sqrt(32) = 0.18 without a
    # floor; measured 0.17 to 0.22 on digits, 0.17 to 0.19 on noise).
    assert s["aug_digits_ratio"] <= 0.35
    assert s["aug_noise_ratio"] <= 0.35
    # Without augmentation the mean of the deviations is not small: the error levels off
    # (measured ratio 0.885 to 0.903 on digits) and stays many times the augmented ensemble's
    # (augmented / plain at M = 32: 0.048 to 0.062 on digits, 0.064 to 0.098 on noise).
    assert s["plain_digits_ratio"] >= 0.6
    assert s["aug_over_plain_digits_max_m"] <= 0.25
    assert s["aug_over_plain_noise_max_m"] <= 0.25


def test_06_sets_and_attention(run_script, claim_seed):
    s = run_script(f"{LECTURE}/06_sets_and_attention.py", seed=claim_seed)["summary"]
    # Deep Sets is permutation-invariant and self-attention permutation-equivariant to
    # float32 rounding (measured 5.4e-8 to 8.1e-8 and 1.1e-7 to 1.3e-7) ...
    assert s["deep_sets_perm_error"] <= 1e-6
    assert s["attention_perm_error"] <= 1e-6
    # ... an MLP on the concatenated set and attention with positional embeddings are not
    # (measured 0.068 to 0.079 and 0.36 to 0.50).
    assert s["mlp_perm_error"] >= 1e-2
    assert s["attention_positions_perm_error"] >= 1e-2
    # Trained on sets of 1 to 10 numbers, Deep Sets predicts sums over 20 (measured relative
    # RMSE 0.015 to 0.054, against a 0.1 bound), as well as on sizes it saw (0.016 to 0.055),
    # and several times better than the MLP on sets of 10 (0.21 to 0.25).
    assert s["unseen_size"] == 2 * s["max_train_size"]
    assert s["deep_sets_error_unseen_size"] <= 0.1
    assert s["deep_sets_error_seen_size"] <= 0.5 * s["mlp_error_seen_size"]
