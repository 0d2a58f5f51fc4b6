"""
Bias and variance of neural networks: the L2 strength as the capacity knob
==========================================================================

Many small MLPs, one per training set and L2 strength, are trained side by side as a single
Keras model; their predictions on a test grid give the squared bias, the variance and, with the
noise, the expected test error, as for the polynomials.

The left panel shows a few of the trained networks for the strongest and the weakest L2 penalty
next to their average and the true function. The right panel is the tradeoff plot along the L2
strength, with the x-axis reversed so that capacity grows to the right as in the polynomial
figure: a strong penalty gives nearly identical, flat networks (high bias, low variance), a weak
one gives networks that follow the noise of their own training set (low bias, high variance).
The measured test error (markers) lies on bias^2 + variance + noise.

Try:
- Set `EPOCHS = 200`: stopping early is a regularizer too. Which curve moves, and at which end?
- Set `WIDTH = 16`: does the variance at the weakest penalty go up or down?
- Set `N_TRAIN = 200`: which of the three terms shrinks, and by roughly what factor?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import make_regression_1d
from common.plotting import use_course_style
from common.training import fit_fast

import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import ops

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

TRUE_FUNCTION = "runge"  # f(x) = 1 / (1 + 25 x^2), as in the polynomial decomposition
X_RANGE = (-0.5, 1.0)
NOISE = 0.3
N_TRAIN = 50  # points per training set
REPLICATES = 4 if SMOKE else 60  # R training sets (and networks) per L2 strength
L2_STRENGTHS = [1e-1, 1e-2, 1e-3, 1e-4, 1e-5]  # lambda, from low to high capacity
WIDTH = 64  # units in the hidden layer
EPOCHS = 40 if SMOKE else 2000  # full-batch Adam steps
LEARNING_RATE = 3e-2
N_GRID = 1001  # test grid on X_RANGE
N_SHOWN = 10  # networks drawn per strength in the left panel

# %% [markdown]
# ## Data: R training sets, shared by every L2 strength
# As in the polynomial script, one sample of $R \cdot n$ points cut into $R$ pieces gives $R$
# independent training sets. Every strength sees the **same** $R$ training sets and starts from
# the **same** $R$ initial networks, so the strengths differ only in $\lambda$.

# %%
keras.utils.set_random_seed(SEED)
x, y, true_fn = make_regression_1d(
    REPLICATES * N_TRAIN, function=TRUE_FUNCTION, noise=NOISE, x_range=X_RANGE, seed=SEED
)
x_sets = x.reshape(REPLICATES, N_TRAIN, 1)  # training set r is x_sets[r], y_sets[r]
y_sets = y.reshape(REPLICATES, N_TRAIN, 1)

n_strengths = len(L2_STRENGTHS)
n_members = n_strengths * REPLICATES  # network m has strength m // R and training set m % R
x_members = np.tile(x_sets, (n_strengths, 1, 1))
y_members = np.tile(y_sets, (n_strengths, 1, 1))
member_l2 = np.repeat(L2_STRENGTHS, REPLICATES).astype("float32")

grid = np.linspace(*X_RANGE, N_GRID)
f_grid = true_fn(grid)
test_rng = np.random.default_rng([SEED, 1])  # a stream independent of the training data's
y_grid = f_grid + NOISE * test_rng.standard_normal((REPLICATES, N_GRID))  # fresh labels y_rg

# %% [markdown]
# ## Many networks as one Keras model
# Network $m$ is a $1 \to 64 \to 1$ MLP with tanh hidden units, trained on its own
# training set $D_m$ to minimise, in Keras' L2 convention (no factor $\frac12$),
# $$J_m(\theta_m) = \frac1n \sum_{i=1}^n \bigl(y_{mi} - f_{\theta_m}(x_{mi})\bigr)^2 +
#   \lambda_m \sum_{\text{layers } l} \lVert W^{(l)}_m \rVert_F^2$$
# (biases are not penalised), which is what `Dense(..., kernel_regularizer=L2(lam))` and the
# `"mse"` loss give. Instead of $M$ separate `fit` calls, `ReplicatedDense` holds the $M$ kernels
# of a layer in one tensor of shape $(M, d_{\text{in}}, d_{\text{out}})$ and multiplies each
# network's inputs by its own kernel with `einsum`. The model's input has shape $(M, n, 1)$: the
# batch axis is the network index, so the model must always see all $M$ networks in order
# (full batch, no shuffling).
#
# The model's loss is the mean over networks, $\frac1M \sum_m J_m$. Networks share no
# parameters, so the gradient for $\theta_m$ is $\frac1M \nabla J_m$. Adam's step
# $\eta\,\hat m / (\sqrt{\hat v} + \epsilon)$ does not change when the gradient and
# $\epsilon$ are both multiplied by the same constant: $\hat m$ and $\sqrt{\hat v}$ scale with
# the gradient. With $\epsilon/M$ in the batched model, each network therefore takes exactly
# the steps of `Adam(LEARNING_RATE)` (default $\epsilon = 10^{-7}$) on its own $J_m$, as if it
# were alone. (With $\epsilon$ unchanged the two would agree only where
# $\sqrt{\hat v} \gg \epsilon$: Adam's step is of order $\eta$ whatever the size of the
# gradient, so a coordinate whose gradient in the stack falls to about $\epsilon$, i.e. about
# $M\epsilon$ alone, would take shorter steps.) This is checked below for network 0.


# %%
class ReplicatedL2(keras.regularizers.Regularizer):
    """(1/M) sum_m lambda_m ||W_m||^2 for a stack of M kernels: the mean of the L2 penalties."""

    def __init__(self, strengths):
        self.strengths = np.asarray(strengths, dtype="float32")

    def __call__(self, kernel):
        squared_norms = ops.sum(ops.square(kernel), axis=(1, 2))  # one per network
        return ops.mean(self.strengths * squared_norms)


class ReplicatedDense(keras.layers.Layer):
    """M independent dense layers side by side: (M, n, d_in) -> (M, n, units)."""

    def __init__(self, units, l2_strengths, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.l2_strengths = l2_strengths
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        members, d_in = len(self.l2_strengths), input_shape[-1]
        limit = float(np.sqrt(6.0 / (d_in + self.units)))  # Glorot uniform for each network
        self.kernel = self.add_weight(
            shape=(members, d_in, self.units),
            initializer=keras.initializers.RandomUniform(-limit, limit),
            regularizer=ReplicatedL2(self.l2_strengths),
            name="kernel",
        )
        self.bias = self.add_weight(
            shape=(members, 1, self.units), initializer="zeros", name="bias"
        )

    def call(self, inputs):
        # out[m, i, u] = sum_j inputs[m, i, j] * kernel[m, j, u] + bias[m, 0, u]
        return self.activation(ops.einsum("mij,mju->miu", inputs, self.kernel) + self.bias)


model = keras.Sequential(
    [
        keras.Input(shape=(None, 1)),  # any number of points per network
        ReplicatedDense(WIDTH, member_l2, activation="tanh"),
        ReplicatedDense(1, member_l2),
    ]
)
# The same R initial networks for every strength: copy the first R into the other blocks.
for weight in model.weights:
    weight.assign(ops.tile(weight[:REPLICATES], (n_strengths, 1, 1)))
ADAM_EPSILON = 1e-7  # Keras' default, for a network trained alone
model.compile(
    optimizer=keras.optimizers.Adam(LEARNING_RATE, epsilon=ADAM_EPSILON / n_members), loss="mse"
)
print(f"{n_members} networks of {model.count_params() // n_members:,} parameters in one model")

# %% [markdown]
# ## Training: one model, full batch
# `shuffle=False` keeps network $m$ on its own training set (the batch is all $M$ networks, in
# order). The first `CHECK_STEPS` steps are run separately, to compare network 0 with the same
# network trained alone; then training goes on (Adam keeps its moments across the two calls).

# %%
CHECK_STEPS = 20
if EPOCHS <= CHECK_STEPS:
    raise ValueError(f"EPOCHS must exceed CHECK_STEPS = {CHECK_STEPS}, got {EPOCHS}")
initial_network_0 = [ops.convert_to_numpy(w[0]) for w in model.weights]  # kernel, bias, ...
# model.fit(x_members, y_members, batch_size=n_members, epochs=CHECK_STEPS, shuffle=False),
# in one compiled execution
fit_fast(model, x_members, y_members, epochs=CHECK_STEPS, every=CHECK_STEPS, shuffle=False)
checked_network_0 = [ops.convert_to_numpy(w[0]) for w in model.weights]
# model.fit(x_members, y_members, batch_size=n_members, epochs=EPOCHS - CHECK_STEPS,
#           shuffle=False), with the loss recorded every EPOCHS // 4 epochs
history = fit_fast(
    model,
    x_members,
    y_members,
    epochs=EPOCHS - CHECK_STEPS,
    every=max(EPOCHS // 4, 1),
    shuffle=False,
)
grid_members = np.broadcast_to(grid[None, :, None], (n_members, N_GRID, 1)).astype("float32")
predictions = model.predict(grid_members, batch_size=n_members, verbose=0)[..., 0]
predictions = predictions.astype(np.float64).reshape(n_strengths, REPLICATES, N_GRID)
print(f"final mean objective (1/M) sum_m J_m: {history['loss'][-1]:.4f}")

# %% [markdown]
# ## Check: the stack is M ordinary Keras MLPs
# Two checks of the construction. (1) The model's loss equals $\frac1M \sum_m J_m$ with every
# $J_m$ computed by hand from the network's outputs and kernels. (2) Network 0, copied into an
# ordinary `Sequential` of `Dense` layers with `kernel_regularizer=L2(lambda_0)`, gives the same
# outputs, and Keras' loss for it (MSE plus the L2 penalty) equals $J_0$.

# %%
outputs = model.predict(x_members, batch_size=n_members, verbose=0)  # on their own training sets
kernels = [ops.convert_to_numpy(layer.kernel) for layer in model.layers]  # (M, d_in, d_out)
penalties = member_l2 * sum(np.sum(k**2, axis=(1, 2)) for k in kernels)  # lambda_m sum ||W||^2
objectives = np.mean((y_members - outputs) ** 2, axis=(1, 2)) + penalties  # J_m, m = 1..M
model_loss = model.evaluate(x_members, y_members, batch_size=n_members, verbose=0)
batched_loss_error = float(abs(model_loss - objectives.mean()) / objectives.mean())

lam0 = float(member_l2[0])
reference = keras.Sequential(
    [
        keras.Input(shape=(1,)),
        keras.layers.Dense(WIDTH, "tanh", kernel_regularizer=keras.regularizers.L2(lam0)),
        keras.layers.Dense(1, kernel_regularizer=keras.regularizers.L2(lam0)),
    ]
)
reference.compile(loss="mse")
biases = [ops.convert_to_numpy(layer.bias) for layer in model.layers]  # (M, 1, d_out)
reference.set_weights([w for k, b in zip(kernels, biases, strict=True) for w in (k[0], b[0, 0])])
reference_loss = reference.evaluate(x_sets[0], y_sets[0], batch_size=N_TRAIN, verbose=0)
reference_loss_error = float(abs(reference_loss - objectives[0]) / objectives[0])
reference_outputs = reference.predict(grid[:, None], verbose=0)[:, 0]
reference_output_error = float(np.max(np.abs(reference_outputs - predictions[0, 0])))
print(
    f"model loss vs mean of J_m: {batched_loss_error:.1e} (relative); network 0 vs Dense: "
    f"outputs differ by {reference_output_error:.1e}, loss by {reference_loss_error:.1e}"
)

# %% [markdown]
# (3) Network 0 trained alone: an ordinary `Dense` MLP with `L2(lambda_0)`, started from
# network 0's initial weights and trained by full-batch `Adam(LEARNING_RATE)` for `CHECK_STEPS`
# steps on training set 0, ends at network 0's weights after the same steps in the stack. The
# steps are about $\eta = 0.03$ per coordinate; the two runs differ only by float32 round-off
# (another summation order in `einsum`).

# %%
alone = keras.models.clone_model(reference)
alone.set_weights(
    [w.reshape(v.shape) for w, v in zip(initial_network_0, alone.weights, strict=True)]
)
alone.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE, epsilon=ADAM_EPSILON), loss="mse")
# alone.fit(x_sets[0], y_sets[0], batch_size=N_TRAIN, epochs=CHECK_STEPS, shuffle=False),
# in one compiled execution
fit_fast(alone, x_sets[0], y_sets[0], epochs=CHECK_STEPS, every=CHECK_STEPS, shuffle=False)
alone_weights = [ops.convert_to_numpy(w) for w in alone.weights]
alone_difference = max(
    float(np.max(np.abs(a - c.reshape(a.shape))))
    for a, c in zip(alone_weights, checked_network_0, strict=True)
)
alone_movement = max(
    float(np.max(np.abs(c - i))) for c, i in zip(checked_network_0, initial_network_0, strict=True)
)
print(
    f"network 0 after {CHECK_STEPS} steps, in the stack vs alone: largest weight difference "
    f"{alone_difference:.1e} (the weights moved by up to {alone_movement:.2f})"
)

# %% [markdown]
# ## The decomposition for each strength
# Exactly the estimates of the polynomial script, with $R$ networks in place of $R$ polynomials:
# $\bar f$ the mean network on the grid, variance with $1/R$, noise and test error from the
# fresh labels $y_{rg}$ (the same labels for every strength).

# %%
mean_pred = predictions.mean(axis=1)  # (strengths, G)
bias2 = np.mean((mean_pred - f_grid) ** 2, axis=1)
variance = np.mean((predictions - mean_pred[:, None, :]) ** 2, axis=(1, 2))
noise = np.full(n_strengths, np.mean((y_grid - f_grid) ** 2))
test_mse = np.mean((y_grid[None] - predictions) ** 2, axis=(1, 2))
mse_to_truth = np.mean((predictions - f_grid) ** 2, axis=(1, 2))
total = bias2 + variance + noise
identity_gap = total / test_mse - 1.0
exact_gap = np.abs(bias2 + variance - mse_to_truth) / mse_to_truth
best = int(np.argmin(test_mse))
print("  lambda    bias^2   variance     noise  sum of 3  measured MSE   gap")
for k, lam in enumerate(L2_STRENGTHS):
    print(
        f"{lam:8.0e}  {bias2[k]:8.5f}  {variance[k]:9.5f}  {noise[k]:8.5f}  {total[k]:8.5f}"
        f"  {test_mse[k]:12.5f}  {identity_gap[k]:+.2%}"
    )

# %% [markdown]
# ## Figure: networks and the tradeoff along the L2 strength

# %%
use_course_style()
fig, axes = plt.subplots(1, 3, figsize=(17, 5.4), gridspec_kw={"width_ratios": [1, 1, 1.3]})
for ax, k in zip(axes[:2], (0, n_strengths - 1), strict=True):
    ax.plot(grid, predictions[k, :N_SHOWN].T, color="tab:blue", linewidth=0.8, alpha=0.5)
    ax.plot([], [], color="tab:blue", linewidth=0.8, label=f"{N_SHOWN} of {REPLICATES} networks")
    ax.plot(grid, mean_pred[k], color="tab:red", linewidth=3, label=r"average network $\bar f$")
    ax.plot(grid, f_grid, color="black", linestyle="--", label="true $f$")
    ax.set_ylim(-0.8, 1.6)
    ax.set(
        xlabel="input $x$",
        ylabel="output",
        title=f"λ = {L2_STRENGTHS[k]:g}: bias² {bias2[k]:.2g}, variance {variance[k]:.2g}",
    )
    ax.legend(loc="upper right", fontsize=10)

ax = axes[2]
ax.loglog(L2_STRENGTHS, bias2, "o-", label="bias²")
ax.loglog(L2_STRENGTHS, variance, "s-", label="variance")
ax.loglog(L2_STRENGTHS, noise, ":", color="gray", label="noise (≈ σ²)")
ax.loglog(
    L2_STRENGTHS,
    total,
    "-",
    color="black",
    linewidth=3,
    alpha=0.4,
    label="bias² + variance + noise",
)
ax.loglog(
    L2_STRENGTHS,
    test_mse,
    "x",
    color="black",
    markersize=11,
    markeredgewidth=2,
    label="measured test MSE",
)
ax.axvline(L2_STRENGTHS[best], color="gray", linestyle="--", linewidth=1)
ax.invert_xaxis()  # capacity grows to the right, as for the polynomial degree
ax.set_ylim(min(bias2.min(), variance.min()) / 10, 2 * test_mse.max())
ax.set(
    xlabel="L2 strength λ (log scale, reversed: capacity grows →)",
    ylabel="squared error (log scale)",
    title=f"The tradeoff: best λ = {L2_STRENGTHS[best]:g}",
)
ax.legend(loc="lower center", fontsize=10)
fig.suptitle(
    f"{n_members} MLPs trained as one Keras model: {REPLICATES} training sets of "
    f"{N_TRAIN} points × {n_strengths} L2 strengths, {EPOCHS} full-batch Adam steps"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "networks": n_members,
    "epochs": EPOCHS,
    "bias2_strongest_l2": float(bias2[0]),
    "bias2_weakest_l2": float(bias2[-1]),
    "variance_strongest_l2": float(variance[0]),
    "variance_weakest_l2": float(variance[-1]),
    "noise_estimate": float(noise[0]),
    # steps along the list, i.e. towards weaker penalties (more capacity): < 1 falls, > 1 rises
    "max_bias2_step_ratio": float(np.max(bias2[1:] / bias2[:-1])),
    "min_variance_step_ratio": float(np.min(variance[1:] / variance[:-1])),
    "best_l2": float(L2_STRENGTHS[best]),
    "max_identity_gap": float(np.max(np.abs(identity_gap))),
    "max_exact_gap": float(np.max(exact_gap)),
    "batched_loss_error": batched_loss_error,
    "reference_output_error": reference_output_error,
    "reference_loss_error": reference_loss_error,
    "alone_weight_difference": alone_difference,
    "alone_weight_movement": alone_movement,
}
for key, value in SUMMARY.items():
    print(f"{key:>28s}: {value:.4g}" if isinstance(value, float) else f"{key:>28s}: {value}")
