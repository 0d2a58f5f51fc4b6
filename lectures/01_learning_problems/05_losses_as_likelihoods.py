"""
Losses as likelihoods: MSE and cross-entropy are negative log-likelihoods
=========================================================================

The mean squared error is the Gaussian negative log-likelihood up to an additive constant and a
scale factor, and the (binary or categorical) cross-entropy is exactly the negative
log-likelihood of a Bernoulli or categorical model: computed by hand with NumPy and with
Keras' loss functions on the same predictions, the numbers agree to round-off.

The figure shows, on the left, the Gaussian negative log-likelihood computed by hand against
Keras' MSE for a family of predictions and three noise levels σ: straight lines with intercept
½ log(2πσ²) and slope 1/(2σ²). In the middle it shows Keras' per-example categorical
cross-entropy against the probability the model gives to the observed class: every point lies
on the curve −log p. On the right it shows the largest difference between the hand-computed
likelihoods and Keras' losses, in float64 (agreement to 1e-12: float64 round-off) and in float32
(agreement only to about 1e-5: float32 round-off, not a different formula).

Try:
- Give Keras a probability of exactly 0 for an observed class: the hand formula gives ∞, Keras
  a finite number. Find `keras.config.epsilon()` in the answer.
- Treat σ as a parameter too and minimize the Gaussian NLL over it: the minimizer is
  σ² = MSE. Check it numerically.
- Compute the cross-entropy of the probabilities with `from_logits=True` by mistake: how far
  off is it, and why is this bug silent?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import norm

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

N = 200 if SMOKE else 2000  # examples in each comparison
N_CLASSES = 10
SIGMA = 0.8  # the noise scale of the Gaussian model
LOGIT_SCALE = 2.0  # spread of the random logits: larger means more confident predictions
TOLERANCE = 1e-12  # hand vs Keras in float64
FLOAT32_TOLERANCE = 1e-5  # hand (float64) vs Keras on float32 inputs

# %% [markdown]
# ## Predictions and observations
# We need no trained model: random predictions of the right kind, and observations drawn from
# them, in float64. Regression: targets $y_i$ and predictions $\hat y_i$. Classification: logits
# $z_i \in \mathbb R^{C}$, probabilities $p_i = \mathrm{softmax}(z_i)$ and labels drawn from
# them. Binary: one logit $s_i$, $q_i = \sigma(s_i)$ and labels $t_i \sim
# \mathrm{Bernoulli}(q_i)$.

# %%
keras.utils.set_random_seed(SEED)
rng = np.random.default_rng(SEED)

y_true = rng.standard_normal((N, 1))
y_pred = y_true + 0.7 * rng.standard_normal((N, 1))

logits = LOGIT_SCALE * rng.standard_normal((N, N_CLASSES))
log_probs = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)  # log-softmax
probs = np.exp(log_probs)
# a label from each row's distribution: the first class whose cumulative probability exceeds u
labels = np.minimum((np.cumsum(probs, axis=1) < rng.random((N, 1))).sum(axis=1), N_CLASSES - 1)
one_hot = np.eye(N_CLASSES)[labels]

binary_logits = LOGIT_SCALE * rng.standard_normal(N)
binary_probs = 1.0 / (1.0 + np.exp(-binary_logits))
binary_labels = (rng.random(N) < binary_probs).astype(np.float64)

# %% [markdown]
# ## The negative log-likelihoods, by hand
# **Gaussian.** If $y_i \sim \mathcal N(\hat y_i, \sigma^2)$ independently,
# $$-\log p(y_i \mid \hat y_i) = \tfrac12\log(2\pi\sigma^2) + \frac{(y_i - \hat y_i)^2}
# {2\sigma^2},$$
# so the mean NLL is $\frac12\log(2\pi\sigma^2) + \frac{1}{2\sigma^2}\,\mathrm{MSE}$: for fixed
# $\sigma$, minimizing the MSE is maximizing the likelihood. (Minimizing over $\sigma$ as
# well gives $\hat\sigma^2 = \mathrm{MSE}$.)
#
# **Categorical.** If $y_i \sim \mathrm{Categorical}(p_i)$, then
# $-\log p(y_i) = -\log p_{i, y_i} = -\sum_c [y_i = c] \log p_{ic}$, the cross-entropy between
# the one-hot label and $p_i$. With logits: $-\log p_{i,y_i} = \log\sum_c e^{z_{ic}} - z_{i,y_i}$.
#
# **Bernoulli.** $-\log p(t_i) = -t_i\log q_i - (1-t_i)\log(1-q_i) = \log(1 + e^{s_i}) - t_i s_i$.

# %%
gaussian_constant = 0.5 * np.log(2.0 * np.pi * SIGMA**2)
by_hand = {
    "Gaussian NLL": gaussian_constant + (y_true - y_pred)[:, 0] ** 2 / (2.0 * SIGMA**2),
    "categorical NLL": -log_probs[np.arange(N), labels],
    "Bernoulli NLL": np.logaddexp(0.0, binary_logits) - binary_labels * binary_logits,
}
# An independent check of the Gaussian formula: SciPy's normal log-density.
scipy_difference = np.abs(by_hand["Gaussian NLL"] + norm.logpdf(y_true, y_pred, SIGMA)[:, 0]).max()
print(f"hand formula vs scipy.stats.norm.logpdf: {scipy_difference:.1e}")

# %% [markdown]
# ## The same numbers from Keras' losses
# The functions in `keras.losses` return one loss per example (the mean over the last axis for
# the MSE) in the dtype of their inputs, so float64 inputs give float64 results. (The `Loss`
# classes such as `keras.losses.MeanSquaredError()` cast to `keras.config.floatx()`, float32 by
# default, unless given `dtype="float64"`.) Keras' conventions: `"mse"` is the plain mean,
# without a factor $\frac12$; the cross-entropies from probabilities clip them to
# $[\epsilon, 1-\epsilon]$ with $\epsilon$ = `keras.config.epsilon()` $= 10^{-7}$ (no effect
# here, every observed probability is larger); `from_logits=True` computes the log-softmax
# stably from the logits.


# %%
def keras_losses(dtype):
    """Keras' loss of every example, inputs cast to `dtype`: [(likelihood, loss name, values)]."""
    y_t, y_p = y_true.astype(dtype), y_pred.astype(dtype)
    p, z, y_onehot = probs.astype(dtype), logits.astype(dtype), one_hot.astype(dtype)
    t, q, s = (a[:, None].astype(dtype) for a in (binary_labels, binary_probs, binary_logits))
    losses = keras.losses
    mse = losses.mean_squared_error(y_t, y_p)
    results = [
        (
            "Gaussian NLL",
            "MSE",
            gaussian_constant + keras.ops.convert_to_numpy(mse) / (2 * SIGMA**2),
        ),
        ("categorical NLL", "sparse CE", losses.sparse_categorical_crossentropy(labels, p)),
        ("categorical NLL", "CE (one-hot)", losses.categorical_crossentropy(y_onehot, p)),
        (
            "categorical NLL",
            "sparse CE, logits",
            losses.sparse_categorical_crossentropy(labels, z, from_logits=True),
        ),
        ("Bernoulli NLL", "BCE", losses.binary_crossentropy(t, q)),
        ("Bernoulli NLL", "BCE, logits", losses.binary_crossentropy(t, s, from_logits=True)),
    ]
    return [
        (likelihood, name, keras.ops.convert_to_numpy(values).astype(np.float64))
        for likelihood, name, values in results
    ]


