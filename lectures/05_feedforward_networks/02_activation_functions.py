"""
Activation functions and their derivatives: automatic differentiation vs the formulas
=====================================================================================

Eight activations from `keras.activations`, each differentiated by automatic differentiation,
agree with their analytic derivatives to float32 round-off (below $10^{-6}$) everywhere except
at kinks.

The figure shows one panel per activation: the function, its derivative obtained by automatic
differentiation, and the analytic derivative drawn dashed on top. Look at the shapes
of the derivatives: the saturating ones (sigmoid, tanh) vanish for large $|x|$; ReLU, leaky
ReLU and SELU have a kink at 0, where the derivative jumps (SELU's from
λα ≈ 1.758 to λ ≈ 1.051); ELU (with α = 1), GELU and
softplus have continuous derivatives. The panel titles give the largest disagreement between
the two derivatives.
Needs the TensorFlow backend: the derivatives come from `tf.GradientTape`.

Try:
- Replace `keras.activations.leaky_relu` by `lambda x: keras.activations.leaky_relu(x, 0.01)`
  (PyTorch's default slope): which formula must change?
- Use `keras.activations.gelu(x, approximate=True)` (the tanh approximation) against the exact
  formula: how large is the disagreement now?
- Build the grid in float64 (`x = np.linspace(...)` without `.astype("float32")`): how small
  does the error become? (Two activations stay near $10^{-9}$: which of their constants are
  float32 numbers?)
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from scipy.special import expit, ndtr

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` uses a coarser grid; `MMA440_SEED` changes the seed (nothing here is random).

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

X_MAX = 4.0  # the derivatives are compared on [-X_MAX, X_MAX]
N_GRID = 401 if SMOKE else 4001  # grid points (an odd number, so x = 0 is on the grid)
KINK_DISTANCE = 1e-3  # points this close to a kink are left out of the comparison

keras.utils.set_random_seed(SEED)

# %% [markdown]
# ## The activations and their derivatives
# In Keras' conventions ($\Phi$, $\varphi$: the standard normal distribution function and
# density):
#
# | activation | $\sigma(x)$ | $\sigma'(x)$ |
# |---|---|---|
# | sigmoid | $1 / (1 + e^{-x})$ | $\sigma(x)(1 - \sigma(x))$ |
# | tanh | $\tanh x$ | $1 - \tanh^2 x$ |
# | ReLU | $\max(0, x)$ | $\mathbb 1[x > 0]$ |
# | leaky ReLU | $x$ for $x > 0$, $0.2x$ otherwise | $1$ or $0.2$ |
# | ELU | $x$ for $x > 0$, $\alpha(e^x - 1)$ otherwise, $\alpha = 1$ | $1$ or $\alpha e^x$ |
# | GELU (exact) | $x\,\Phi(x)$ | $\Phi(x) + x\,\varphi(x)$ |
# | softplus | $\log(1 + e^x)$ | $1 / (1 + e^{-x})$ |
# | SELU | $\lambda x$ ($x > 0$), $\lambda\alpha(e^x - 1)$ else | $\lambda$ or $\lambda\alpha e^x$ |
#
# SELU's constants, $\lambda \approx 1.0507$ and $\alpha \approx 1.6733$, are the fixed point of
# Klambauer et al. (2017) that keeps activations at mean 0 and variance 1. ReLU, leaky ReLU and
# SELU have a kink at 0: SELU's derivative jumps from $\lambda\alpha \approx 1.758$ (left) to
# $\lambda \approx 1.051$ (right). ELU with $\alpha = 1$ has a continuous derivative ($e^0 = 1$).
#
# The slope 0.2 is the default `negative_slope` of the function `keras.activations.leaky_relu`;
# the layer `keras.layers.LeakyReLU` defaults to 0.3, and PyTorch's `LeakyReLU` to 0.01.

# %%
SELU_LAMBDA = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717


def normal_density(x):
    return np.exp(-0.5 * x**2) / np.sqrt(2.0 * np.pi)


# name: (Keras activation, analytic derivative in float64 NumPy, kinks)
ACTIVATIONS = {
    "sigmoid": (keras.activations.sigmoid, lambda x: expit(x) * (1.0 - expit(x)), []),
    "tanh": (keras.activations.tanh, lambda x: 1.0 - np.tanh(x) ** 2, []),
    "relu": (keras.activations.relu, lambda x: (x > 0).astype(float), [0.0]),
    "leaky_relu": (keras.activations.leaky_relu, lambda x: np.where(x > 0, 1.0, 0.2), [0.0]),
    "elu": (keras.activations.elu, lambda x: np.where(x > 0, 1.0, np.exp(x)), []),
    "gelu": (keras.activations.gelu, lambda x: ndtr(x) + x * normal_density(x), []),
    "softplus": (keras.activations.softplus, expit, []),
    "selu": (
        keras.activations.selu,
        lambda x: np.where(x > 0, SELU_LAMBDA, SELU_LAMBDA * SELU_ALPHA * np.exp(x)),
        [0.0],
    ),
}

# %% [markdown]
# ## Automatic differentiation
# Keras 3 has no backend-neutral "gradient" operation: every backend brings its own reverse-mode
# automatic differentiation (`tf.GradientTape`, `jax.grad`, `torch.autograd`), and Keras' own
# training step calls it. With the TensorFlow backend we use `tf.GradientTape` directly.
#
# The tape records the operations that compute $y_i = \sigma(x_i)$ for the whole grid at once.
# Asked for the gradient of a non-scalar $y$, TensorFlow returns the gradient of
# $\sum_i y_i$, and since $y_i$ depends on $x_i$ only,
# $\partial \big(\sum_j y_j\big) / \partial x_i = \sigma'(x_i)$: one backward pass gives the
# derivative at every grid point.


# %%
def derivative_by_autodiff(activation, x):
    """sigma'(x) for an element-wise activation, by reverse-mode automatic differentiation."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)  # x is a constant, not a variable: ask the tape to follow it
        y = activation(x)
    return tape.gradient(y, x).numpy()


