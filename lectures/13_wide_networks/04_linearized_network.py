"""
The linearized network: a wide network trains like its first-order Taylor model
===============================================================================

Each one-hidden-layer ReLU network (NTK parameterization, widths n = 256 to 16384, two
networks per width) is trained next to its linearization around the initial weights,
f_lin(x; θ) = f(x; θ_0) + ∇_θ f(x; θ_0) (θ - θ_0), a model that is linear in its parameters.
Both use the same Keras optimizer (SGD with momentum), the same data and the same steps
(Lee et al. 2019).

Left: training and test loss against the step for the narrowest and the widest width, the
network as solid lines and its linearization as dotted lines. Right: the distance between the
two at the end of training, the root-mean-square difference of their predictions on the test
grid, against the width, log-log, with the fitted line and the slope -1/2 of the bound. Look
at the left panel: the test curves of the two models nearly coincide at both widths, while their
training curves part where the loss is small; on the log scale a small absolute difference of a
small loss looks large, which is why the right panel measures the functions themselves.

Try:
- Set `MOMENTUM = 0.0`: plain gradient descent, the setting of script 03. Does the gap change?
- Set `LEARNING_RATE = 0.2` with `MOMENTUM = 0.9`: at which widths does the network leave its
  linearization?
- Set `REPLICATES = 8`: how much closer to the fitted line do the points come?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
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

WIDTHS = [256, 1024] if SMOKE else [256, 1024, 4096, 16384]  # hidden units
REPLICATES = 1 if SMOKE else 2  # independent networks per width
N_TRAIN = 12  # training inputs
N_TEST = 90  # test inputs on a grid of angles
STEPS = 2 if SMOKE else 300  # full-batch optimizer steps
RECORD_EVERY = 1 if SMOKE else 30  # steps between two points of the curves
LEARNING_RATE = 0.05
MOMENTUM = 0.9
SIGMA2 = 2.0  # weight variance factor sigma_w^2 (He's choice for ReLU)
D_IN = 3

# %% [markdown]
# ## Data
# As in script 03: inputs $x(\alpha) = \sqrt{3/4}\,(\cos\alpha, \sin\alpha, 1)$, targets
# $y = \sin 2\alpha + \tfrac12\cos 3\alpha$, 12 random training angles and a test grid.

# %%
keras.utils.set_random_seed(SEED)
rng = np.random.default_rng(SEED)


def embed(alpha):
    return np.sqrt(3 / 4) * np.stack([np.cos(alpha), np.sin(alpha), np.ones_like(alpha)], axis=1)


def target(alpha):
    return (np.sin(2 * alpha) + 0.5 * np.cos(3 * alpha))[:, None]


alpha_train = np.sort(rng.uniform(0, 2 * np.pi, N_TRAIN))
alpha_test = np.linspace(0, 2 * np.pi, N_TEST, endpoint=False)
x_train, y_train = embed(alpha_train).astype("float32"), target(alpha_train)
x_test, y_test = embed(alpha_test).astype("float32"), target(alpha_test)

# %% [markdown]
# ## The network and its Taylor model
# The network is $f(x; W, v) = \frac{\sigma_w}{\sqrt n}\, v^\top \phi(h)$ with
# $h = \frac{\sigma_w}{\sqrt d} W x$ and $N(0, 1)$ weights (the `NTKDense` layer of script 03).
# Its first-order Taylor model around $\theta_0 = (W_0, v_0)$ has the parameters
# $\Delta = (\Delta W, \Delta v)$, starting at 0:
#
# $$f_{\mathrm{lin}}(x; \Delta) = f(x; \theta_0) +
#   \frac{\sigma_w}{\sqrt n}\,\Delta v^\top \phi(h_0) +
#   \frac{\sigma_w}{\sqrt n}\, v_0^\top\Bigl(\phi'(h_0) \odot
#     \frac{\sigma_w}{\sqrt d}\,\Delta W x\Bigr), \qquad h_0 = \frac{\sigma_w}{\sqrt d} W_0 x,$$
#
# the directional derivative $\nabla_\theta f(x; \theta_0)\,\Delta$ written out by the chain
# rule. It is a linear model in $\Delta$ with the fixed features $\nabla_\theta f(x; \theta_0)$
# (the tangent features); its kernel is the empirical NTK at initialization. As a Keras layer it
# keeps $W_0, v_0$ frozen and trains $\Delta$. Each width's two networks and two Taylor models
# are branches of two Keras models, as in script 03.


# %%
class NTKDense(keras.layers.Layer):
    """Dense layer without bias in the NTK parameterization: sigma_w / sqrt(fan_in) * x @ W."""

    def __init__(self, units, activation=None, sigma2=SIGMA2, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.sigma2 = sigma2

    def build(self, input_shape):
        self.fan_in = input_shape[-1]
        self.kernel = self.add_weight(
            shape=(self.fan_in, self.units),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            name="kernel",
        )

    def call(self, x):
        return self.activation(np.sqrt(self.sigma2 / self.fan_in) * ops.matmul(x, self.kernel))


class TaylorNTKNetwork(keras.layers.Layer):
    """First-order Taylor model of a one-hidden-layer ReLU network around (W_0, v_0)."""

    def __init__(self, w0, v0, sigma2=SIGMA2, **kwargs):
        super().__init__(**kwargs)
        self.w0 = ops.convert_to_tensor(w0)  # (d, n), frozen
        self.v0 = ops.convert_to_tensor(v0)  # (n, 1), frozen
        self.c_w = np.sqrt(sigma2 / w0.shape[0])
        self.c_v = np.sqrt(sigma2 / w0.shape[1])
        self.delta_w = self.add_weight(shape=w0.shape, initializer="zeros", name="delta_w")
        self.delta_v = self.add_weight(shape=v0.shape, initializer="zeros", name="delta_v")

    def call(self, x):
        h0 = self.c_w * ops.matmul(x, self.w0)
        f0 = self.c_v * ops.matmul(ops.relu(h0), self.v0)
        slope = ops.cast(h0 > 0, h0.dtype)  # phi'(h_0)
        d_h = self.c_w * ops.matmul(x, self.delta_w)
        return (
            f0
            + self.c_v * ops.matmul(ops.relu(h0), self.delta_v)
            + self.c_v * ops.matmul(slope * d_h, self.v0)
        )


inputs = keras.Input(shape=(D_IN,))
names, outputs, layers = [], [], []
for width in WIDTHS:
    for replicate in range(REPLICATES):
        names.append(f"n{width}_r{replicate}")
        hidden_layer = NTKDense(width, activation="relu")
        output_layer = NTKDense(1, name=names[-1])
        outputs.append(output_layer(hidden_layer(inputs)))
        layers.append((hidden_layer, output_layer))
network = keras.Model(inputs, outputs)
taylor = keras.Model(
    inputs,
    [
        TaylorNTKNetwork(h.kernel.numpy(), o.kernel.numpy(), name=name)(inputs)
        for (h, o), name in zip(layers, names, strict=True)
    ],
)
width_of = np.repeat(WIDTHS, REPLICATES)


def predict(model, x):
    return np.stack([np.asarray(p, dtype=np.float64)[:, 0] for p in model.predict(x, verbose=0)])


# The Taylor model starts where the network starts.
start_gap = np.max(np.abs(predict(network, x_test) - predict(taylor, x_test)))
print(f"max |f(x; θ_0) - f_lin(x; 0)| = {start_gap:.2e}")

# %% [markdown]
# ## Training both with the same optimizer
# Loss $\frac1N\sum_i (f(x_i) - y_i)^2$ per branch, full batch, SGD with momentum $\mu$:
# $m_{t+1} = \mu m_t - \eta \nabla L(\theta_t)$, $\theta_{t+1} = \theta_t + m_{t+1}$, for
# both models from the same start.

# %%
histories = {}
for label, model in [("network", network), ("taylor", taylor)]:
    model.compile(
        optimizer=keras.optimizers.SGD(LEARNING_RATE, momentum=MOMENTUM),
        loss=["mean_squared_error"] * len(outputs),
    )
    # Replaces model.fit(x_train, [y_train] * 8, batch_size=N_TRAIN, epochs=STEPS,
    #                    validation_data=(x_test, [y_test] * 8), validation_freq=RECORD_EVERY)
    histories[label] = fit_fast(
        model,
        x_train,
        [y_train] * len(outputs),
        epochs=STEPS,
        every=RECORD_EVERY,
        validation_data=(x_test, [y_test] * len(outputs)),
        shuffle=False,
    )

steps = histories["network"]["epoch"]
curves = {
    (label, kind): np.stack([histories[label][f"{prefix}{name}_loss"] for name in names])
    for label in histories
    for kind, prefix in [("train", ""), ("test", "val_")]
}
f_net, f_lin = predict(network, x_test), predict(taylor, x_test)

# %% [markdown]
# ## The gap against the width
# Lee et al. (2019, Theorem 2.1) bound $\sup_t \|f_t(x) - f^{\mathrm{lin}}_t(x)\|$ by
# $O(n^{-1/2})$: the Jacobian moves by $O(n^{-1/2})$ while the parameters move by $O(1)$.

# %%
distance = np.sqrt(np.mean((f_net - f_lin) ** 2, axis=1))


def per_width(values):
    """Root mean square over the replicates of each width."""
    return np.array([np.sqrt(np.mean(values[width_of == w] ** 2)) for w in WIDTHS])


def loglog_fit(x, y):
    """Slope and intercept of the least-squares line through (log x, log y)."""
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return float(slope), float(intercept)


widths = np.array(WIDTHS, dtype=float)
gaps = {"prediction": per_width(distance)}
fits = {name: loglog_fit(widths, values) for name, values in gaps.items()}
for name, (slope, _) in fits.items():
    print(f"{name:10s} gap slope {slope:+.3f}: {np.round(gaps[name], 5)}")

# %% [markdown]
# ## Figure

# %%
use_course_style()
fig, (ax_curve, ax_gap) = plt.subplots(1, 2, figsize=(15, 5.8))
for k, color in [(0, "tab:orange"), (len(outputs) - REPLICATES, "tab:blue")]:
    for kind in ["train", "test"]:
        style = "-" if kind == "train" else "-."
        ax_curve.semilogy(
            steps,
            curves["network", kind][k],
            style,
            color=color,
            label=f"n = {width_of[k]}, network, {kind}",
        )
        ax_curve.semilogy(
            steps,
            curves["taylor", kind][k],
            ":",
            color="k" if k else "tab:red",
            linewidth=2.5,
            label=f"n = {width_of[k]}, linearized, {kind}",
        )
ax_curve.set(
    xlabel="optimizer step",
    ylabel="mean squared error",
    title="Network (solid, dash-dot) and its linearization (dotted)",
)
ax_curve.legend(fontsize=9, ncol=2)

for name, color in [("prediction", "tab:purple")]:
    slope, intercept = fits[name]
    ax_gap.loglog(widths, gaps[name], "o", color=color, label=f"{name} gap")
    ax_gap.loglog(
        widths,
        np.exp(intercept) * widths**slope,
        "-",
        color=color,
        alpha=0.6,
        label=f"fit: slope {slope:+.2f}",
    )
    ax_gap.loglog(widths, gaps[name][0] * (widths / widths[0]) ** -0.5, "k--", linewidth=1)
ax_gap.plot([], [], "k--", linewidth=1, label="bound: slope -1/2")
ax_gap.set_xticks(widths, [str(w) for w in WIDTHS], minor=False)
ax_gap.tick_params(axis="x", which="minor", bottom=False, labelbottom=False)
ax_gap.set(
    xlabel="width n",
    ylabel="RMS of f_T − f_lin,T on the test grid",
    title="Network minus linearization, end of training",
)
ax_gap.legend(fontsize=10)
fig.suptitle(f"Linearized networks (Lee et al. 2019): SGD, momentum {MOMENTUM}, {STEPS} steps")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "steps": STEPS,
    "widest": WIDTHS[-1],
    "start_gap": float(start_gap),
    "prediction_gap_slope": fits["prediction"][0],
    "prediction_gap_narrowest": float(gaps["prediction"][0]),
    "prediction_gap_widest": float(gaps["prediction"][-1]),
    "prediction_gap_monotone": bool(np.all(np.diff(gaps["prediction"]) < 0)),
    "final_train_loss_widest": float(curves["network", "train"][width_of == WIDTHS[-1], -1].mean()),
    "final_test_loss_widest": float(curves["network", "test"][width_of == WIDTHS[-1], -1].mean()),
    "final_test_loss_lin_widest": float(
        curves["taylor", "test"][width_of == WIDTHS[-1], -1].mean()
    ),
}
for key, value in SUMMARY.items():
    print(f"{key:>28s}: {value:.4g}" if isinstance(value, float) else f"{key:>28s}: {value}")
