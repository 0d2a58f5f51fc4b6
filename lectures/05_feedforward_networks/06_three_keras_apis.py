"""
Three Keras APIs, one network: Sequential, Functional and a subclassed Model
============================================================================

The same feed-forward network (4 -> 16 -> 8 -> 3 on the iris flowers) is built three times, with
`keras.Sequential`, with the functional API and as a subclass of `keras.Model`; with the weights
copied from one to the others, all three compute identical outputs, and each has exactly
sum((n_in + 1) * n_out) parameters.

The figure has two panels. Left: the parameter count of each layer, from the formula and as
reported by each of the three models. Right: the class probabilities computed by the functional
and the subclassed model against those of the sequential one, first with their own random
initial weights (scattered) and then after copying the sequential model's trained weights
(exactly on the diagonal).

Try:
- Add a `keras.layers.Dropout(0.5)` after the first hidden layer in all three: are the outputs
  still identical in `predict`? And with `model(x, training=True)`?
- Give the functional model a second output (e.g. the first hidden layer): which API makes
  that easy, and which cannot express it?
- Change `LAYER_SIZES` and check the parameter formula again.
"""

# %%
import os
from itertools import pairwise

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_iris
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

LAYER_SIZES = (4, 16, 8, 3)  # input, two hidden layers, output (iris: 4 features, 3 classes)
LEARNING_RATE = 0.01
EPOCHS = 10 if SMOKE else 200  # full-batch Adam steps for the sequential model

# %% [markdown]
# ## Data
# The 150 iris flowers, standardized, split into train / validation / test.

# %%
keras.utils.set_random_seed(SEED)
split = load_iris(seed=SEED)
x_all = np.concatenate([split.x_train, split.x_val, split.x_test])
print(f"training {split.x_train.shape}, all flowers {x_all.shape}")

# %% [markdown]
# ## One network, three ways
# $h_1 = \mathrm{relu}(W_1^\top x + b_1)$, $h_2 = \mathrm{relu}(W_2^\top h_1 + b_2)$,
# $p = \mathrm{softmax}(W_3^\top h_2 + b_3)$, with $W_\ell \in \mathbb R^{n_{\ell-1} \times
# n_\ell}$ (Keras stores a `Dense` kernel as (inputs, outputs)).
#
# - **Sequential**: a list of layers, each feeding the next. The simplest, for a plain stack.
# - **Functional**: call layers on symbolic tensors, then `keras.Model(inputs, outputs)`. Any
#   directed acyclic graph of layers: several inputs or outputs, skip connections, shared layers.
# - **Subclassed**: create the layers in `__init__`, write the forward pass in `call`. Any
#   Python control flow; Keras sees the computation only by running it.

# %%
n_in, n_hidden_1, n_hidden_2, n_out = LAYER_SIZES


def build_sequential():
    return keras.Sequential(
        [
            keras.Input(shape=(n_in,)),
            keras.layers.Dense(n_hidden_1, activation="relu"),
            keras.layers.Dense(n_hidden_2, activation="relu"),
            keras.layers.Dense(n_out, activation="softmax"),
        ]
    )


def build_functional():
    inputs = keras.Input(shape=(n_in,))
    h = keras.layers.Dense(n_hidden_1, activation="relu")(inputs)
    h = keras.layers.Dense(n_hidden_2, activation="relu")(h)
    outputs = keras.layers.Dense(n_out, activation="softmax")(h)
    return keras.Model(inputs, outputs)


class SubclassedMLP(keras.Model):
    def __init__(self, hidden_1, hidden_2, n_classes, **kwargs):
        super().__init__(**kwargs)
        self.dense_1 = keras.layers.Dense(hidden_1, activation="relu")
        self.dense_2 = keras.layers.Dense(hidden_2, activation="relu")
        self.dense_3 = keras.layers.Dense(n_classes, activation="softmax")

    def call(self, x):
        return self.dense_3(self.dense_2(self.dense_1(x)))


keras.utils.set_random_seed(SEED)
sequential = build_sequential()
functional = build_functional()
subclassed = SubclassedMLP(n_hidden_1, n_hidden_2, n_out)
subclassed(x_all[:1])  # a subclassed model creates its weights when it is first called

# %% [markdown]
# ## Parameter count
# A `Dense` layer from $n_\text{in}$ to $n_\text{out}$ units has an
# $n_\text{in} \times n_\text{out}$ kernel and $n_\text{out}$ biases, so the network has
# $\sum_\ell (n_{\ell-1} + 1)\, n_\ell$ parameters.

# %%
formula_per_layer = [(a + 1) * b for a, b in pairwise(LAYER_SIZES)]
formula_total = sum(formula_per_layer)
models = {"Sequential": sequential, "Functional": functional, "Subclassed": subclassed}


