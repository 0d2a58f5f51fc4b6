"""
Double descent: random ReLU features and the minimum-norm fit
=============================================================

A linear model on p random ReLU features is fitted by minimum-norm least squares to n = 40 noisy
samples; as p grows the test error climbs to a sharp peak at p = n and falls again past it.

The left panel shows the training and test mean squared error against the number of features p
(both axes logarithmic), averaged over independent draws of training set and features, with the
interpolation threshold p = n marked. Left of it is the classical picture of the bias-variance
tradeoff: a minimum at a few features (its left arm is shallow: for some teachers two features
do almost as well), then a steep rise as p approaches n. At p = n the model can just
interpolate the noisy labels, and only in one way, which costs a huge coefficient vector; right
of it there are infinitely many interpolants and the pseudo-inverse picks the one of smallest
norm, which gets smaller as p grows. The right panel
shows that norm, the mechanism behind the second descent.

Try:
- Set `NOISE = 0.0`: is there still a peak? (Compare its height with the noisy case.)
- Set `N_TRAIN = 50`: where does the peak move?
- Replace the pseudo-inverse by ridge regression, `solve(F.T @ F + lam * I, F.T @ y)` with a
  small `lam`: what happens to the peak?
"""

# %%
import os

from common.data import make_teacher_student
from common.plotting import use_course_style

import matplotlib.pyplot as plt
import numpy as np

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

N_TRAIN = 40  # n, fixed
INPUT_DIM = 10  # inputs x ~ N(0, I) in R^10
NOISE = 0.3  # standard deviation sigma of the label noise
MAX_FEATURES = 20 * N_TRAIN  # p runs from 2 to 20 n
N_P = 12 if SMOKE else 36  # number of values of p (log-spaced, and p = n exactly)
TRIALS = 2 if SMOKE else 10  # independent draws of training set and features, averaged
N_TEST = 500 if SMOKE else 2000

# %% [markdown]
# ## Data: a random teacher network
# The targets come from a fixed random tanh network $f$ (the "teacher") on Gaussian inputs,
# $y = f(x) + \sigma \varepsilon$. Each trial gets its own training set of $n$ points; all trials
# share one large test set.

# %%
x, y, teacher = make_teacher_student(
    TRIALS * N_TRAIN + N_TEST, input_dim=INPUT_DIM, noise=NOISE, seed=SEED
)
x, y = x.astype(np.float64), y.astype(np.float64)
x_test, y_test = x[TRIALS * N_TRAIN :], y[TRIALS * N_TRAIN :]
train_sets = [
    (x[t * N_TRAIN : (t + 1) * N_TRAIN], y[t * N_TRAIN : (t + 1) * N_TRAIN]) for t in range(TRIALS)
]
feature_rng = np.random.default_rng([SEED, 2])  # a stream independent of the data's

# %% [markdown]
# ## Random ReLU features and the minimum-norm fit
# The model is a one-hidden-layer ReLU network whose first layer is frozen at random:
# $$\hat f(x) = \frac{1}{\sqrt p} \sum_{j=1}^p a_j \,\max(0, w_j^\top x), \qquad
#   w_j \sim N(0, I/d),$$
# and only the output weights $a \in \mathbb R^p$ are fitted. With the $n \times p$ feature
# matrix $F_{ij} = \max(0, w_j^\top x_i)/\sqrt p$ the fit is
# $$\hat a = F^{+} y ,$$
# with $F^+$ the Moore-Penrose pseudo-inverse. For $p < n$ this is the ordinary
# least-squares solution; for $p \ge n$, when $F$ has full row rank, $F a = y$ has infinitely
# many solutions and $F^+ y$ is the one of **minimum norm** $\lVert a \rVert_2$. At $p = n$,
# $F$ is square and the interpolant is unique; its smallest singular value is typically tiny, so
# $\lVert \hat a \rVert = \lVert F^{-1} y \rVert$ and the test error blow up. The features are
# nested: the model with $p$ features uses the first $p$ of one draw of $w_1, w_2, \dots$.
#
# `np.linalg.lstsq` returns exactly $F^+ y$, the least-squares solution of minimum norm, from
# an SVD (LAPACK's `gelsd`), without forming $F^+$; it is faster than `np.linalg.pinv(F) @ y`,
# which the script uses once as a check.

# %%
p_values = np.unique(
    np.concatenate([np.geomspace(2, MAX_FEATURES, N_P).round().astype(int), [N_TRAIN]])
)
train_mse = np.zeros((TRIALS, len(p_values)))
test_mse = np.zeros((TRIALS, len(p_values)))
coef_norm = np.zeros((TRIALS, len(p_values)))
for t, (x_train, y_train) in enumerate(train_sets):
    w = feature_rng.standard_normal((INPUT_DIM, MAX_FEATURES)) / np.sqrt(INPUT_DIM)
    relu_train = np.maximum(0.0, x_train @ w)  # all features; the first p are used below
    relu_test = np.maximum(0.0, x_test @ w)
    for i, p in enumerate(p_values):
        f_train = relu_train[:, :p] / np.sqrt(p)
        a = np.linalg.lstsq(f_train, y_train, rcond=None)[0]  # = F^+ y
        train_mse[t, i] = np.mean((f_train @ a - y_train) ** 2)
        test_mse[t, i] = np.mean((relu_test[:, :p] @ a / np.sqrt(p) - y_test) ** 2)
        coef_norm[t, i] = np.linalg.norm(a)

