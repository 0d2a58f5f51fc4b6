"""
Lasso: the L1 penalty sets coefficients exactly to zero, subgradient steps do not
=================================================================================

scikit-learn's Lasso path sets more and more coefficients of the diabetes data exactly to zero
as the penalty grows, while a Keras model with the same L1 penalty, trained by plain
(sub)gradient steps, only makes those coefficients small.

The left panel shows the Lasso coefficient paths against Keras' penalty lam (lines) and the
weights the Keras model reaches from w = 0 (dots). The right panel counts the exact zeros
against the penalty: the Lasso's count climbs from none to all ten, the Keras model has none,
and every Lasso zero is a Keras weight within 2 eta lam of zero (eta the step size); the count
of such weights can exceed the Lasso's where a Lasso coefficient is itself that small. Look for
the kinks in the paths: each is a coefficient hitting zero (or, with correlated features,
leaving it again, which is why the count need not grow at every step).

Try:
- Halve `LEARNING_RATE` and double `STEPS`: the Keras weights that should be zero get smaller,
  but never zero.
- Give the Dense layers the default (Glorot) initializer: how far outside the band do the
  weights on the Lasso's zeros end, and how many more `STEPS` bring them back?
- Replace the subgradient step by a proximal one (soft-thresholding after every step) in a
  NumPy loop: exact zeros appear.
- Compare `alpha = lam` with the correct `alpha = lam / 2`: how large is the KKT violation?
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
from scipy.stats import spearmanr
from sklearn.linear_model import lasso_path

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

PATH_PENALTIES = np.logspace(-4, 0.5, 91)  # Keras' lam along the Lasso path
KERAS_PENALTIES = [0.06, 0.25] if SMOKE else [0.03, 0.06, 0.12, 0.25, 0.5]
STEPS = 100 if SMOKE else 3000  # full-batch subgradient steps per Keras model
LEARNING_RATE = 0.02

# %% [markdown]
# ## Data
# The diabetes data again, features standardized, target centred and scaled on the training
# part (so the intercept is zero and plays no role in the comparison).

# %%
keras.utils.set_random_seed(SEED)
split = load_diabetes(seed=SEED)
feature_names = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
x = split.x_train.astype(np.float64)
x = x - x.mean(axis=0)
y = (split.y_train - split.y_train.mean()) / split.y_train.std()
n, d = x.shape

# %% [markdown]
# ## Two conventions for one objective
# Keras' `L1(lam)` on a mean squared error minimizes
# $$L(w) = \frac1n\|Xw - y\|^2 + \lambda\|w\|_1 ,$$
# scikit-learn's `Lasso` minimizes $\frac1{2n}\|Xw - y\|^2 + \alpha\|w\|_1$. The second is
# $\tfrac12 L$ when $\alpha = \lambda/2$, so both have the same minimizer exactly then.
#
# Check it numerically with the optimality (KKT) conditions of $L$: with the gradient of the
# data term $g = \tfrac2n X^\top(Xw - y)$, a minimizer satisfies
# $g_j = -\lambda\,\mathrm{sign}(w_j)$ where $w_j \ne 0$ and $|g_j| \le \lambda$ where $w_j = 0$.
# (The second condition is why exact zeros are stable: the subdifferential of $|w_j|$ at 0 is
# the whole interval $[-1, 1]$.)


# %%
def kkt_violation(w, lam):
    """Largest violation of the optimality conditions of (1/n)||Xw - y||^2 + lam ||w||_1."""
    g = 2.0 / n * x.T @ (x @ w - y)
    active = w != 0
    on_active = np.abs(g[active] + lam * np.sign(w[active]))
    off_active = np.maximum(np.abs(g[~active]) - lam, 0.0)
    return float(np.concatenate([on_active, off_active, [0.0]]).max() / lam)


# sklearn's path: alphas = lam / 2, returned in decreasing order.
_, lasso_coef, _ = lasso_path(x, y, alphas=PATH_PENALTIES[::-1] / 2, tol=1e-10, max_iter=100_000)
lasso_coef = lasso_coef.T[::-1]  # (penalty, feature), penalties increasing
zeros_lasso = (lasso_coef == 0).sum(axis=1)
violation = max(kkt_violation(w, lam) for w, lam in zip(lasso_coef, PATH_PENALTIES, strict=True))
violation_wrong = max(
    kkt_violation(w, lam / 2) for w, lam in zip(lasso_coef, PATH_PENALTIES, strict=True)
)
print(
    f"relative KKT violation with alpha = lam/2: {violation:.1e}; read as alpha = lam: "
    f"{violation_wrong:.2f}"
)

# %% [markdown]
# ## Keras: plain subgradient steps
# One `Dense(1, use_bias=False)` per penalty, full-batch gradient descent without momentum,
# started at $w = 0$. The gradient Keras uses for $\lambda|w_j|$ is $\lambda\,\mathrm{sign}(w_j)$
# (and 0 at exactly 0): a weight that should be zero is pushed by $\eta\lambda$ towards 0 at
# every step, overshoots it and oscillates around it.
#
# **The band.** Suppose $|g_j| \le \lambda$, as the KKT conditions give at a Lasso zero. If
# $0 < w_j \le 2\eta\lambda$, the step $w_j - \eta(g_j + \lambda)$ lies in
# $[w_j - 2\eta\lambda,\ w_j] \subset [-2\eta\lambda, 2\eta\lambda]$ (and symmetrically for
# $w_j < 0$; from $w_j = 0$ the step is $-\eta g_j$, of size at most $\eta\lambda$). So the band
# $|w_j| \le 2\eta\lambda$ is never left while $|g_j| \le \lambda$ holds: the weight is small,
# but it does not become zero.
#
# The argument needs the iterate to *start* in the band, and the rest of the weights to be
# near the Lasso solution, so that $g_j$ is near its value there. From a random start neither
# holds for a long time: the Hessian $\frac2n X^\top X$ of the diabetes data has a smallest
# eigenvalue $\lambda_{\min}$ of 0.014 to 0.022 (the correlated s1/s2 pair), and the start's
# component along that direction decays like $(1 - \eta\lambda_{\min})^t$, still $e^{-1}$ of
# itself after $1/(\eta\lambda_{\min}) \approx 2{,}300$ to $3{,}500$ steps; a Glorot start
# leaves weights up to 20 times the band width from zero after 3,000 steps. Started at
# $w = 0$, every weight begins in its band; one whose data gradient is larger than $\lambda$
# early on leaves it, and re-enters once the other weights have settled near the Lasso
# solution.
#
# The five penalties are five independent linear models in one Keras model: they share the
# input and nothing else, so the gradient of the summed loss with respect to one model's
# weights is that model's own gradient, and plain SGD steps each exactly as if it were alone.

# %%
smallest_curvature = float(np.linalg.eigvalsh(2.0 / n * x.T @ x).min())
print(
    f"smallest curvature {smallest_curvature:.4f}: 1 / (eta lambda_min) = "
    f"{1 / (LEARNING_RATE * smallest_curvature):.0f} steps"
)
keras.utils.set_random_seed(SEED)
inputs = keras.Input(shape=(d,))
outputs = [
    keras.layers.Dense(
        1,
        use_bias=False,
        kernel_initializer="zeros",
        kernel_regularizer=keras.regularizers.L1(lam),  # adds lam * sum(|w|) to the loss
        name=f"lam_{lam:g}",
    )(inputs)
    for lam in KERAS_PENALTIES
]
model = keras.Model(inputs, outputs)
model.compile(
    optimizer=keras.optimizers.SGD(LEARNING_RATE),
    loss=["mean_squared_error"] * len(KERAS_PENALTIES),
)
targets = [y[:, None].astype(np.float32)] * len(KERAS_PENALTIES)
# Replaces model.fit(x, targets, batch_size=n, epochs=STEPS, shuffle=False, verbose=0): the
# same full-batch steps in one compiled call instead of STEPS Keras epochs.
fit_fast(model, x.astype(np.float32), targets, epochs=STEPS, every=STEPS, shuffle=False)
keras_coef = np.array(
    [model.get_layer(f"lam_{lam:g}").kernel.numpy()[:, 0] for lam in KERAS_PENALTIES]
)
keras_gradient = 2.0 / n * (x @ keras_coef.T - y[:, None]).T @ x  # g at Keras' weights

# The Lasso at exactly the Keras penalties.
_, lasso_at_keras, _ = lasso_path(
    x, y, alphas=np.array(KERAS_PENALTIES)[::-1] / 2, tol=1e-10, max_iter=100_000
)
lasso_at_keras = lasso_at_keras.T[::-1]
lasso_zero = lasso_at_keras == 0
zeros_keras = (keras_coef == 0).sum(axis=1)
band = 2 * LEARNING_RATE * np.array(KERAS_PENALTIES)[:, None]  # 2 eta lam, per penalty
small_keras = (np.abs(keras_coef) <= band).sum(axis=1)
ratio_to_band = float((np.abs(keras_coef) / band)[lasso_zero].max(initial=0.0))
largest_on_lasso_zeros = float(np.abs(keras_coef[lasso_zero]).max(initial=0.0))
# The band's assumption at the end of the run: |g_j| / lam on the Lasso's zeros.
gradient_on_zeros = float(
    (np.abs(keras_gradient) / np.array(KERAS_PENALTIES)[:, None])[lasso_zero].max(initial=0.0)
)
# Where the band and the Lasso's support disagree: a Lasso coefficient smaller than the band.
disagree = (np.abs(keras_coef) <= band) != lasso_zero
lasso_where_disagree = float((np.abs(lasso_at_keras) / band)[disagree].max(initial=0.0))
for lam, w, z in zip(KERAS_PENALTIES, keras_coef, lasso_zero, strict=True):
    shown = np.abs(w[z]).max(initial=0.0)
    print(
        f"lam = {lam:g}: Lasso zeros {z.sum()}, Keras exact zeros {(w == 0).sum()}, "
        f"largest Keras |w| there {shown:.1e}"
    )

# %% [markdown]
# ## Figure: exact zeros against small weights

# %%
use_course_style()
fig, (ax_path, ax_zero) = plt.subplots(1, 2, figsize=(14, 5.6), width_ratios=[1.4, 1])
colors = plt.cm.tab10(np.arange(d))
for j in range(d):
    ax_path.semilogx(PATH_PENALTIES, lasso_coef[:, j], color=colors[j], label=feature_names[j])
    ax_path.semilogx(KERAS_PENALTIES, keras_coef[:, j], "o", color=colors[j], markersize=7)
ax_path.plot([], [], "o", color="gray", label="Keras, subgradient")
ax_path.axhline(0, color="black", linewidth=0.8)
ax_path.set(
    xlabel=r"penalty $\lambda$ in Keras' L1($\lambda$)  (Lasso $\alpha = \lambda/2$, log scale)",
    ylabel="coefficient (standardized units)",
    title="Lasso paths (lines) and Keras' weights (dots)",
)
ax_path.legend(ncol=6, fontsize=10, loc="upper center", bbox_to_anchor=(0.5, -0.14))

ax_zero.semilogx(PATH_PENALTIES, zeros_lasso, drawstyle="steps-mid", label="Lasso: exact zeros")
ax_zero.semilogx(KERAS_PENALTIES, zeros_keras, "o", markersize=9, label="Keras: exact zeros")
ax_zero.semilogx(
    KERAS_PENALTIES,
    small_keras,
    "x",
    markersize=11,
    markeredgewidth=2.5,
    label=r"Keras: $|w| \leq 2\eta\lambda$",
)
ax_zero.set(
    xlabel=r"penalty $\lambda$ (log scale)",
    ylabel=f"number of coefficients (of {d})",
    ylim=(-0.5, d + 0.5),
    title="Exact zeros need the Lasso's solver",
)
ax_zero.legend(loc="upper left")
fig.suptitle(f"L1 on the diabetes data ({n} patients): exact zeros vs small weights")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "n_features": d,
    "lasso_zeros_at_smallest_penalty": int(zeros_lasso[0]),
    "lasso_zeros_at_largest_penalty": int(zeros_lasso[-1]),
    "spearman_penalty_vs_lasso_zeros": float(spearmanr(PATH_PENALTIES, zeros_lasso)[0]),
    "lasso_zeros_at_keras_penalties": int(lasso_zero.sum()),
    "lasso_zeros_grow_at_keras_penalties": bool(np.all(np.diff(lasso_zero.sum(axis=1)) >= 0)),
    "keras_exact_zeros": int(zeros_keras.sum()),
    "keras_small_weights": int(small_keras.sum()),
    "keras_largest_on_lasso_zeros": largest_on_lasso_zeros,
    "keras_on_lasso_zeros_over_2_eta_lam": ratio_to_band,
    "keras_gradient_on_lasso_zeros_over_lam": gradient_on_zeros,
    "band_support_disagreements": int(disagree.sum()),
    "lasso_where_disagree_over_2_eta_lam": lasso_where_disagree,
    "keras_largest_weight": float(np.abs(keras_coef).max()),
    "kkt_violation_alpha_lam_half": violation,
    "kkt_violation_alpha_lam": violation_wrong,
}
for key, value in SUMMARY.items():
    print(f"{key:>34s}: {value:.4g}" if isinstance(value, float) else f"{key:>34s}: {value}")
