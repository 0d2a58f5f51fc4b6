"""Lecture 12 (sequences and attention): each script's lesson, asserted on its SUMMARY in full
mode. From-scratch computations equal Keras' to rounding: 1e-5 in float32 (about 1e-7 per
operation), 1e-12 in float64; statistical claims within a few standard errors."""

import pytest

pytestmark = pytest.mark.claims
LECTURE = "lectures/12_sequences_and_attention"


def test_03_attention_from_scratch(run_script, claim_seed):
    s = run_script(f"{LECTURE}/03_attention_from_scratch.py", seed=claim_seed)["summary"]
    # softmax(QK^T / sqrt d) V with keras.ops equals keras.layers.MultiHeadAttention with the
    # same weights, with and without the causal mask (measured over seeds 0-9: 0 exactly in
    # both precisions, the same operations in the same order).
    assert s["error_float32"] <= 1e-5
    assert s["error_float32_causal"] <= 1e-5
    assert s["error_float64"] <= 1e-12
    assert s["error_float64_causal"] <= 1e-12
    # Var(q.k) = d: the sample variance of n = 20000 products has relative standard error
    # sqrt((2 + 6/d) / n) <= sqrt(8 / n) = 0.020; 5 of those bound all nine d (measured max
    # |ratio - 1| 0.016 to 0.031).
    n = s["n_pairs"]
    assert s["max_raw_variance_ratio_deviation"] <= 5 * (8 / n) ** 0.5
    # Var(q.k / sqrt d) = 1 within 5 standard errors at every d (measured max |z| 1.0 to 1.8).
    assert s["max_scaled_variance_z"] <= 5
    # Unscaled logits saturate the softmax at d = 256 (mean largest weight over 16 keys,
    # measured 0.920 to 0.929); scaled ones do not, and do not drift with d (measured
    # 0.243 to 0.252 at d = 256, spread over d 0.041 to 0.050).
    assert s["max_weight_raw_at_max_d"] >= 0.85
    assert s["max_weight_scaled_at_max_d"] <= 0.35
    assert s["max_weight_scaled_spread"] <= 0.1
    # Causal mask: the Jacobian blocks dy_t/dx_s with s > t are exactly zero; the others are
    # not (measured smallest past block 0.026 to 0.21; without the mask, smallest future block
    # 0.013 to 0.20).
    assert s["causal_max_future_block"] == 0.0
    assert s["causal_min_past_block"] >= 1e-3
    assert s["full_min_future_block"] >= 1e-3


def test_01_rnn_unrolled(run_script, claim_seed):
    s = run_script(f"{LECTURE}/01_rnn_unrolled.py", seed=claim_seed)["summary"]
    # The hand-unrolled recurrence equals SimpleRNN (measured max 2.4e-7 to 3.5e-7 in float32,
    # 5.0e-16 to 6.7e-16 in float64), and the product of Jacobians equals tf.GradientTape's
    # dh_T/dh_0 relative to its largest entry (measured max 2.4e-15 to 2.1e-14).
    assert s["rnn_error_float32"] <= 1e-6
    assert s["rnn_error_float64"] <= 1e-12
    assert s["autodiff_error"] <= 1e-12
    # Linear recurrence: the slope of log ||dh_T/dh_t|| against T - t is log rho (Gelfand's
    # formula). The fit over k >= T/4 leaves the transient of the constant in ||U^k|| ~ c rho^k;
    # 0.01 is a tenth of |log 1.1| (measured max |slope - log rho| 0.0033).
    for rho in ("09", "1", "11"):
        assert abs(s[f"slope_linear_rho{rho}"] - s[f"log_rho{rho}"]) <= 0.01, rho
        # tanh' <= 1 shrinks every factor: the tanh slope lies below the line, by far (measured
        # smallest gap 0.35, at rho = 0.9).
        assert s[f"slope_tanh_rho{rho}"] <= s[f"log_rho{rho}"] - 0.1, rho
    # Vanishing below radius 1, exploding above, for the linear recurrence over T = 100 steps:
    # 0.9^100 = 2.7e-5 and 1.1^100 = 1.4e4 (measured 3.6e-5 to 7.2e-5 and 1.9e4 to 3.7e4; at
    # rho = 1, 1.4 to 2.7).
    assert s["final_norm_linear_rho09"] <= 1e-3
    assert s["final_norm_linear_rho11"] >= 1e3
    assert 0.1 <= s["final_norm_linear_rho1"] <= 100


def test_05_tiny_transformer(run_script, claim_seed):
    s = run_script(f"{LECTURE}/05_tiny_transformer.py", seed=claim_seed)["summary"]
    # One block learns reversal: per-token accuracy on 1000 held-out sequences (8000 tokens;
    # an error rate of 2 % would have binomial sd 0.0016) far above guessing 0.1 (measured
    # 0.9978 to 0.9999; whole sequences 0.983 to 0.999).
    assert s["token_accuracy"] >= 0.98
    assert s["sequence_accuracy"] >= 0.9
    # The attention implements the algorithm: at position i the largest weight is on n - 1 - i
    # (measured 0.985 to 1 of all positions) and it holds more than the uniform 1/8
    # (measured mean weight 0.38 to 0.47).
    assert s["attends_to_mirror"] >= 0.9
    assert s["mirror_weight"] >= 0.25


def test_04_positions(run_script, claim_seed):
    s = run_script(f"{LECTURE}/04_positions.py", seed=claim_seed)["summary"]
    # Without positions the block is permutation-equivariant to float32 rounding, before and
    # after training (measured 1.5e-7 to 1.9e-7); position embeddings break it (measured
    # 0.26 to 1.4).
    assert s["equivariance_error_none"] <= 1e-6
    assert s["equivariance_error_trained_none"] <= 1e-6
    for variant in ("sinusoidal", "learned"):
        assert s[f"equivariance_error_{variant}"] >= 1e-2, variant
        assert s[f"equivariance_error_trained_{variant}"] >= 1e-2, variant
    # An equivariant model's accuracy on reversal is at most the bound E[max_t c_t / (n - 1)]
    # (Monte Carlo over 20000 sequences: sd below 0.001). Measured on 1000 test sequences, the
    # per-sequence accuracy has variance at most b (1 - b), so 4 sd is 4 sqrt(b (1 - b) / 1000)
    # = 0.059 (measured accuracy minus bound -0.008 to +0.002: the trained block reaches the bound).
    bound = s["equivariant_bound"]
    sd = (bound * (1 - bound) / s["n_test"]) ** 0.5
    assert s["accuracy_none"] <= bound + 4 * sd
    assert s["accuracy_none"] >= s["chance"] + 0.1
    # With positions the same block solves the task (measured: sinusoidal 1.000, learned 0.963
    # to 0.994).
    assert s["accuracy_sinusoidal"] >= 0.98
    assert s["accuracy_learned"] >= 0.9
