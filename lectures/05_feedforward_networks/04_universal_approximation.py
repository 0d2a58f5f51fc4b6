"""
Universal approximation, constructively: a ReLU network written down by formula
===============================================================================

A network with one hidden layer of $N$ ReLU units, whose weights are computed from $f$ by a
formula (no training), is the piecewise-linear interpolant of $f$ at $N + 1$ equally spaced
knots; its maximal error falls like $1/N^2$.

The figure has three panels. Left: the smooth function $f$, the constructed network with
`N_SHOW` hidden units, and a network of the same width trained by Adam; the constructed one
puts its kinks at the knots, the trained one chooses its own kinks (marked below the curves).
Middle: the constructed network taken apart: the output is a constant plus one ramp
c_j relu(x - t_j) per hidden unit. Right: the maximal error of the constructed network against
$N$ on log-log axes, with the fitted slope (theory: $-2$) and the classical bound
h^2 max|f''| / 8, where h is the distance between knots.

Try:
- Replace `f` by $|x|^{1/2}$ on $[0, 1]$: $f''$ is unbounded at 0. What slope do you measure?
- Train the network longer or with more restarts: does it beat the formula at the same width?
- Put the knots where $|f''|$ is large (closer together there): how does the error change?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.plotting import use_course_style
from common.training import fit_fast

import keras
import matplotlib.pyplot as plt
import numpy as np

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed (it only
# affects the trained network; the constructed ones involve no randomness).

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

A, B = -1.0, 1.0  # the interval
HIDDEN_UNITS = (4, 8, 16) if SMOKE else (4, 8, 16, 32, 64, 128, 256, 512)  # values of N
N_SHOW = 8  # the width drawn in the left and middle panels, and of the trained network
N_EVAL = 20_001  # points of the fine grid on which the maximal error is measured
N_TRAIN = 200  # training points of the trained network (noise-free samples of f)
LEARNING_RATE = 0.01
EPOCHS = 50 if SMOKE else 3000  # full-batch Adam steps


def f(x):
    """A smooth function on [A, B]: a damped oscillation."""
    return np.exp(-x) * np.sin(3.0 * x)


def f_second_derivative(x):
    return np.exp(-x) * (-8.0 * np.sin(3.0 * x) - 6.0 * np.cos(3.0 * x))


keras.utils.set_random_seed(SEED)

# %% [markdown]
# ## The construction
# Knots $t_j = A + jh$, $j = 0, \dots, N$, with $h = (B - A)/N$, and the slopes of the chords
# $s_j = \big(f(t_{j+1}) - f(t_j)\big)/h$. The network
# $$ g(x) = f(t_0) + \sum_{j=0}^{N-1} c_j\,\mathrm{relu}(x - t_j), \qquad
#    c_0 = s_0,\quad c_j = s_j - s_{j-1}, $$
# has one hidden layer of $N$ units (input weight 1, bias $-t_j$) and a linear output (weights
# $c_j$, bias $f(t_0)$). On $[t_k, t_{k+1}]$ exactly the units $j \le k$ are active and
# $g'(x) = c_0 + \dots + c_k = s_k$: $g$ is the piecewise-linear interpolant of $f$. Each unit
# adds a kink of size $c_j$ where the slope must change.
#
# On an interval of length $h$ the interpolation error is $\frac12 |(x - t_j)(x - t_{j+1})|
# \, |f''(\xi)| \le \frac{h^2}{8} \max |f''|$, so the maximal error falls like $1/N^2$.
#
# The networks are ordinary Keras models whose weights we set; they compute in float64 so that
# rounding (about $10^{-16}$) stays far below the errors we measure.


# %%
def constructed_network(n_units):
    """The one-hidden-layer ReLU network that interpolates f at n_units + 1 equal knots."""
    knots = np.linspace(A, B, n_units + 1)
    slopes = np.diff(f(knots)) / np.diff(knots)
    coefficients = np.concatenate([[slopes[0]], np.diff(slopes)])  # c_j: the slope changes
    model = keras.Sequential(
        [
            keras.Input(shape=(1,), dtype="float64"),
            keras.layers.Dense(n_units, activation="relu", dtype="float64"),
            keras.layers.Dense(1, dtype="float64"),
        ]
    )
    model.set_weights(
        [
            np.ones((1, n_units)),  # input weights: 1
            -knots[:-1],  # hidden biases: -t_j, so unit j is relu(x - t_j)
            coefficients[:, None],  # output weights c_j
            f(knots[:1]),  # output bias f(t_0)
        ]
    )
    return model, knots, coefficients


x_eval = np.linspace(A, B, N_EVAL)
f_eval = f(x_eval)
max_f2 = float(np.max(np.abs(f_second_derivative(x_eval))))

max_errors, bounds = [], []
for n_units in HIDDEN_UNITS:
    model, knots, _ = constructed_network(n_units)
    g = keras.ops.convert_to_numpy(model(x_eval[:, None]))[:, 0]
    max_errors.append(float(np.max(np.abs(g - f_eval))))
    bounds.append((knots[1] - knots[0]) ** 2 / 8.0 * max_f2)
    print(
        f"N = {n_units:4d}: max error {max_errors[-1]:.3e}   bound h^2 max|f''|/8 = "
        f"{bounds[-1]:.3e}"
    )
max_errors, bounds = np.array(max_errors), np.array(bounds)

# %% [markdown]
# ## The rate
# A least-squares line through $(\log N, \log \max|f - g|)$ over the whole range of $N$; its
# slope estimates the exponent $p$ in $\max|f - g| \approx C N^{p}$ (theory: $p = -2$).

# %%
slope, intercept = np.polyfit(np.log(HIDDEN_UNITS), np.log(max_errors), 1)
print(f"fitted slope for N = {HIDDEN_UNITS[0]}..{HIDDEN_UNITS[-1]}: {slope:.3f}")

# %% [markdown]
# ## A trained network of the same width
# The same architecture with `N_SHOW` hidden units, initialized by Keras' defaults and trained
# by full-batch Adam on the mean squared error at `N_TRAIN` equally spaced points. Its kinks sit
# at $-b_j / w_j$, wherever training moved them.

# %%
keras.utils.set_random_seed(SEED)
x_train = np.linspace(A, B, N_TRAIN).astype("float32")[:, None]
y_train = f(x_train).astype("float32")
trained = keras.Sequential(
    [
        keras.Input(shape=(1,)),
        keras.layers.Dense(N_SHOW, activation="relu"),
        keras.layers.Dense(1),
    ]
)
trained.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="mse")
# replaces trained.fit(x_train, y_train, batch_size=N_TRAIN, epochs=EPOCHS, verbose=0)
history = fit_fast(trained, x_train, y_train, epochs=EPOCHS, every=EPOCHS, seed=SEED)
trained_eval = trained.predict(x_eval[:, None].astype("float32"), batch_size=N_EVAL, verbose=0)
trained_max_error = float(np.max(np.abs(trained_eval[:, 0] - f_eval)))
w_hidden, b_hidden = trained.layers[0].get_weights()
trained_kinks = -b_hidden / w_hidden[0]
trained_kinks = np.sort(trained_kinks[(trained_kinks > A) & (trained_kinks < B)])

show_model, show_knots, show_coefficients = constructed_network(N_SHOW)
show_g = keras.ops.convert_to_numpy(show_model(x_eval[:, None]))[:, 0]
show_error = float(np.max(np.abs(show_g - f_eval)))
print(f"width {N_SHOW}: constructed max error {show_error:.3e}, trained {trained_max_error:.3e}")

# %% [markdown]
# ## Figure: the constructed network, its parts, and its rate

# %%
use_course_style()
fig, (ax_fit, ax_parts, ax_rate) = plt.subplots(1, 3, figsize=(18, 5.8))

ax_fit.plot(x_eval, f_eval, color="black", linewidth=3, alpha=0.4, label="$f$")
ax_fit.plot(x_eval, show_g, color="tab:blue", label=f"constructed, error {show_error:.3f}")
ax_fit.plot(show_knots, f(show_knots), "o", color="tab:blue", label="knots $t_j$")
ax_fit.plot(
    x_eval,
    trained_eval[:, 0],
    "--",
    color="tab:orange",
    label=f"trained, error {trained_max_error:.3f}",
)
y_low = f_eval.min() - 0.6
ax_fit.plot(
    trained_kinks,
    np.full_like(trained_kinks, y_low + 0.1),
    "^",
    color="tab:orange",
    markersize=9,
    label="kinks of the trained network",
)
ax_fit.set(
    xlabel="$x$",
    ylabel="$f(x)$",
    ylim=(y_low, f_eval.max() + 0.3),
    title=f"{N_SHOW} hidden ReLU units: by formula vs trained",
)
ax_fit.legend(fontsize=10, loc="lower right", bbox_to_anchor=(1.0, 0.1))

ax_parts.axhline(f(A), color="gray", linestyle=":", label=f"output bias $f(t_0)$ = {f(A):.2f}")
for j, (t_j, c_j) in enumerate(zip(show_knots[:-1], show_coefficients, strict=True)):
    ax_parts.plot(
        x_eval,
        c_j * np.maximum(x_eval - t_j, 0.0),
        linewidth=1.5,
        label="$c_j\\,\\mathrm{relu}(x - t_j)$" if j == 0 else None,
    )
ax_parts.plot(x_eval, show_g, color="black", linewidth=2.5, label="sum: the network $g$")
ax_parts.set(
    xlabel="$x$", ylabel="contribution", ylim=(-6, 6), title="The constructed network, unit by unit"
)
ax_parts.legend(fontsize=10, loc="lower left")

n_values = np.array(HIDDEN_UNITS, dtype=float)
ax_rate.loglog(n_values, max_errors, "o-", color="tab:blue", label="constructed: max error")
ax_rate.loglog(
    n_values,
    np.exp(intercept) * n_values**slope,
    ":",
    color="black",
    label=f"fitted line, slope {slope:.3f}",
)
ax_rate.loglog(
    n_values,
    bounds,
    color="gray",
    linewidth=9,
    alpha=0.3,
    label="bound $h^2 \\max|f''| / 8$ (sharp here)",
)
ax_rate.loglog(
    [N_SHOW],
    [trained_max_error],
    "*",
    color="tab:orange",
    markersize=16,
    label=f"trained, width {N_SHOW}",
)
ax_rate.set(
    xlabel="hidden units $N$",
    ylabel="max error on $[-1, 1]$",
    title="Error of the construction falls like $1/N^2$",
)
ax_rate.legend(fontsize=10, loc="lower left")
fig.suptitle(f"Universal approximation by formula: $f(x) = e^{{-x}}\\sin 3x$ on [{A:g}, {B:g}]")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "fitted_slope": float(slope),
    "n_min": HIDDEN_UNITS[0],
    "n_max": HIDDEN_UNITS[-1],
    "max_error_at_n_min": float(max_errors[0]),
    "max_error_at_n_max": float(max_errors[-1]),
    "max_error_over_bound": float(np.max(max_errors / bounds)),
    "constructed_error_width_show": show_error,
    "trained_error_width_show": trained_max_error,
    "trained_final_mse": float(history["loss"][-1]),
}
for key, value in SUMMARY.items():
    print(f"{key:>30s}: {value:.4g}" if isinstance(value, float) else f"{key:>30s}: {value}")
