"""
Weight decay versus L2: identical for SGD, different for Adam
=============================================================

With plain SGD, an L2 penalty `L2(lam)` in the loss and the optimizer's `weight_decay=2*lam`
produce the same weights step by step; with Adam they do not, because Adam rescales the
penalty's gradient per parameter while decoupled weight decay (AdamW) shrinks every weight at
the same rate.

The left panel shows, step by step, the largest difference between the weights trained with the
penalty in the loss and with weight decay: for SGD it stays at float64 rounding (about
1e-16), for Adam it grows to the size of the weights. The right panel shows why: the rate at
which Adam with an L2 penalty shrinks each weight, relative to AdamW's single rate, spread over
orders of magnitude.
Weights that receive little gradient from the data (for example those of pixels that are
always blank) are shrunk fastest.

Try:
- Give SGD momentum (`momentum=0.9`): is the identity still exact? Why not?
- Remove `exclude_from_weight_decay`: which regularizer do you then need to match SGD?
- Raise `PENALTY` tenfold: how do the final weight norms of Adam + L2 and AdamW compare?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_digits
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

N_TRAIN = 300
WIDTH = 128  # a smaller MLP than lecture 03's: the lesson is the update rule, not overfitting
PENALTY = 1e-3  # lam in Keras' L2(lam): the loss gains lam * sum(w**2)
STEPS = 3 if SMOKE else 150  # full-batch steps (one per epoch)
SGD_RATE = 0.1
ADAM_RATE = 1e-3

# %% [markdown]
# ## Data, in float64
# The identity below is exact in exact arithmetic. In float32 the two computations round
# differently (by about $10^{-8}$), and in a ReLU network such a difference can flip a unit that
# sits at the kink, after which the trajectories drift apart to about $10^{-3}$. In float64
# the rounding is $10^{-16}$ and the identity shows as it is. Keras' float type and its dtype
# policy (the type new layers compute and store in) are global: both are switched to float64
# for the four trainings only and set back once they are done, so that a script run after
# this one in the same Python process (a notebook kernel) gets float32 models as usual.
#
# The 300 training digits of lecture 03 form one cached full batch: with a `tf.data` pipeline
# Keras does not re-wrap the NumPy arrays at every epoch, so an epoch costs one step.

# %%
FLOATX, POLICY = keras.config.floatx(), keras.config.dtype_policy()  # restored below
keras.config.set_floatx("float64")
keras.config.set_dtype_policy("float64")
keras.utils.set_random_seed(SEED)
split = load_digits(n_train=N_TRAIN, seed=SEED)
train_data = tf.data.Dataset.from_tensor_slices((split.x_train.astype("float64"), split.y_train))
train_data = train_data.batch(N_TRAIN).cache()

# %% [markdown]
# ## The two update rules
# Keras' weight decay (`keras/src/optimizers/base_optimizer.py`, `_apply_weight_decay`) runs
# before the optimizer's own step, with the gradient $g = \nabla \hat R(w_t)$ already computed
# at $w_t$:
# $$w \leftarrow w - \eta\,\mathrm{wd}\, w, \qquad\text{then}\qquad w \leftarrow w - \eta\, g .$$
# So one SGD step with weight decay is $w_{t+1} = w_t - \eta\,(g + \mathrm{wd}\,w_t)$. The L2
# penalty $\lambda\|w\|^2$ adds $2\lambda w_t$ to the gradient:
# $w_{t+1} = w_t - \eta\,(g + 2\lambda w_t)$. The two are the same map exactly when
# $$\mathrm{wd} = 2\lambda ,$$
# with no learning-rate factor, because Keras multiplies the decay by the learning rate itself.
# Weight decay acts on every trainable variable unless excluded; the L2 penalty here is on the
# kernels only, so the biases are excluded from the decay by name.
#
# Adam divides the gradient, penalty included, by $\sqrt{\hat v} + \hat\varepsilon$ per
# parameter; AdamW applies the decay outside that division. They are different methods.


# %%
def make_model(regularizer=None):
    keras.utils.set_random_seed(SEED)  # the same initial weights for every model
    return keras.Sequential(
        [
            keras.Input(shape=(64,)),
            keras.layers.Dense(WIDTH, activation="relu", kernel_regularizer=regularizer),
            keras.layers.Dense(WIDTH, activation="relu", kernel_regularizer=regularizer),
            keras.layers.Dense(10, activation="softmax", kernel_regularizer=regularizer),
        ]
    )


def train(model, optimizer):
    """Full-batch training; returns the flattened weights after every step."""
    if optimizer.weight_decay is not None:
        optimizer.exclude_from_weight_decay(var_names=["bias"])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    flat = lambda: np.concatenate([w.ravel() for w in model.get_weights()])  # noqa: E731
    trajectory = [flat()]
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: trajectory.append(flat()))
    model.fit(train_data, epochs=STEPS, verbose=0, shuffle=False, callbacks=[record])
    return np.array(trajectory)


runs = {
    "SGD + L2": train(make_model(keras.regularizers.L2(PENALTY)), keras.optimizers.SGD(SGD_RATE)),
    "SGD, weight decay": train(
        make_model(), keras.optimizers.SGD(SGD_RATE, weight_decay=2 * PENALTY)
    ),
}
adam_model = make_model(keras.regularizers.L2(PENALTY))
adam = keras.optimizers.Adam(ADAM_RATE)
runs["Adam + L2"] = train(adam_model, adam)
runs["AdamW"] = train(make_model(), keras.optimizers.AdamW(ADAM_RATE, weight_decay=2 * PENALTY))
keras.config.set_floatx(FLOATX)  # the models above keep their float64 weights
keras.config.set_dtype_policy(POLICY)

sgd_gap = np.abs(runs["SGD + L2"] - runs["SGD, weight decay"]).max(axis=1)
adam_gap = np.abs(runs["Adam + L2"] - runs["AdamW"]).max(axis=1)
print(f"largest weight difference: SGD {sgd_gap.max():.1e}, Adam {adam_gap.max():.1e}")

# %% [markdown]
# ## Effective shrinkage per parameter under Adam + L2
# Keras' Adam step is $w \leftarrow w - \eta_t\, m/(\sqrt v + \varepsilon)$ with
# $\eta_t = \eta\sqrt{1-\beta_2^t}/(1-\beta_1^t)$. The part of $m$ that comes from the penalty
# is $(1-\beta_1^t)\,2\lambda w$ for a slowly varying $w$, so the penalty shrinks $w_i$ per step by
# the fraction
# $$s_i = \frac{2\eta\lambda}{\sqrt{\hat v_i} + \varepsilon/\sqrt{1-\beta_2^t}},\qquad
# \hat v_i = \frac{v_i}{1-\beta_2^t},$$
# while AdamW shrinks every weight by $\eta\,\mathrm{wd} = 2\eta\lambda$. The ratio
# $s_i/(2\eta\lambda)$ is read off Adam's second-moment estimates $v_i$ after training.

# %%
step = float(adam.iterations.numpy())
correction = 1 - adam.beta_2**step
velocities = [v.numpy() for v in adam.variables if v.name.endswith("kernel_velocity")]
v_hat = np.concatenate([v.ravel() for v in velocities]) / correction
relative_shrinkage = 1.0 / (np.sqrt(v_hat) + adam.epsilon / np.sqrt(correction))
quantiles = np.quantile(relative_shrinkage, [0.1, 0.5, 0.9])
print(
    f"Adam + L2 shrinks a weight {quantiles[0]:.3g} / {quantiles[1]:.3g} / {quantiles[2]:.3g} "
    "times as fast as AdamW (10 % / 50 % / 90 % quantiles)"
)

# %% [markdown]
# ## Figure: same map for SGD, different methods for Adam

# %%
use_course_style()
fig, (ax_gap, ax_rate) = plt.subplots(1, 2, figsize=(14, 5.6))
steps = np.arange(STEPS + 1)
ax_gap.semilogy(steps[1:], sgd_gap[1:], label=r"SGD: L2($\lambda$) vs weight_decay=$2\lambda$")
ax_gap.semilogy(steps[1:], adam_gap[1:], label=r"Adam + L2($\lambda$) vs AdamW($2\lambda$)")
ax_gap.axhline(1e-6, color="gray", linestyle=":", label="1e-6")
ax_gap.set(
    xlabel="full-batch step",
    ylabel="largest |weight difference| (log scale)",
    title="Penalty in the loss vs decay in the optimizer",
)
ax_gap.legend(loc="center right")

bins = np.logspace(np.log10(relative_shrinkage.min()), np.log10(relative_shrinkage.max()), 60)
ax_rate.hist(relative_shrinkage, bins=bins, color="tab:orange", label="Adam + L2, per weight")
ax_rate.axvline(1.0, color="tab:blue", linewidth=3, label="AdamW: every weight")
ax_rate.set(
    xscale="log",
    yscale="log",
    xlabel=r"shrinkage per step, relative to AdamW's $2\eta\lambda$ (log scale)",
    ylabel="number of kernel weights",
    title=f"Adam + L2 shrinks each weight at its own rate (after {STEPS} steps)",
)
ax_rate.legend()
fig.suptitle(
    rf"Weight decay vs L2 ($\lambda$ = {PENALTY:g}) on {N_TRAIN} digits, {WIDTH}-unit MLP, float64"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "steps": STEPS,
    "sgd_max_weight_difference": float(sgd_gap.max()),
    "adam_max_weight_difference": float(adam_gap.max()),
    "adam_relative_shrinkage_q10": float(quantiles[0]),
    "adam_relative_shrinkage_q90": float(quantiles[2]),
    "largest_weight": float(np.abs(runs["AdamW"][-1]).max()),
}
for key, value in SUMMARY.items():
    print(f"{key:>28s}: {value:.4g}" if isinstance(value, float) else f"{key:>28s}: {value}")
