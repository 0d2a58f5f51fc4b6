"""
Linear regression: gradient descent on one Dense unit finds the least-squares line
==================================================================================

A single `Dense(1)` unit trained by full-batch gradient descent on the mean squared error
converges to the same intercept and slope as the closed-form least-squares solution of the
normal equations.

The figure shows, on the left, the noisy data, the true line, the least-squares line and the
line Keras learned (they lie on top of each other). On the right it shows the excess training
loss L(θ_t) − L(θ*) of the Keras iterate after every gradient step, on a log scale, next to
the rate ρ^(2t), ρ = max |1 − η λ_i(H)|, that the theory of gradient descent on a quadratic
predicts. Look for a straight line on the log scale (linear convergence) with the slope of
the theory, that stops at the float32 round-off floor.

Try:
- Set `LEARNING_RATE = 1.1`: above 2/λ_max ≈ 1 the iteration diverges.
- Set `X_RANGE = (2.0, 4.0)`: the inputs are no longer centred, the Hessian eigenvalues become
  about 21 and 0.06 (condition number about 320), η λ_max ≈ 4.2 > 2 and gradient descent
  diverges. Lower `LEARNING_RATE` below 2/λ_max ≈ 0.095, say to 0.09: now ρ = 1 − η λ_min
  ≈ 0.994, and reaching the floor takes 2,000-2,500 steps (set `STEPS = 3000`). Why?
- Add a second feature `x**2` (`keras.Input(shape=(2,))`) and compare with least squares again.
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import make_polynomial_data
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

N = 40  # number of noisy samples
TRUE_INTERCEPT, TRUE_SLOPE = 0.5, 2.0
NOISE = 0.4  # standard deviation of the Gaussian noise
X_RANGE = (-1.0, 1.0)
LEARNING_RATE = 0.2
STEPS = 30 if SMOKE else 150  # full-batch gradient steps

# %% [markdown]
# ## Data
# $y_i = b + w x_i + \varepsilon_i$ with $\varepsilon_i \sim \mathcal N(0, \sigma^2)$, $x_i$
# uniform on `X_RANGE`.

# %%
keras.utils.set_random_seed(SEED)
x, y, true_line = make_polynomial_data(
    N, coefficients=(TRUE_INTERCEPT, TRUE_SLOPE), noise=NOISE, x_range=X_RANGE, seed=SEED
)
x = x.reshape(-1, 1)  # Keras wants a feature axis: shape (N, 1)

# %% [markdown]
# ## Closed form: the normal equations
# With the design matrix $X = [\mathbf 1, x] \in \mathbb R^{N\times 2}$ and $\theta = (b, w)$,
# the training loss is $L(\theta) = \frac1N \lVert y - X\theta \rVert^2$ (Keras' `"mse"`: the
# mean, no factor $\frac12$). Its gradient $\nabla L = \frac2N X^\top (X\theta - y)$ vanishes at
# the solution of the normal equations $X^\top X \theta^* = X^\top y$. Solved in float64.

# %%
design = np.column_stack([np.ones(N), x[:, 0]]).astype(np.float64)
targets = y.astype(np.float64)
theta_star = np.linalg.solve(design.T @ design, design.T @ targets)


def mse(theta):
    """The training loss L(theta) in float64."""
    return np.mean((targets - design @ theta) ** 2)


print(f"least squares: intercept {theta_star[0]:.6f}, slope {theta_star[1]:.6f}")

# %% [markdown]
# ## Keras: one Dense unit, gradient descent on the MSE
# The model is $\hat y = w x + b$. `SGD` without momentum on the full training set is plain
# gradient descent, $\theta_{t+1} = \theta_t - \eta \nabla L(\theta_t)$. Each epoch of
# full-batch training is one step; Keras spends more time on the bookkeeping of an epoch than on
# the step itself, so we hand `fit` the training set repeated `STEPS` times as one epoch of
# `STEPS` full batches (the same steps), and a callback records the weights after every step.

# %%
model = keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), loss="mse")


class RecordWeights(keras.callbacks.Callback):
    """Keep (intercept, slope) after every training step."""

    def on_train_begin(self, logs=None):
        self.thetas = [self.current()]

    def on_train_batch_end(self, batch, logs=None):
        self.thetas.append(self.current())

    def current(self):
        kernel, bias = self.model.layers[0].get_weights()
        return np.array([bias[0], kernel[0, 0]], dtype=np.float64)


recorder = RecordWeights()
model.fit(
    np.tile(x, (STEPS, 1)),
    np.tile(y, STEPS),
    batch_size=N,
    epochs=1,
    shuffle=False,
    verbose=0,
    callbacks=[recorder],
)
thetas = np.array(recorder.thetas)  # shape (STEPS + 1, 2)
theta_keras = thetas[-1]
print(f"Keras:         intercept {theta_keras[0]:.6f}, slope {theta_keras[1]:.6f}")

# %% [markdown]
# ## How fast? Gradient descent on a quadratic
# $L$ is quadratic with Hessian $H = \frac2N X^\top X$, so
# $\theta_{t+1} - \theta^* = (I - \eta H)(\theta_t - \theta^*)$ and the excess loss
# $L(\theta_t) - L(\theta^*) = (\theta_t - \theta^*)^\top \tfrac12 H (\theta_t - \theta^*)$ decays
# like $\rho^{2t}$ with $\rho = \max_i |1 - \eta \lambda_i(H)|$. Convergence needs
# $\eta < 2/\lambda_{\max}$.
#
# The measured rate: in the eigenbasis of $H$ the excess loss is
# $\frac12\sum_i \lambda_i c_i^2 (1 - \eta\lambda_i)^{2t}$, a sum of geometric sequences; once
# the faster ones have died out, $\log(L(\theta_t) - L(\theta^*))$ is a straight line of slope
# $2\log\rho$. A least-squares line through the steps $t \ge$ `FIT_FROM` where the excess is
# still far above the float32 floor ($> 10^{-9}$) gives the measured $\rho$.

# %%
FIT_FROM = 20  # here the faster mode is (0.6 / 0.867)^(2t) < 1e-6 of the slow one
hessian = 2.0 / N * design.T @ design
eigenvalues = np.linalg.eigvalsh(hessian)
rate = np.max(np.abs(1.0 - LEARNING_RATE * eigenvalues))
excess = np.array([mse(theta) for theta in thetas]) - mse(theta_star)
coefficient_error = np.max(np.abs(theta_keras - theta_star))
finite = np.isfinite(excess)  # a diverging run overflows float32
in_window = (np.arange(len(excess)) >= FIT_FROM) & finite & (excess > 1e-9)
if in_window.sum() >= 2:
    slope = np.polyfit(np.flatnonzero(in_window), np.log(excess[in_window]), 1)[0]
    measured_rate = float(np.exp(slope / 2))
else:
    measured_rate = float("nan")
print(f"Hessian eigenvalues {eigenvalues.round(3)}, contraction factor rho = {rate:.3f}")
print(f"measured rate exp(slope / 2) = {measured_rate:.6f} over {in_window.sum()} steps")
print(f"largest coefficient difference |Keras - least squares| = {coefficient_error:.2e}")

# %% [markdown]
# ## Figure: the same line, found two ways

# %%
use_course_style()
fig, (ax_fit, ax_loss) = plt.subplots(1, 2, figsize=(13, 5.2))
grid = np.linspace(*X_RANGE, 100)
ax_fit.scatter(x[:, 0], y, color="gray", alpha=0.7, label=f"data ($N={N}$)")
ax_fit.plot(grid, true_line(grid), color="black", linestyle=":", label="true line")
ax_fit.plot(
    grid,
    theta_star[0] + theta_star[1] * grid,
    linewidth=6,
    alpha=0.45,
    label="least squares (normal equations)",
)
ax_fit.plot(
    grid,
    theta_keras[0] + theta_keras[1] * grid,
    linestyle="--",
    color="C3",
    label=f"Keras Dense(1), {STEPS} GD steps",
)
ax_fit.set(xlabel="input $x$", ylabel="target $y$", title="Data and the two fitted lines")
ax_fit.legend(loc="upper left")

steps = np.arange(len(excess))
shown = finite & (excess > 0)  # round-off can make the last values zero or negative
ax_loss.semilogy(steps[shown], excess[shown], label=r"Keras: $L(\theta_t) - L(\theta^*)$")
ax_loss.semilogy(
    steps,
    excess[0] * rate ** (2 * steps),
    color="black",
    linestyle="--",
    label=rf"theory: $\propto \rho^{{2t}}$, $\rho = {rate:.3f}$",
)
ax_loss.set(
    xlabel="gradient step $t$",
    ylabel="excess training MSE (log scale)",
    ylim=(1e-16, 10 * excess[0]),
    title="Gradient descent converges linearly",
)
ax_loss.annotate(
    "float32 round-off floor",
    (steps[-1], excess[shown][-1]),
    xytext=(0, 8),
    textcoords="offset points",
    ha="right",
)
ax_loss.legend()
fig.suptitle("Linear regression: gradient descent on a Dense unit = least squares")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "steps": STEPS,
    "intercept_least_squares": float(theta_star[0]),
    "slope_least_squares": float(theta_star[1]),
    "intercept_keras": float(theta_keras[0]),
    "slope_keras": float(theta_keras[1]),
    "max_coefficient_difference": float(coefficient_error),
    "final_excess_mse": float(excess[-1]),
    "contraction_factor": float(rate),
    "measured_rate": measured_rate,
    "rate_relative_error": float(abs(measured_rate / rate - 1.0)),
    "rate_fit_steps": int(in_window.sum()),
}
for key, value in SUMMARY.items():
    print(f"{key:>26s}: {value:.4g}" if isinstance(value, float) else f"{key:>26s}: {value}")