x = np.linspace(-X_MAX, X_MAX, N_GRID).astype("float32")
x64 = x.astype("float64")  # the same points, for the float64 formulas

results = {}
for name, (activation, formula, kinks) in ACTIVATIONS.items():
    values = keras.ops.convert_to_numpy(activation(x))
    autodiff = derivative_by_autodiff(activation, x)
    analytic = formula(x64)
    away = np.ones_like(x, dtype=bool)
    for kink in kinks:
        away &= np.abs(x64 - kink) > KINK_DISTANCE
    error = float(np.max(np.abs(autodiff[away] - analytic[away])))
    results[name] = dict(values=values, autodiff=autodiff, analytic=analytic, error=error)
    print(f"{name:>10s}: max |autodiff - formula| = {error:.2e}")

# %% [markdown]
# At a kink the derivative does not exist and automatic differentiation returns *some* value
# from the subdifferential, by convention of the implementation: TensorFlow's ReLU gives 0.

# %%
at_zero = np.flatnonzero(x == 0.0)[0]
relu_derivative_at_0 = float(results["relu"]["autodiff"][at_zero])
print(f"autodiff derivative of ReLU at 0: {relu_derivative_at_0}")
# SELU's jump: the autodiff derivative just left and just right of 0.
selu_left = float(results["selu"]["autodiff"][at_zero - 1])
selu_right = float(results["selu"]["autodiff"][at_zero + 1])
print(f"SELU's derivative at x = -{x[at_zero + 1]:.0e}: {selu_left:.4f}, at +: {selu_right:.4f}")

# %% [markdown]
# ## Figure: each activation, its automatic derivative and its formula

# %%
use_course_style()
fig, axes = plt.subplots(2, 4, figsize=(18, 8.5), sharex=True)
for ax, (name, r) in zip(axes.ravel(), results.items(), strict=True):
    ax.plot(x, r["values"], color="tab:blue", label="$\\sigma(x)$")
    ax.plot(
        x,
        r["autodiff"],
        color="tab:orange",
        linewidth=3.5,
        alpha=0.7,
        label="$\\sigma'(x)$, autodiff",
    )
    ax.plot(x64, r["analytic"], "--", color="black", linewidth=1.5, label="$\\sigma'(x)$, formula")
    ax.set_title(f"{name}: max error {r['error']:.1e}")
    ax.set_ylim(-1.9, 4.2)
    ax.axhline(0.0, color="gray", linewidth=0.8)
for ax in axes[1]:
    ax.set_xlabel("$x$")
for ax in axes[:, 0]:
    ax.set_ylabel("value")
axes[0, 0].legend(loc="upper left", fontsize=10)
fig.suptitle(
    f"Eight Keras activations: derivative by tf.GradientTape vs analytic formula "
    f"({N_GRID} float32 points on [{-X_MAX:g}, {X_MAX:g}])"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {f"max_error_{name}": r["error"] for name, r in results.items()}
SUMMARY["max_error_all"] = max(r["error"] for r in results.values())
SUMMARY["relu_derivative_at_0"] = relu_derivative_at_0
SUMMARY["selu_derivative_left_of_0"] = selu_left
SUMMARY["selu_derivative_right_of_0"] = selu_right
SUMMARY["grid_points"] = N_GRID
for key, value in SUMMARY.items():
    print(f"{key:>22s}: {value:.4g}" if isinstance(value, float) else f"{key:>22s}: {value}")
