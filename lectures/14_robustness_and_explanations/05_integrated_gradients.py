"""
Integrated gradients: an attribution that adds up, checked against its axiom
============================================================================

Three attributions of a digit classifier's logit to the 64 pixels: the gradient (saliency,
Simonyan, Vedaldi and Zisserman 2014), gradient × input (Shrikumar et al. 2017), and integrated
gradients (Sundararajan, Taly and Yan 2017), which average the gradient along the straight path
from a black baseline image to the input. Integrated gradients satisfy completeness, their sum
is f(x) − f(x'), up to the error of the Riemann sum that approximates the path integral;
gradient × input does not, and for the saliency map the sum is not even in the right units.

First figure: four test digits (left column) and the three attributions of the predicted class's
logit, red for pixels that raise it, blue for pixels that lower it, each map on its own
symmetric colour scale. Look at where the maps agree (the strokes that make the digit) and
where the gradient lights up the background, which gradient × input and integrated gradients
switch off (there x − x' = 0). Second figure: the completeness error of integrated gradients
against the number of steps m, log-log, for the left Riemann sum (slope −1) and the midpoint
rule (slope −2), with the script's step count and the 1 % line.

Needs the TensorFlow backend for the input gradients (`tf.GradientTape`, one marked cell).

Try:
- Set `ACTIVATION = "relu"`: the integrand then jumps where the path crosses a ReLU kink; what
  happens to the midpoint rule's slope?
- Set `BASELINE = 0.5` (a grey image): which pixels now receive attribution, and does the
  completeness check still pass?
- Set `ACTIVATION = "relu"` and compare `median_grad_input_gap` with GELU's: how much of the
  gap is the curvature of the activation, how much the biases?
- Set `M_STEPS = 8`: is the completeness error still below 1 %?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_digits
from common.plotting import use_course_style
from common.training import fit_fast

import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import ops

# %% [markdown]
# ## Parameters

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

WIDTH = 64  # hidden units (one hidden layer)
ACTIVATION = "gelu"  # smooth, so the path integrand is smooth: see the Try list for "relu"
EPOCHS = 1 if SMOKE else 200  # full-batch Adam steps
LEARNING_RATE = 0.01
BASELINE = 0.0  # the baseline image x' (constant): 0 is a black image
M_STEPS = 64  # Riemann-sum steps of the attributions shown
STEP_COUNTS = [1, 4, 8, 16] if SMOKE else [1, 2, 4, 8, 16, 32, 64, 128, 256]
FIT_FROM = 8  # the log-log slope is fitted on the step counts m >= FIT_FROM (asymptotic)
N_IMAGES = 8 if SMOKE else 32  # test digits whose completeness is measured
N_SHOWN = 2 if SMOKE else 4  # digits in the figure

if ACTIVATION not in ("gelu", "relu", "tanh", "softplus"):
    raise ValueError(f"ACTIVATION must be gelu, relu, tanh or softplus, got {ACTIVATION!r}")
if not 0.0 <= BASELINE <= 1.0:
    raise ValueError(f"BASELINE must be a pixel value in [0, 1], got {BASELINE}")
if M_STEPS < 1 or FIT_FROM not in STEP_COUNTS:
    raise ValueError(f"need M_STEPS >= 1 and FIT_FROM in STEP_COUNTS, got {M_STEPS}, {FIT_FROM}")
if sum(m >= FIT_FROM for m in STEP_COUNTS) < 2 or min(STEP_COUNTS) < 1:
    raise ValueError(
        f"the slope needs two step counts >= FIT_FROM = {FIT_FROM} (all >= 1), got {STEP_COUNTS}"
    )

# %% [markdown]
# ## Input gradients (TensorFlow)
# Every attribution below is built from $\nabla_x f_c(x)$, the gradient of the logit of class
# $c$ with respect to the 64 pixels. The rows of a batch are independent, so one backward pass
# of $\sum_n f_{c_n}(x_n)$ gives every row's gradient. This is the backend-specific cell.

# %%
import tensorflow as tf  # noqa: E402  (input gradients need tf.GradientTape)


def logit_gradients(model, x, classes):
    """∇_x f_{c_n}(x_n) for every row x_n of x and class c_n: array of the shape of x."""
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model(x)
        chosen = tf.gather(logits, classes, axis=1, batch_dims=1)
        total = tf.reduce_sum(chosen)
    return np.asarray(tape.gradient(total, x))


# %% [markdown]
# ## Three attributions
# For the logit $f = f_c$ of the predicted class, an input $x$ and a baseline $x'$:
#
# $$\text{saliency}_i = \frac{\partial f}{\partial x_i}(x), \qquad
#   (\text{gradient} \times \text{input})_i = (x_i - x'_i)\,\frac{\partial f}{\partial x_i}(x),$$
#
# the second for the black baseline $x' = 0$ the gradient × input $x_i\,\partial_i f(x)$ of
# Shrikumar et al. (2017), in general the first-order Taylor term of $f(x) - f(x')$ at $x$;
#
# $$\mathrm{IG}_i(x) = (x_i - x'_i) \int_0^1
#   \frac{\partial f}{\partial x_i}\big(x' + \alpha (x - x')\big)\, d\alpha.$$
#
# **Completeness.** Along the path $\gamma(\alpha) = x' + \alpha(x - x')$ the fundamental
# theorem of calculus gives
#
# $$\sum_i \mathrm{IG}_i(x) = \int_0^1 \nabla f(\gamma(\alpha))^\top (x - x')\, d\alpha =
#   \int_0^1 \frac{d}{d\alpha} f(\gamma(\alpha))\, d\alpha = f(x) - f(x').$$
#
# The integral is a Riemann sum with $m$ steps. The left sum (nodes $\alpha_k = k/m$,
# $k = 0, \dots, m-1$) has error $\tfrac{1}{2m}(g(0) - g(1)) + O(m^{-2})$, the midpoint rule
# (nodes $(k + \tfrac12)/m$) has error $-\tfrac{1}{24 m^2}(g'(1) - g'(0)) + O(m^{-4})$, for the
# smooth integrand $g(\alpha) = \nabla f(\gamma(\alpha))^\top (x - x')$ (Euler and Maclaurin's
# expansion). So the relative completeness error falls like $1/m$ and $1/m^2$: slopes $-1$ and
# $-2$ on a log-log plot. The script uses the midpoint rule.


# %%
def integrated_gradients(model, x, classes, m, rule="midpoint"):
    """IG of the logits f_{c_n} at the rows x_n, baseline BASELINE, m-step Riemann sum."""
    if rule not in ("midpoint", "left"):
        raise ValueError(f"rule must be 'midpoint' or 'left', got {rule!r}")
    baseline = np.full_like(x, BASELINE)
    alphas = (np.arange(m) + (0.5 if rule == "midpoint" else 0.0)) / m
    path = baseline[None] + alphas[:, None, None] * (x - baseline)[None]  # (m, n, 64)
    grads = logit_gradients(model, path.reshape(-1, x.shape[1]), np.tile(classes, m))
    return (x - baseline) * grads.reshape(path.shape).mean(axis=0)


def logits_of(model, x, classes):
    return ops.convert_to_numpy(model(x))[np.arange(len(x)), classes]


# %% [markdown]
# ## A digit classifier
# One hidden layer of `WIDTH` GELU units, in float64 so that the Riemann-sum error can be
# followed far below float32's rounding, trained full-batch.

# %%
use_course_style()
data = load_digits(seed=SEED)
x_train = data.x_train.astype(np.float64)
x_test = data.x_test.astype(np.float64)


def build(hidden_units):
    """Logits of the 10 classes; no hidden layer = softmax regression (linear logits)."""
    inputs = keras.Input((64,), dtype="float64")
    h = inputs
    if hidden_units:
        h = keras.layers.Dense(hidden_units, activation=ACTIVATION, dtype="float64")(h)
    model = keras.Model(inputs, keras.layers.Dense(10, dtype="float64")(h))
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


keras.utils.set_random_seed(SEED)
network = build(WIDTH)
# fit_fast replaces network.fit(x_train, y_train, epochs=EPOCHS, batch_size=len(x_train))
fit_fast(network, x_train, data.y_train, epochs=EPOCHS, every=EPOCHS, seed=SEED)
test_accuracy = float(np.mean(np.argmax(network.predict(x_test, verbose=0), 1) == data.y_test))
print(f"network test accuracy {test_accuracy:.3f}")

x = x_test[:N_IMAGES]
classes = np.argmax(network.predict(x, verbose=0), axis=1)
baseline = np.full_like(x, BASELINE)
difference = logits_of(network, x, classes) - logits_of(network, baseline, classes)

# %% [markdown]
# ## Completeness against the number of steps
# The relative error $\big|\sum_i \mathrm{IG}_i - (f(x) - f(x'))\big| / |f(x) - f(x')|$ for
# every digit, with the left and the midpoint rule; the slope is fitted to the median over the
# digits for $m \ge$ `FIT_FROM`.

# %%
errors = {
    rule: np.array(
        [
            np.abs(integrated_gradients(network, x, classes, m, rule).sum(axis=1) - difference)
            / np.abs(difference)
            for m in STEP_COUNTS
        ]
    )
    for rule in ("left", "midpoint")
}
fit = np.array(STEP_COUNTS) >= FIT_FROM
slopes = {
    rule: float(np.polyfit(np.log(np.array(STEP_COUNTS)[fit]), np.log(np.median(e[fit], 1)), 1)[0])
    for rule, e in errors.items()
}
ig = integrated_gradients(network, x, classes, M_STEPS)
completeness_error = np.abs(ig.sum(axis=1) - difference) / np.abs(difference)
print(
    f"log-log slopes of the completeness error: left {slopes['left']:.3f}, "
    f"midpoint {slopes['midpoint']:.3f}"
)
print(
    f"midpoint rule, m = {M_STEPS}: relative completeness error at most "
    f"{completeness_error.max():.1e}"
)

# %% [markdown]
# ## Gradient × input is not complete, saliency not even comparable
# The saliency map has the units of logit per unit of pixel value, $f(x) - f(x')$ is a logit:
# completeness is not even defined for it. Gradient × input is a logit, but it sums to
# $(x - x')^\top \nabla f(x)$, the first-order Taylor term, not to $f(x) - f(x')$. For the
# baseline $0$ it is complete at every $x$ exactly when $f - f(0)$ is positively homogeneous of
# degree 1 (Euler's theorem $x^\top \nabla g(x) = g(x)$, and conversely
# $\tfrac{d}{dt}\, g(tx)/t = 0$): a bias-free ReLU network. A ReLU network with biases is affine,
# $w_R^\top x + b_R$, on each activation region $R$, and misses by $b_R - f(0)$. The GELU network
# misses mostly by the curvature of its activation, $\mathrm{gelu}(z) \approx z/2 +
# z^2/\sqrt{2\pi}$ near 0, whose quadratic part gradient × input counts twice
# ($z\,\tfrac{d}{dz} z^2 = 2 z^2$). The gap is measured relative to $|f(x) - f(x')|$.

# %%
gradient = logit_gradients(network, x, classes)
grad_input = (x - baseline) * gradient
grad_input_gap = np.abs(grad_input.sum(axis=1) - difference) / np.abs(difference)
print(
    f"relative completeness gap, median over digits: gradient x input "
    f"{np.median(grad_input_gap):.3f}, integrated gradients {np.median(completeness_error):.1e}"
)

# %% [markdown]
# ## A linear model: integrated gradients equal $(x - x') \odot w$
# For logits $f_c(x) = w_c^\top x + b_c$ the gradient is the constant $w_c$, so every Riemann
# sum is exact and $\mathrm{IG}(x) = (x - x') \odot w_c$: checked in float64 against the
# trained softmax regression's weight column.

# %%
keras.utils.set_random_seed(SEED)
linear = build(0)
# fit_fast replaces linear.fit(x_train, y_train, epochs=EPOCHS, batch_size=len(x_train))
fit_fast(linear, x_train, data.y_train, epochs=EPOCHS, every=EPOCHS, seed=SEED)
kernel = ops.convert_to_numpy(linear.layers[-1].kernel)
linear_classes = np.argmax(linear.predict(x, verbose=0), axis=1)
ig_linear = integrated_gradients(linear, x, linear_classes, M_STEPS)
closed_form = (x - baseline) * kernel[:, linear_classes].T
linear_ig_error = float(np.max(np.abs(ig_linear - closed_form)) / np.max(np.abs(closed_form)))
linear_difference = logits_of(linear, x, linear_classes) - logits_of(
    linear, baseline, linear_classes
)
linear_completeness_error = float(
    np.max(np.abs(ig_linear.sum(axis=1) - linear_difference) / np.abs(linear_difference))
)
print(f"linear model: max |IG - (x - x') w| / max |(x - x') w| = {linear_ig_error:.1e}")

# %% [markdown]
# ## The figures

# %%
maps = {
    "saliency ∂f/∂x": (gradient, "logit per unit pixel"),
    "gradient × input": (grad_input, "logit"),
    f"integrated gradients (m = {M_STEPS})": (ig, "logit"),
}
# the first digit of each of N_SHOWN different predicted classes
shown = np.unique(classes, return_index=True)[1][:N_SHOWN]
fig, axes = plt.subplots(N_SHOWN, 4, figsize=(11, 2.7 * N_SHOWN))
for row, index in enumerate(shown):
    axes[row, 0].imshow(x[index].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    axes[row, 0].set_ylabel(f"predicted {classes[index]}")
    for col, (name, (values, unit)) in enumerate(maps.items(), start=1):
        limit = np.max(np.abs(values[index]))
        image = axes[row, col].imshow(
            values[index].reshape(8, 8), cmap="RdBu_r", vmin=-limit, vmax=limit
        )
        fig.colorbar(image, ax=axes[row, col], fraction=0.046, pad=0.04, label=unit)
        if row == 0:
            axes[row, col].set_title(name, fontsize=12)
    axes[0, 0].set_title("input digit", fontsize=12)
for ax in axes.ravel():
    ax.set(xticks=[], yticks=[])
    ax.grid(False)
fig.suptitle("Attributions of the predicted class's logit (red raises it, blue lowers it)")
plt.show()

fig, ax = plt.subplots(figsize=(9, 6))
for rule, color, order in (("left", "tab:orange", 1), ("midpoint", "tab:blue", 2)):
    ax.plot(STEP_COUNTS, errors[rule], color=color, lw=0.6, alpha=0.35)
    ax.plot(
        STEP_COUNTS,
        np.median(errors[rule], 1),
        "o-",
        color=color,
        lw=2.5,
        label=f"{rule} rule, median over digits: slope {slopes[rule]:.2f} (theory −{order})",
    )
ax.axhline(0.01, color="k", ls=":", lw=1.2, label="1 % error")
ax.axvline(M_STEPS, color="0.4", ls="--", lw=1.2, label=f"the script's m = {M_STEPS}")
ax.set(
    xscale="log",
    yscale="log",
    xlabel="Riemann-sum steps m",
    ylabel="relative completeness error",
    title="Integrated gradients: |Σ IG − (f(x) − f(x'))| / |f(x) − f(x')|",
)
ax.legend(fontsize=10)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "test_accuracy": test_accuracy,
    "n_images": N_IMAGES,
    "m_steps": M_STEPS,
    "slope_left": slopes["left"],
    "slope_midpoint": slopes["midpoint"],
    "max_completeness_error": float(completeness_error.max()),
    "median_completeness_error": float(np.median(completeness_error)),
    "median_grad_input_gap": float(np.median(grad_input_gap)),
    "min_grad_input_gap": float(grad_input_gap.min()),
    "linear_ig_error": linear_ig_error,
    "linear_completeness_error": linear_completeness_error,
}
for key, value in SUMMARY.items():
    print(f"{key:>28s}: {value:.4g}" if isinstance(value, float) else f"{key:>28s}: {value}")
