"""
A custom layer and a custom model that save and load
====================================================

A low-rank dense layer (weight matrix W = U V of rank at most r) written by subclassing
`keras.layers.Layer`, an MLP built from it by subclassing `keras.Model`, and the
`get_config` / `from_config` pair that lets `model.save` and `keras.models.load_model` round-trip
both exactly.

The figure shows, left, the singular values of the trained weight matrices W = U V of the two
low-rank layers: exactly r of them are nonzero, the rest sit at the float32 rounding level; and,
right, every output of the reloaded model against the same output of the original one. Look for
the cliff after the r-th singular value, and for the points lying on the diagonal with a
difference of exactly zero.

Try:
- Set `RANK = 64`: the cliff moves; how does the parameter count compare with a Dense layer?
- Delete `get_config` from `LowRankMLP`, then from `LowRankDense`: which save fails, and why
  does the other one still work?
- Add an argument (say `use_bias`) to `LowRankDense`, and to its `get_config`.
"""

# %%
import os
import tempfile
from pathlib import Path

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_digits
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed. The saved
# model goes to `OUTPUT_DIR`: the folder named by `MMA440_OUTPUT_DIR`, or else a fresh
# temporary folder (printed below).

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))
OUTPUT_DIR = Path(os.environ.get("MMA440_OUTPUT_DIR") or tempfile.mkdtemp(prefix="mma440_"))

HIDDEN_UNITS = (256, 128)
RANK = 8  # rank bound r of every hidden weight matrix
L2 = 1e-4  # strength of the L2 penalty on the factors U and V (a loss term, not weight decay)
DROPOUT = 0.1
LEARNING_RATE = 3e-3
BATCH_SIZE = 64
EPOCHS = 2 if SMOKE else 30

OUTPUT_DIR = OUTPUT_DIR.resolve()
OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
print(f"Output folder: {OUTPUT_DIR}")

# %% [markdown]
# ## The custom layer
# `LowRankDense(units, rank)` computes $y = \sigma(x U V + b)$ with $U \in \mathbb R^{d \times r}$
# and $V \in \mathbb R^{r \times m}$, so the weight matrix $W = UV$ has rank at most $r$ and
# $r(d + m) + m$ parameters instead of $dm + m$.
#
# Initialization: with $U_{ij} \sim (0, 1/d)$ and $V_{jk} \sim (0, 2/r)$ independent,
# $\operatorname{Var}(W_{ik}) = \sum_{j=1}^r \operatorname{Var}(U_{ij})\operatorname{Var}(V_{jk})
# = r \cdot \frac1d \cdot \frac2r = \frac2d$, He's variance for a ReLU layer.
# Keras' `VarianceScaling(scale, "fan_in")` draws a matrix of shape (a, b) with variance
# scale / a, which gives both.
#
# The L2 penalty on the factors, $\lambda(\lVert U\rVert_F^2 + \lVert V\rVert_F^2)$ (Keras'
# `l2(lam)` adds $\lambda \sum w^2$, no 1/2), is a penalty on $W$ itself: the smallest value of
# $\lVert U\rVert_F^2 + \lVert V\rVert_F^2$ over all factorizations $W = UV$ is
# $2\lVert W\rVert_*$, twice the nuclear norm (the sum of the singular values). It is a term of
# the loss, not weight decay: under Adam the penalty's gradient $2\lambda U$ is divided by
# $\sqrt{\hat v}$ like the rest of the gradient, whereas decoupled weight decay
# (`keras.optimizers.AdamW`) shrinks the weights directly (Loshchilov and Hutter, 2019).
#
# The three methods a custom layer needs: `build` creates the weights once the input size
# $d$ is known, `call` is the computation, `get_config` returns the constructor arguments as
# plain values (strings, numbers, lists, dicts), so that `from_config(get_config())` builds
# the same layer again. The default `from_config(config)` is `cls(**config)`.
# `register_keras_serializable` records the class under a name, so `load_model` finds it.


