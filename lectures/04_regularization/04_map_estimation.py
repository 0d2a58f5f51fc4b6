"""
Regularization as MAP estimation: a Gaussian prior gives L2, a Laplace prior gives L1
=====================================================================================

The maximum a posteriori (MAP) estimate of a linear-Gaussian model is regularized least squares:
a Gaussian prior on the weights gives Keras' L2 penalty, a Laplace prior its L1 penalty, with
lam fixed by the noise level, the prior scale and n.

The figure shows the posterior density of a two-parameter problem (filled contours) under each
prior, the prior's own contours (dashed: circles for the Gaussian, diamonds for the Laplace), the
least-squares estimate, the MAP point found by maximizing the log-posterior numerically and the
regularized least-squares solution. Look at where the two MAP points sit: the Gaussian one is
pulled towards the origin, the Laplace one can land on an axis (a corner of a diamond), with
the irrelevant second weight exactly zero; it does whenever the data term's slope along w2
there is at most the penalty's, the KKT condition of the Lasso (as for the default seed).

Try:
- Make the prior wider (`PRIOR_STD = 2.0`): both MAP points move towards least squares.
- Set `N_SAMPLES = 200`: the likelihood dominates, the prior hardly matters.
- Give the second weight a true value of 0.3: when does the Laplace MAP leave the axis?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np
from scipy import optimize, stats
from sklearn.linear_model import Lasso

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

N_SAMPLES = 20  # few observations, so that the prior matters
TRUE_WEIGHTS = np.array([1.0, 0.0])  # the second feature is irrelevant
CORRELATION = 0.5  # between the two features
NOISE_STD = 1.0  # sigma
PRIOR_STD = 0.5  # standard deviation of each weight under both priors
GRID = 80 if SMOKE else 300  # grid points per axis for the contours

# %% [markdown]
# ## Data
# $y_i = x_i^\top w + \varepsilon_i$ with $\varepsilon_i \sim N(0, \sigma^2)$ and correlated
# Gaussian features.

# %%
keras.utils.set_random_seed(SEED)
rng = np.random.default_rng(SEED)
cov = np.array([[1.0, CORRELATION], [CORRELATION, 1.0]])
x = rng.multivariate_normal(np.zeros(2), cov, size=N_SAMPLES)
y = x @ TRUE_WEIGHTS + NOISE_STD * rng.standard_normal(N_SAMPLES)
n = N_SAMPLES

# %% [markdown]
# ## Log-posterior = -(n / 2 sigma^2) x (Keras loss) + const
# With a prior $p(w)$, Bayes' rule gives
# $-\log p(w \mid y) = \frac{1}{2\sigma^2}\|Xw - y\|^2 - \log p(w) + \text{const}$.
#
# * Gaussian prior $w_j \sim N(0, \tau^2)$: $-\log p(w) = \frac{1}{2\tau^2}\|w\|^2 + c$.
#   Multiplying by $2\sigma^2/n$ gives Keras' objective
#   $\frac1n\|Xw - y\|^2 + \lambda_2\|w\|^2$ with $\lambda_2 = \frac{\sigma^2}{n\tau^2}$.
# * Laplace prior $p(w_j) = \frac1{2b}e^{-|w_j|/b}$: $-\log p(w) = \frac1b\|w\|_1 + c$, so
#   Keras' $\frac1n\|Xw - y\|^2 + \lambda_1\|w\|_1$ with $\lambda_1 = \frac{2\sigma^2}{nb}$
#   (scikit-learn's Lasso: $\alpha = \lambda_1/2$).
#
# Scaling by a positive constant and adding a constant do not move a minimizer, so the MAP point
# *is* the regularized least-squares solution. Both priors get the same variance $\tau^2$
# (a Laplace law with scale $b$ has variance $2b^2$).

# %%
tau = PRIOR_STD
b = PRIOR_STD / np.sqrt(2.0)
lam_l2 = NOISE_STD**2 / (n * tau**2)
lam_l1 = 2 * NOISE_STD**2 / (n * b)
print(f"Keras penalties: L2({lam_l2:.4f}) for the Gaussian prior, L1({lam_l1:.4f}) for Laplace")

priors = {
    "Gaussian": lambda w: stats.norm.logpdf(w, scale=tau).sum(axis=-1),
    "Laplace": lambda w: stats.laplace.logpdf(w, scale=b).sum(axis=-1),
}


def log_posterior(w, prior):
    """log p(y | w) + log p(w), up to a constant, for weights w of shape (..., 2)."""
    mean = np.asarray(w) @ x.T
    return stats.norm.logpdf(y, loc=mean, scale=NOISE_STD).sum(axis=-1) + priors[prior](w)


# %% [markdown]
# ## Check the identity with Keras' own loss and regularizers
# At random weights $w$, $-\frac{2\sigma^2}{n}\log p(w \mid y)$ minus Keras' loss (mean squared
# error plus the regularizer) must be the same constant.

# %%
mse = keras.losses.MeanSquaredError()
keras_penalty = {
    "Gaussian": keras.regularizers.L2(lam_l2),
    "Laplace": keras.regularizers.L1(lam_l1),
}
probe = rng.normal(size=(50, 2))
identity_spread = {}
for prior, penalty in keras_penalty.items():
    keras_loss = np.array(
        [float(mse(y, x @ w)) + float(penalty(keras.ops.convert_to_tensor(w))) for w in probe]
    )
    scaled = -2 * NOISE_STD**2 / n * log_posterior(probe, prior)
    identity_spread[prior] = float(np.ptp(scaled - keras_loss))  # 0 up to float32 rounding
print("spread of (scaled negative log-posterior - Keras loss):", identity_spread)

# %% [markdown]
# ## MAP by numerical optimization, and the regularized least-squares solutions
# The MAP point maximizes the log-posterior above by Powell's method: line searches along a
# set of directions, without gradients. On a non-smooth objective such a method can stall at a
# kink that is not the minimum (every search direction may point uphill there while a diagonal
# one would not); it is used here because in two dimensions, started at least squares, it does
# reach the minimum, and the result is checked against the closed form (ridge) and
# scikit-learn's coordinate-descent Lasso, which handles the kink exactly.

# %%
least_squares = np.linalg.solve(x.T @ x, x.T @ y)
map_point = {}
for prior in priors:
    result = optimize.minimize(
        lambda w, prior=prior: -log_posterior(w, prior),
        x0=least_squares,
        method="Powell",
        options={"xtol": 1e-10, "ftol": 1e-14},
    )
    map_point[prior] = result.x
regularized = {
    "Gaussian": np.linalg.solve(x.T @ x + n * lam_l2 * np.eye(2), x.T @ y),
    "Laplace": Lasso(alpha=lam_l1 / 2, fit_intercept=False, tol=1e-12, max_iter=100_000)
    .fit(x, y)
    .coef_,
}
map_error = {prior: float(np.abs(map_point[prior] - regularized[prior]).max()) for prior in priors}
for prior in priors:
    print(
        f"{prior:>8s}: MAP {np.round(map_point[prior], 6)}, regularized LS "
        f"{np.round(regularized[prior], 6)}, difference {map_error[prior]:.1e}"
    )

# %% [markdown]
# ## Figure: posterior contours and the MAP points

# %%
span = np.abs(least_squares).max() + 0.6
grid = np.linspace(-span, span, GRID)
w1, w2 = np.meshgrid(grid, grid)
points = np.stack([w1, w2], axis=-1)
log_likelihood = stats.norm.logpdf(y, loc=points @ x.T, scale=NOISE_STD).sum(axis=-1)

use_course_style()
fig, axes = plt.subplots(1, 2, figsize=(13, 6.2), sharex=True, sharey=True)
penalty_text = {
    "Gaussian": rf"L2($\lambda$={lam_l2:.3f})",
    "Laplace": rf"L1($\lambda$={lam_l1:.3f})",
}
for ax, prior in zip(axes, priors, strict=True):
    log_post = log_posterior(points, prior)
    density = np.exp(log_post - log_post.max())  # posterior density / its maximum
    ax.contourf(w1, w2, density, levels=np.linspace(0.05, 1.0, 11), cmap="Blues")
    ax.contour(
        w1,
        w2,
        np.exp(priors[prior](points) - priors[prior](points).max()),
        levels=[0.1, 0.3, 0.6],
        colors="gray",
        linestyles="--",
    )
    ax.contour(
        w1,
        w2,
        np.exp(log_likelihood - log_likelihood.max()),
        levels=[0.1, 0.5],
        colors="black",
        linestyles=":",
        linewidths=1.5,
    )
    ax.plot(*least_squares, "s", color="black", markersize=10, label="least squares (MLE)")
    ax.plot(*map_point[prior], "o", color="tab:orange", markersize=14, label="MAP (numerical)")
    ax.plot(
        *regularized[prior],
        "x",
        color="tab:red",
        markersize=14,
        markeredgewidth=3,
        label=f"regularized LS, Keras' {penalty_text[prior]}",
    )
    ax.plot(*TRUE_WEIGHTS, "*", color="tab:green", markersize=16, label="true weights")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set(
        xlabel=r"$w_1$",
        title=f"{prior} prior\nposterior (blue), prior (dashed), likelihood (dotted)",
    )
    ax.set_aspect("equal")
    ax.legend(loc="lower left", fontsize=10)
axes[0].set_ylabel(r"$w_2$")
fig.suptitle(
    f"MAP = regularized least squares ({n} observations, noise sd {NOISE_STD:g}, "
    f"prior sd {PRIOR_STD:g})"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "lam_l2": float(lam_l2),
    "lam_l1": float(lam_l1),
    "map_vs_ridge": map_error["Gaussian"],
    "map_vs_lasso": map_error["Laplace"],
    "identity_spread_gaussian": identity_spread["Gaussian"],
    "identity_spread_laplace": identity_spread["Laplace"],
    "laplace_map_w2": float(map_point["Laplace"][1]),
    "gaussian_map_w2": float(map_point["Gaussian"][1]),
    "shrinkage_l2": float(np.linalg.norm(map_point["Gaussian"]) / np.linalg.norm(least_squares)),
}
for key, value in SUMMARY.items():
    print(f"{key:>26s}: {value:.4g}" if isinstance(value, float) else f"{key:>26s}: {value}")