def dense_layers(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


keras_per_layer = {
    name: [layer.count_params() for layer in dense_layers(model)] for name, model in models.items()
}
keras_total = {name: model.count_params() for name, model in models.items()}
print(f"formula: {formula_per_layer} -> {formula_total}")
for name in models:
    print(f"{name:>10s}: {keras_per_layer[name]} -> {keras_total[name]}")

# %% [markdown]
# ## Train one, copy its weights into the others
# The sequential model is trained briefly; `get_weights()` returns its kernels and biases in
# layer order, and `set_weights` loads that list into the other two models, whose layers have
# the same shapes in the same order. Outputs are compared by calling the models directly, the
# same operations on the same numbers, so they must agree bit for bit.

# %%
sequential.compile(
    optimizer=keras.optimizers.Adam(LEARNING_RATE),
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
# replaces sequential.fit(split.x_train, split.y_train, batch_size=len(split.x_train),
#     epochs=EPOCHS, validation_data=(split.x_val, split.y_val), verbose=0)
history = fit_fast(
    sequential,
    split.x_train,
    split.y_train,
    epochs=EPOCHS,
    every=EPOCHS,
    validation_data=(split.x_val, split.y_val),
    seed=SEED,
)


def outputs(model):
    return keras.ops.convert_to_numpy(model(x_all))


p_sequential = outputs(sequential)
p_before = {name: outputs(models[name]) for name in ("Functional", "Subclassed")}
for name in ("Functional", "Subclassed"):
    models[name].set_weights(sequential.get_weights())
p_after = {name: outputs(models[name]) for name in ("Functional", "Subclassed")}

diff_before = {name: float(np.max(np.abs(p - p_sequential))) for name, p in p_before.items()}
identical = {name: bool(np.array_equal(p, p_sequential)) for name, p in p_after.items()}
for name in p_after:
    print(
        f"{name}: max |difference| before copying {diff_before[name]:.3f}, "
        f"identical after copying: {identical[name]}"
    )

# %% [markdown]
# ## Figure: parameters per layer, and outputs before and after copying

# %%
use_course_style()
API_COLORS = {"Sequential": "tab:green", "Functional": "tab:blue", "Subclassed": "tab:orange"}
fig, (ax_params, ax_out) = plt.subplots(1, 2, figsize=(16, 6.2))
layer_names = [f"Dense {a}->{b}" for a, b in pairwise(LAYER_SIZES)]
positions = np.arange(len(layer_names))
bar_width = 0.2
ax_params.bar(
    positions - 1.5 * bar_width,
    formula_per_layer,
    bar_width,
    color="black",
    label="formula $(n_{in} + 1)\\,n_{out}$",
)
for i, name in enumerate(models):
    ax_params.bar(
        positions + (i - 0.5) * bar_width,
        keras_per_layer[name],
        bar_width,
        color=API_COLORS[name],
        label=f"{name}: {keras_total[name]} in total",
    )
for position, count in zip(positions, formula_per_layer, strict=True):
    ax_params.text(position, count + 3, str(count), ha="center")
ax_params.set_xticks(positions, layer_names)
ax_params.set(
    ylabel="parameters",
    ylim=(0, 1.2 * max(formula_per_layer)),
    title=f"Parameter count per layer (formula total {formula_total})",
)
ax_params.legend(fontsize=11)

markers = {"Functional": "o", "Subclassed": "s"}
for name in ("Functional", "Subclassed"):
    ax_out.scatter(
        p_sequential.ravel(),
        p_before[name].ravel(),
        s=16,
        alpha=0.35,
        marker=markers[name],
        color="gray",
        label=f"{name}, own initial weights",
    )
for name in ("Functional", "Subclassed"):
    ax_out.scatter(
        p_sequential.ravel(),
        p_after[name].ravel(),
        s=40 if name == "Functional" else 12,
        marker=markers[name],
        color=API_COLORS[name],
        label=f"{name}, weights copied: identical = {identical[name]}",
    )
ax_out.plot([0, 1], [0, 1], color="black", linewidth=1)
ax_out.set(
    xlabel="Sequential model: class probability",
    ylabel="other model: class probability",
    title=f"Outputs on all {len(x_all)} flowers x {n_out} classes",
    aspect="equal",
    xlim=(-0.02, 1.02),
    ylim=(-0.02, 1.02),
)
ax_out.legend(fontsize=10, loc="upper left")
fig.suptitle("Three Keras APIs build the same network: same parameters, same outputs")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "formula_parameters": formula_total,
    **{f"{name.lower()}_parameters": total for name, total in keras_total.items()},
    "parameter_counts_match": all(
        keras_per_layer[name] == formula_per_layer and keras_total[name] == formula_total
        for name in models
    ),
    "functional_identical": identical["Functional"],
    "subclassed_identical": identical["Subclassed"],
    "functional_diff_before_copy": diff_before["Functional"],
    "subclassed_diff_before_copy": diff_before["Subclassed"],
    "sequential_val_accuracy": float(history["val_accuracy"][-1]),
}
for key, value in SUMMARY.items():
    print(f"{key:>27s}: {value:.4g}" if isinstance(value, float) else f"{key:>27s}: {value}")