keras_values = {}  # (likelihood, Keras loss, dtype) -> the loss of every example
differences = {}  # (likelihood, Keras loss, dtype) -> max |by hand - Keras| over the examples
for dtype in ("float64", "float32"):
    for likelihood, loss_name, values in keras_losses(dtype):
        keras_values[(likelihood, loss_name, dtype)] = values
        differences[(likelihood, loss_name, dtype)] = np.abs(by_hand[likelihood] - values).max()
        print(
            f"{likelihood:>16s} vs Keras {loss_name:<18s} {dtype}: "
            f"{differences[(likelihood, loss_name, dtype)]:.1e}"
        )


def worst(dtype, likelihood=None):
    """The largest difference for one dtype (and one likelihood, if given)."""
    return max(
        value
        for (name, _, kind), value in differences.items()
        if kind == dtype and likelihood in (None, name)
    )


worst_float64, worst_float32 = worst("float64"), worst("float32")
largest_loss = max(values.max() for values in by_hand.values())
print(
    f"largest difference: float64 {worst_float64:.1e}, float32 {worst_float32:.1e} "
    f"(float32 epsilon {np.finfo(np.float32).eps:.1e}, largest loss value {largest_loss:.1f})"
)

# %% [markdown]
# In float64 the two computations agree to a few units of float64 round-off ($10^{-15}$),
# inside the tolerance $10^{-12}$. In float32, Keras' default, every input and every operation
# carries a relative error of order $\epsilon_{32} \approx 1.2\cdot 10^{-7}$, so losses of size
# up to about 8 agree with the float64 values only to about $10^{-6}$, sometimes a little worse
# (the float32 tolerance here is $10^{-5}$). The largest float32 errors come from the binary
# cross-entropy on *probabilities*: rounding $q$ close to 1 to float32 loses most digits of
# $1 - q$, and $-\log(1-q)$ amplifies that. From logits (`from_logits=True`) the same
# loss is computed without forming $1 - q$, one reason to prefer logits in practice.

# %% [markdown]
# ## Constants and scale: the Gaussian NLL against the MSE
# Shift every prediction by $c$ and record Keras' mean squared error and the mean Gaussian
# NLL by hand, for three values of $\sigma$.

# %%
shifts = np.linspace(0.0, 2.0, 9)
mse_loss = keras.losses.MeanSquaredError(dtype="float64")  # the mean over all examples
sweep = {}
for sigma in (0.5, 1.0, 2.0):
    mse_values = np.array([float(mse_loss(y_true, y_pred + c)) for c in shifts])
    nll_values = np.array(
        [
            np.mean(
                0.5 * np.log(2 * np.pi * sigma**2) + (y_true - y_pred - c) ** 2 / (2 * sigma**2)
            )
            for c in shifts
        ]
    )
    sweep[sigma] = (mse_values, nll_values)