# Check the last fit against the pseudo-inverse itself (here p > n: the minimum-norm interpolant).
pinv_error = float(np.linalg.norm(np.linalg.pinv(f_train) @ y_train - a) / np.linalg.norm(a))

# The expected test error over training sets and features, estimated by the mean over trials.
mean_test = test_mse.mean(axis=0)
mean_train = train_mse.mean(axis=0)
mean_norm = coef_norm.mean(axis=0)
peak = int(np.argmax(mean_test))
norm_peak = int(np.argmax(mean_norm))
under = p_values < N_TRAIN
best_under = int(np.argmin(np.where(under, mean_test, np.inf)))
last_under = int(np.flatnonzero(under)[-1])  # the largest p below the threshold
print("     p   train MSE    test MSE   ||a||")
for i, p in enumerate(p_values):
    print(f"{p:6d}  {mean_train[i]:10.4g}  {mean_test[i]:10.4g}  {mean_norm[i]:8.3g}")

# %% [markdown]
# ## Figure: two descents and the norm that explains them

# %%
use_course_style()
fig, (ax_err, ax_norm) = plt.subplots(
    1, 2, figsize=(14, 5.6), gridspec_kw={"width_ratios": [1.4, 1]}
)
ax_err.loglog(p_values, test_mse.T, color="tab:orange", linewidth=0.6, alpha=0.35)
ax_err.loglog(
    p_values,
    mean_test,
    "s-",
    color="tab:orange",
    label=f"test MSE, mean of {TRIALS} draws (thin: each)",
)
ax_err.loglog(
    p_values[p_values < N_TRAIN],
    mean_train[p_values < N_TRAIN],
    "o-",
    color="tab:blue",
    label="training MSE (0 for p ≥ n)",
)
ax_err.axhline(NOISE**2, color="gray", linestyle=":", label=r"noise variance $\sigma^2$")
for ax in (ax_err, ax_norm):
    ax.axvline(N_TRAIN, color="black", linestyle="--", linewidth=1.5)
    ax.text(
        N_TRAIN * 1.12,
        0.97,
        f"interpolation\nthreshold p = n = {N_TRAIN}",
        transform=ax.get_xaxis_transform(),
        va="top",
        fontsize=11,
    )
ax_err.set(
    xlabel="number of random features p (log scale)",
    ylabel="mean squared error (log scale)",
    title="Test error: a minimum, a peak at p = n, a second descent",
)
ax_err.legend(loc="upper left", fontsize=10)

ax_norm.loglog(p_values, coef_norm.T, color="tab:green", linewidth=0.6, alpha=0.35)
ax_norm.loglog(p_values, mean_norm, "^-", color="tab:green", label=r"$\|\hat a\|_2$, mean")
ax_norm.set(
    xlabel="number of random features p (log scale)",
    ylabel=r"norm of the fitted weights $\|\hat a\|_2$",
    title="The minimum-norm fit: largest at p = n",
)
ax_norm.legend(loc="lower right")
fig.suptitle(
    f"Double descent: min-norm least squares on p random ReLU features, "
    f"n = {N_TRAIN} noisy samples (σ = {NOISE}) in {INPUT_DIM} dimensions"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "n_train": N_TRAIN,
    "max_features": int(p_values[-1]),
    "peak_p": int(p_values[peak]),
    "peak_test_mse": float(mean_test[peak]),
    "test_mse_max_features": float(mean_test[-1]),
    "peak_over_max_features": float(mean_test[peak] / mean_test[-1]),
    "best_underparam_p": int(p_values[best_under]),
    "best_underparam_test_mse": float(mean_test[best_under]),
    "last_underparam_p": int(p_values[last_under]),
    # the classical U left of the threshold: both ends above its minimum
    "underparam_ratio_low": float(mean_test[0] / mean_test[best_under]),
    "underparam_ratio_high": float(mean_test[last_under] / mean_test[best_under]),
    "norm_peak_p": int(p_values[norm_peak]),
    "max_train_mse_overparam": float(mean_train[p_values >= N_TRAIN].max()),
    "norm_at_peak": float(mean_norm[peak]),
    "norm_max_features": float(mean_norm[-1]),
    "pinv_error": pinv_error,
}
for key, value in SUMMARY.items():
    print(f"{key:>26s}: {value:.4g}" if isinstance(value, float) else f"{key:>26s}: {value}")
