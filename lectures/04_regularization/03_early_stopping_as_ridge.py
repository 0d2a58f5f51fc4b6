"""
Early stopping as regularization: gradient-descent iterates follow the ridge path
=================================================================================

Gradient descent on least squares, started at zero and stopped after t steps of size eta, lands
close to the ridge solution with penalty lam = 1/(2 eta t) in Keras' convention (Goodfellow et
al., Deep Learning, section 7.8): stopping early is an L2 penalty in disguise.

The left panel draws the coefficients of the diabetes data along both paths on one time axis:
gradient descent against eta * t (solid) and ridge against 1/(2 lam) (dashed). The right panel
shows the distance between the two, relative to the size of the least-squares solution, for
every t. Look at how the well-determined coefficients (bmi, s5) are learnt first, as in ridge
with a large penalty, and how the correlated s1/s2 pair is learnt last.

Try:
- Double `STEP_FRACTION` to 1: where do the paths part, and why only at the start?
- Start gradient descent from a random point instead of zero: is it still a ridge path?
- Replace lam = 1/(2 eta t) by 1/(eta t): how much does the factor 2 matter?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_diabetes
from common.plotting import use_course_style
from common.training import fit_fast

import keras
import matplotlib.pyplot as plt
import numpy as np

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

STEP_FRACTION = 0.5  # eta = STEP_FRACTION / (largest curvature)
HORIZON = 40.0  # run until eta * t * (smallest curvature) = HORIZON: least squares reached
KERAS_STEPS = 50 if SMOKE else 500  # steps of the Keras check
N_CHECKPOINTS = 200  # times t (log-spaced) at which the paths are compared

# %% [markdown]
# ## Data
# The diabetes data, features standardized and centred, target centred and scaled: there is no
# intercept to learn, and $w = 0$ is the natural start.

# %%
keras.utils.set_random_seed(SEED)
split = load_diabetes(seed=SEED)
feature_names = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
x = split.x_train.astype(np.float64)
x = x - x.mean(axis=0)
y = (split.y_train - split.y_train.mean()) / split.y_train.std()
n, d = x.shape

# %% [markdown]
# ## Both paths in the eigenbasis of the Hessian
# Keras' loss $L(w) = \frac1n\|Xw - y\|^2$ has Hessian $H = \frac2n X^\top X = Q\Lambda Q^\top$
# and minimizer $\hat w$ (least squares). Gradient descent from $w_0 = 0$,
# $w_{t+1} = w_t - \eta H(w_t - \hat w)$, gives in the eigenbasis
# $$Q^\top w_t = \big[I - (I - \eta\Lambda)^t\big] Q^\top \hat w .$$
# Ridge in Keras' convention, $L(w) + \lambda\|w\|^2$, has Hessian $H + 2\lambda I$, so
# $$Q^\top \hat w_\lambda = (\Lambda + 2\lambda I)^{-1}\Lambda\, Q^\top \hat w .$$
# Both shrink each eigen-coordinate of $\hat w$ by a filter factor: $1 - (1-\eta\lambda_i)^t
# \approx 1 - e^{-\eta t\lambda_i}$ against $\lambda_i / (\lambda_i + 2\lambda)$. For small
# $\eta t\lambda_i$ the first is $\approx \eta t\lambda_i$, the second
# $\approx \lambda_i / (2\lambda)$: they agree when
# $$\lambda = \frac{1}{2\eta t}$$
# (Goodfellow et al. write the penalty as $\frac\alpha2\|w\|^2$ and find $\alpha = 1/(\eta t)$:
# the same statement, since $\alpha = 2\lambda$).
#
# **The measure.** $r(t) = \|w_t - \hat w_{1/(2\eta t)}\| / \|\hat w\|$, the distance between the
# two paths at matched times relative to the length of the whole path. Since $Q$ is orthogonal,
# $r(t)^2 = \sum_i (f_i - g_i)^2 c_i^2 / \sum_i c_i^2$ with $c = Q^\top\hat w$, the filter
# factors $f_i = 1 - (1 - \eta\lambda_i)^t$ and $g_i = \eta t\lambda_i / (1 + \eta t\lambda_i)$, so
# $$r(t) \le B(t) = \max_i |f_i(t) - g_i(t)| ,$$
# a bound computed from the actual step sizes $\eta\lambda_i$. As $\eta \to 0$ at fixed
# $s = \eta t\lambda_i$, $f_i \to 1 - e^{-s}$ and the bound tends to
# $\sup_{s>0} |1 - e^{-s} - s/(1+s)| \approx 0.204$; at this run's $\eta\lambda_{\max} = 0.5$ the
# discrete factor runs ahead of its limit in the first steps ($f = 0.5, 0.75, 0.875$ at
# $t = 1, 2, 3$ against $g = 0.33, 0.5, 0.6$), and $B$ reaches about 0.27.

# %%
hessian = 2.0 / n * x.T @ x
curvatures = np.linalg.eigvalsh(hessian)
w_hat = np.linalg.solve(x.T @ x, x.T @ y)  # least squares
eta = STEP_FRACTION / curvatures.max()
total_steps = int(HORIZON / (eta * curvatures.min()))
checkpoints = np.unique(np.logspace(0, np.log10(total_steps), N_CHECKPOINTS).astype(int))


def ridge(lam):
    """Minimizer of (1/n)||Xw - y||^2 + lam ||w||^2 (Keras' convention)."""
    return np.linalg.solve(x.T @ x + n * lam * np.eye(d), x.T @ y)


# Gradient descent itself (plain NumPy), recording the iterates at the checkpoints.
recorded = set(checkpoints.tolist())
w = np.zeros(d)
gd_path = []
for t in range(1, total_steps + 1):
    w = w - eta * 2.0 / n * x.T @ (x @ w - y)  # the gradient of (1/n)||Xw - y||^2
    if t in recorded:
        gd_path.append(w.copy())
gd_path = np.array(gd_path)
ridge_path = np.array([ridge(1.0 / (2 * eta * t)) for t in checkpoints])
distance = np.linalg.norm(gd_path - ridge_path, axis=1) / np.linalg.norm(w_hat)

# The bound B(t) from the filter factors, per eigenvalue and checkpoint.
steps_times_curvature = eta * checkpoints[:, None] * curvatures[None, :]
gd_factor = 1.0 - (1.0 - eta * curvatures[None, :]) ** checkpoints[:, None]
ridge_factor = steps_times_curvature / (1.0 + steps_times_curvature)
bound = np.abs(gd_factor - ridge_factor).max(axis=1)
s_grid = np.logspace(-3, 3, 20_001)
continuous_limit = float(np.max(np.abs(1 - np.exp(-s_grid) - s_grid / (1 + s_grid))))
print(f"bound B(t) at most {bound.max():.3f}; its eta -> 0 limit {continuous_limit:.4f}")
print(f"eta = {eta:.4f}, {total_steps} steps; largest relative distance {distance.max():.3f}")

# %% [markdown]
# ## The same iterates from Keras
# `keras.optimizers.SGD` on a linear model without bias, started at zero, full batch: its
# weights after `KERAS_STEPS` steps are the NumPy iterate $w_t$ (up to float32 rounding).

# %%
model = keras.Sequential(
    [keras.Input(shape=(d,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")]
)
model.compile(optimizer=keras.optimizers.SGD(eta), loss="mean_squared_error")
# Replaces model.fit(x, y, batch_size=n, epochs=KERAS_STEPS, shuffle=False, verbose=0): the
# same full-batch steps in one compiled call instead of KERAS_STEPS Keras epochs.
fit_fast(
    model,
    x.astype(np.float32),
    y[:, None].astype(np.float32),
    epochs=KERAS_STEPS,
    every=KERAS_STEPS,
    shuffle=False,
)
w_check = np.zeros(d)
for _ in range(KERAS_STEPS):
    w_check = w_check - eta * 2.0 / n * x.T @ (x @ w_check - y)
keras_error = float(np.abs(model.layers[0].kernel.numpy()[:, 0] - w_check).max())
print(f"Keras SGD vs NumPy gradient descent after {KERAS_STEPS} steps: {keras_error:.1e}")

# %% [markdown]
# ## Figure: two paths, one time axis

# %%
use_course_style()
fig, (ax_path, ax_dist) = plt.subplots(1, 2, figsize=(14, 5.6), width_ratios=[1.4, 1])
time_axis = eta * checkpoints  # = 1 / (2 lam) on the ridge path
colors = plt.cm.tab10(np.arange(d))
for j in range(d):
    ax_path.semilogx(time_axis, gd_path[:, j], color=colors[j], label=feature_names[j])
    ax_path.semilogx(time_axis, ridge_path[:, j], "--", color=colors[j])
ax_path.plot([], [], color="gray", label="gradient descent")
ax_path.plot([], [], "--", color="gray", label="ridge")
ax_path.set(
    xlabel=r"$\eta t$ for gradient descent, $1/(2\lambda)$ for ridge (log scale)",
    ylabel="coefficient (standardized units)",
    title=r"Gradient descent at step $t$ vs ridge at $\lambda = 1/(2\eta t)$",
)
ax_path.legend(ncol=6, fontsize=10, loc="upper center", bbox_to_anchor=(0.5, -0.14))

ax_dist.semilogx(checkpoints, distance, label=r"$r(t)$")
ax_dist.semilogx(checkpoints, bound, "--", color="tab:red", label=r"bound $B(t)$ at this $\eta$")
ax_dist.axhline(
    continuous_limit,
    color="gray",
    linestyle=":",
    label=rf"$\eta \to 0$ limit of the bound, {continuous_limit:.3f}",
)
ax_dist.set(
    xlabel="gradient-descent step t (log scale)",
    ylabel=r"$\|w_t - \hat w_{1/(2\eta t)}\| \,/\, \|\hat w\|$",
    ylim=(0, 1.15 * max(bound.max(), continuous_limit)),
    title="Distance between the paths",
)
ax_dist.legend(loc="upper right")
fig.suptitle("Early stopping ≈ ridge on the diabetes data (Goodfellow et al., section 7.8)")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "learning_rate": float(eta),
    "total_steps": total_steps,
    "max_relative_distance": float(distance.max()),
    "final_relative_distance": float(distance[-1]),
    "max_bound": float(bound.max()),
    "max_distance_minus_bound": float((distance - bound).max()),
    "continuous_limit_of_bound": continuous_limit,
    "final_gd_to_least_squares": float(np.linalg.norm(gd_path[-1] - w_hat) / np.linalg.norm(w_hat)),
    "keras_sgd_vs_numpy_gd": keras_error,
}
for key, value in SUMMARY.items():
    print(f"{key:>26s}: {value:.4g}" if isinstance(value, float) else f"{key:>26s}: {value}")