# %% [markdown]
# ## Figure: the losses are the likelihoods

# %%
use_course_style()
fig, (ax_gauss, ax_cat, ax_diff) = plt.subplots(1, 3, figsize=(17, 5.6))
for sigma, (mse_values, nll_values) in sweep.items():
    line = np.linspace(0, mse_values.max() * 1.05, 50)
    (theory,) = ax_gauss.plot(
        line, 0.5 * np.log(2 * np.pi * sigma**2) + line / (2 * sigma**2), linewidth=1.5
    )
    ax_gauss.plot(
        mse_values,
        nll_values,
        "o",
        color=theory.get_color(),
        label=f"$\\sigma = {sigma}$: slope $1/(2\\sigma^2) = {1 / (2 * sigma**2):g}$",
    )
ax_gauss.set(
    xlabel="Keras MSE",
    ylabel="Gaussian NLL by hand (mean)",
    title="NLL $= \\frac{1}{2}\\log(2\\pi\\sigma^2) + \\mathrm{MSE}/(2\\sigma^2)$",
)
ax_gauss.legend(title="dots: hand vs Keras; lines: formula", fontsize=10, title_fontsize=10)

observed_p = probs[np.arange(N), labels]
keras_ce = keras_values[("categorical NLL", "sparse CE", "float64")]
p_grid = np.logspace(np.log10(observed_p.min()) - 0.3, 0, 200)
ax_cat.semilogx(
    observed_p,
    keras_ce,
    "o",
    markersize=6,
    alpha=0.4,
    color="C3",
    label=f"Keras sparse CE, {N} examples",
)
ax_cat.semilogx(
    p_grid,
    -np.log(p_grid),
    color="black",
    linestyle="--",
    linewidth=1.5,
    label="$-\\log p$ (by hand)",
)
ax_cat.set(
    xlabel="probability $p_{i,y_i}$ of the observed class (log scale)",
    ylabel="loss of the example",
    title="Cross-entropy $= -\\log p_{i,y_i}$",
)
ax_cat.legend()

pairs = [(likelihood, loss) for (likelihood, loss, dtype) in differences if dtype == "float64"]
positions = np.arange(len(pairs))
floor = 1e-18  # the bottom of the log scale; an exact zero is drawn as an empty bar
for offset, dtype, color in ((-0.2, "float64", "C0"), (0.2, "float32", "C1")):
    values = np.array([differences[(likelihood, loss, dtype)] for likelihood, loss in pairs])
    ax_diff.bar(positions + offset, np.maximum(values, floor), width=0.4, color=color, label=dtype)
    for position in positions[values == 0.0]:
        ax_diff.text(
            position + offset,
            3 * floor,
            "exactly 0",
            rotation=90,
            ha="center",
            va="bottom",
            fontsize=10,
        )
ax_diff.axhline(TOLERANCE, color="C0", linestyle="--", label=f"float64 tolerance {TOLERANCE:g}")
ax_diff.axhline(
    FLOAT32_TOLERANCE, color="C1", linestyle="--", label=f"float32 tolerance {FLOAT32_TOLERANCE:g}"
)
ax_diff.axhline(np.finfo(np.float32).eps, color="C1", linestyle=":", label="float32 epsilon")
ax_diff.axhline(np.finfo(np.float64).eps, color="C0", linestyle=":", label="float64 epsilon")
ax_diff.set_yscale("log")
names = [f"{likelihood.split()[0]}\nvs {loss}" for likelihood, loss in pairs]
ax_diff.set_xticks(positions, names, fontsize=9, rotation=45, ha="right")
ax_diff.set(
    ylim=(floor, 1e-3),
    ylabel="max |by hand − Keras| over the examples",
    title="Hand-computed NLL vs Keras' losses",
)
ax_diff.legend(fontsize=9, loc="upper left", ncols=2)
fig.suptitle("Losses as negative log-likelihoods: NumPy by hand vs keras.losses")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "n_examples": N,
    "max_difference_float64": float(worst_float64),
    "max_difference_float32": float(worst_float32),
    "gaussian_difference_float64": float(worst("float64", "Gaussian NLL")),
    "categorical_difference_float64": float(worst("float64", "categorical NLL")),
    "bernoulli_difference_float64": float(worst("float64", "Bernoulli NLL")),
    "bce_probabilities_difference_float32": float(differences[("Bernoulli NLL", "BCE", "float32")]),
    "bce_logits_difference_float32": float(
        differences[("Bernoulli NLL", "BCE, logits", "float32")]
    ),
    "scipy_gaussian_difference": float(scipy_difference),
    "largest_loss_value": float(largest_loss),
    "mean_gaussian_nll": float(by_hand["Gaussian NLL"].mean()),
    "mean_categorical_nll": float(by_hand["categorical NLL"].mean()),
}
for key, value in SUMMARY.items():
    print(f"{key:>36s}: {value:.4g}" if isinstance(value, float) else f"{key:>36s}: {value}")