# %%
@keras.saving.register_keras_serializable(package="mma440")
class LowRankDense(keras.layers.Layer):
    """Dense layer with a factored weight matrix: y = activation(x @ U @ V + b)."""

    def __init__(self, units, rank, activation=None, factor_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.rank = rank
        self.activation = keras.activations.get(activation)
        self.factor_regularizer = keras.regularizers.get(factor_regularizer)

    def build(self, input_shape):
        d = input_shape[-1]
        self.u = self.add_weight(
            shape=(d, self.rank),
            initializer=keras.initializers.VarianceScaling(1.0, "fan_in"),
            regularizer=self.factor_regularizer,
            name="u",
        )
        self.v = self.add_weight(
            shape=(self.rank, self.units),
            initializer=keras.initializers.VarianceScaling(2.0, "fan_in"),
            regularizer=self.factor_regularizer,
            name="v",
        )
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, x):
        # (x U) V costs r(d + m) multiplications per example, x (U V) would cost d m.
        return self.activation(keras.ops.matmul(keras.ops.matmul(x, self.u), self.v) + self.bias)

    def get_config(self):
        return {
            **super().get_config(),  # name, trainable, dtype
            "units": self.units,
            "rank": self.rank,
            "activation": keras.activations.serialize(self.activation),
            "factor_regularizer": keras.regularizers.serialize(self.factor_regularizer),
        }


# %% [markdown]
# ## The custom model
# A subclassed `keras.Model` creates its layers in `__init__` and says how to use them in
# `call`; the `training` flag switches dropout on during `fit` only. Its `get_config` returns
# the constructor arguments again. The default `from_config(config)`, `cls(**config)`, is
# overridden when the constructor cannot take the saved config as it is. Here: JSON, the format
# of the saved config, has no tuples, so `hidden_units` comes back as a list and `from_config`
# turns it back into a tuple; without it the reloaded model would still work, but its config
# would differ from the original's.


# %%
@keras.saving.register_keras_serializable(package="mma440")
class LowRankMLP(keras.Model):
    """Classifier: LowRankDense + ReLU + dropout per hidden layer, then a Dense layer of logits."""

    def __init__(self, hidden_units, rank, num_classes, dropout=0.0, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = hidden_units
        self.rank = rank
        self.num_classes = num_classes
        self.dropout_rate = dropout
        self.l2 = l2
        regularizer = keras.regularizers.L2(l2) if l2 > 0 else None
        self.hidden = [
            LowRankDense(units, rank, activation="relu", factor_regularizer=regularizer)
            for units in self.hidden_units
        ]
        self.dropout = keras.layers.Dropout(dropout)
        self.logits = keras.layers.Dense(num_classes)

    def call(self, x, training=False):
        for layer in self.hidden:
            x = self.dropout(layer(x), training=training)
        return self.logits(x)

    def get_config(self):
        return {
            **super().get_config(),  # name, trainable, dtype
            "hidden_units": self.hidden_units,
            "rank": self.rank,
            "num_classes": self.num_classes,
            "dropout": self.dropout_rate,
            "l2": self.l2,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, "hidden_units": tuple(config["hidden_units"])})


# %% [markdown]
# ## Data and training
# The 8x8 digits; the model outputs logits, so the loss is the cross-entropy `from_logits`.

# %%
keras.utils.set_random_seed(SEED)
split = load_digits(seed=SEED)
model = LowRankMLP(HIDDEN_UNITS, RANK, num_classes=10, dropout=DROPOUT, l2=L2, name="low_rank_mlp")
model.compile(
    optimizer=keras.optimizers.Adam(LEARNING_RATE),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)
history = model.fit(
    split.x_train,
    split.y_train,
    batch_size=BATCH_SIZE,
    epochs=EPOCHS,
    validation_data=(split.x_val, split.y_val),
    verbose=0,
)
_, test_accuracy = model.evaluate(split.x_test, split.y_test, verbose=0)
d = split.x_train.shape[1]
print(f"test accuracy {test_accuracy:.4f}, {model.count_params():,} parameters")
for layer in model.hidden:
    full = layer.u.shape[0] * layer.units + layer.units
    print(f"{layer.name}: {layer.count_params():,} parameters (a Dense layer would have {full:,})")

# %% [markdown]
# ## Does the layer compute what it says?
# An independent check in NumPy, on the trained weights: $\max(0, xUV + b)$.

# %%
first = model.hidden[0]
u, v, b = (keras.ops.convert_to_numpy(w) for w in (first.u, first.v, first.bias))
layer_numpy = np.maximum(split.x_test @ u @ v + b, 0.0)
layer_keras = keras.ops.convert_to_numpy(first(split.x_test))
layer_max_abs_diff = float(np.max(np.abs(layer_keras - layer_numpy)))
weights = [keras.ops.convert_to_numpy(keras.ops.matmul(layer.u, layer.v)) for layer in model.hidden]
singular_values = [np.linalg.svd(w, compute_uv=False) for w in weights]
# Numerical rank: singular values above the float32 rounding level of the largest one.
numerical_ranks = [
    int(np.sum(s > s[0] * max(w.shape) * np.finfo(np.float32).eps))
    for s, w in zip(singular_values, weights, strict=True)
]
print(f"Keras vs NumPy layer output: max |difference| {layer_max_abs_diff:.2g}")
print(f"numerical ranks of W = U V: {numerical_ranks} (bound r = {RANK})")

# %% [markdown]
# ## Save, load, compare
# `model.save` stores the config from `get_config`, the weights and the optimizer state in one
# `.keras` file. `load_model` finds the registered class, calls its `from_config`, builds the
# model and loads the weights. The reloaded model must give the same outputs, bit for bit.
#
# The subclassed model rebuilds its layers in `__init__`, so its round trip never calls the
# layer's `get_config`. A `Sequential` model made of the same trained layers does: it saves
# each layer's config and rebuilds each `LowRankDense` by `from_config`. (Without dropout it
# computes `model(x, training=False)`.)

# %%
path = OUTPUT_DIR / "low_rank_mlp.keras"
model.save(path)
reloaded = keras.models.load_model(path)
outputs = model.predict(split.x_test, verbose=0)
reloaded_outputs = reloaded.predict(split.x_test, verbose=0)
max_abs_output_diff = float(np.max(np.abs(reloaded_outputs - outputs)))
config_equal = reloaded.get_config() == model.get_config()
print(f"reloaded: {type(reloaded).__name__}, same config: {config_equal}")
print(f"outputs differ by at most {max_abs_output_diff:g} (saved to {path})")

sequential = keras.Sequential([keras.Input(shape=(d,)), *model.hidden, model.logits])
sequential_path = OUTPUT_DIR / "low_rank_sequential.keras"
sequential.save(sequential_path)
sequential_reloaded = keras.models.load_model(sequential_path)
sequential_outputs = sequential_reloaded.predict(split.x_test, verbose=0)
print(
    f"Sequential of the same layers, reloaded: {type(sequential_reloaded.layers[0]).__name__} "
    f"layers, outputs differ by at most {np.max(np.abs(sequential_outputs - outputs)):g}"
)

# %% [markdown]
# ## Figure: the rank bound, and the round trip

# %%
use_course_style()
fig, (ax_sv, ax_round) = plt.subplots(1, 2, figsize=(13, 5.4))
N_SHOWN = 4 * RANK  # singular values shown per layer
for layer, s in zip(model.hidden, singular_values, strict=True):
    ax_sv.semilogy(
        np.arange(1, N_SHOWN + 1),
        s[:N_SHOWN] / s[0],
        "o-",
        markersize=5,
        label=f"{layer.name}: W is {layer.u.shape[0]}x{layer.units}",
    )
ax_sv.axvline(RANK + 0.5, color="gray", linestyle="--", label=f"rank bound r = {RANK}")
ax_sv.axhline(
    np.finfo(np.float32).eps, color="black", linestyle=":", label="float32 rounding, $2^{-23}$"
)
ax_sv.set(
    xlabel="index i",
    ylabel="$s_i / s_1$ (log scale)",
    title="Singular values of W = U V: r of them are nonzero",
)
ax_sv.legend()

ax_round.plot(outputs.ravel(), reloaded_outputs.ravel(), ".", alpha=0.4)
low, high = outputs.min(), outputs.max()
ax_round.plot([low, high], [low, high], color="gray", linestyle="--", label="identity")
ax_round.set(
    xlabel="logit of the original model",
    ylabel="logit of the reloaded model",
    title=f"After save and load: max |difference| = {max_abs_output_diff:g}",
)
ax_round.legend()
fig.suptitle(
    f"Custom layer and model: {model.count_params():,} parameters, "
    f"test accuracy {test_accuracy:.3f}"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "test_accuracy": float(test_accuracy),
    "rank_bound": RANK,
    "numerical_rank_layer_1": numerical_ranks[0],
    "numerical_rank_layer_2": numerical_ranks[1],
    "input_dim": d,
    "hidden_units_1": HIDDEN_UNITS[0],
    "params_layer_1": first.count_params(),
    "layer_max_abs_diff_numpy": layer_max_abs_diff,
    "reloaded_class": type(reloaded).__name__,
    "reloaded_layer_class": type(reloaded.hidden[0]).__name__,
    "config_equal": config_equal,
    "max_abs_output_diff": max_abs_output_diff,
    "outputs_identical": bool(np.array_equal(reloaded_outputs, outputs)),
    "sequential_layer_class": type(sequential_reloaded.layers[0]).__name__,
    "sequential_outputs_identical": bool(np.array_equal(sequential_outputs, outputs)),
}
for key, value in SUMMARY.items():
    print(f"{key:>28s}: {value:.4g}" if isinstance(value, float) else f"{key:>28s}: {value}")
