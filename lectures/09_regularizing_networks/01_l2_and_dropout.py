"""
L2 and dropout against memorization: the overfitting MLP of lecture 03, regularized
===================================================================================

The 2x512 ReLU network of lecture 03 memorizes 300 digits and its validation loss climbs;
dropout on the hidden units, alone or with an L2 penalty on the weights, keeps the validation
loss lower, while the L2 penalty alone, under Adam, shrinks the weights but does not lower the
validation loss for every seed.

The left panel shows the validation cross-entropy against the epoch for the four networks
(same data, same initial weights, same optimizer). The right panel shows the histogram of the
weights of the second hidden layer at the end: L2 pulls them towards zero, dropout leaves them
spread. Look at the curve without regularization: it passes its minimum early and climbs; the
curves with dropout stay lower. The final validation loss is read as the mean over the last
`FINAL_WINDOW` epochs: with dropout the curve jitters from one validation to the next.

Try:
- Raise `L2_PENALTY` to 1e-2: the network underfits. Where is the validation loss now?
- Set `DROPOUT_RATE = 0.2` or `0.8`: which rate helps most here?
- Train twice as long (`EPOCHS = 400`): which curves keep climbing?
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

N_TRAIN = 300  # lecture 03's setting: 300 digits, 2 x 512 ReLU, Adam 1e-3, full batch
WIDTH = 512
LEARNING_RATE = 1e-3
EPOCHS = 2 if SMOKE else 200
EVERY = 1 if SMOKE else 5  # validate every EVERY epochs
FINAL_WINDOW = 2 if SMOKE else 50  # the final validation loss: mean over the last 50 epochs
L2_PENALTY = 3e-4  # lam in Keras' L2(lam), on every kernel
DROPOUT_RATE = 0.5  # after each hidden layer

# %% [markdown]
# ## Data
# Lecture 03's 300 training digits and 360 validation digits, each as one cached batch: with a
# `tf.data` pipeline Keras does not re-wrap the NumPy arrays at every epoch. The training batch
# is repeated `EVERY` times, so one Keras "epoch" is `EVERY` full-batch steps (run in one
# compiled call, `steps_per_execution`), followed by one validation.

# %%
keras.utils.set_random_seed(SEED)
split = load_digits(n_train=N_TRAIN, seed=SEED)
train_data = tf.data.Dataset.from_tensor_slices((split.x_train, split.y_train)).batch(N_TRAIN)
val_data = tf.data.Dataset.from_tensor_slices((split.x_val, split.y_val)).batch(len(split.x_val))
train_data, val_data = train_data.cache().repeat(EVERY), val_data.cache()

# %% [markdown]
# ## Four networks
# * **L2:** the loss becomes $\hat R(\theta) + \lambda\sum_\ell \|W_\ell\|_F^2$ (kernels only,
#   no factor $\tfrac12$). Its gradient adds $2\lambda W_\ell$: every step pulls the weights
#   towards zero.
# * **Dropout** (inverted): during training each hidden unit is kept with probability
#   $1-p$ and, if kept, divided by $1-p$, so $h \mapsto h \odot m/(1-p)$ with
#   $m_j \sim \mathrm{Bernoulli}(1-p)$; at inference nothing happens. No unit can rely on
#   another being present.
#
# Keras reports `loss` and `val_loss` *including* the penalty $\lambda\sum\|W\|^2$; to compare
# the networks on what matters, the validation cross-entropy is tracked as a separate metric.

# %%
CONFIGS = {
    "none": (0.0, 0.0),
    "L2": (L2_PENALTY, 0.0),
    "dropout": (0.0, DROPOUT_RATE),
    "L2 + dropout": (L2_PENALTY, DROPOUT_RATE),
}


def make_model(penalty, rate):
    regularizer = keras.regularizers.L2(penalty) if penalty > 0 else None
    layers = [keras.Input(shape=(64,))]
    for _ in range(2):
        layers.append(keras.layers.Dense(WIDTH, activation="relu", kernel_regularizer=regularizer))
        if rate > 0:
            layers.append(keras.layers.Dropout(rate))
    layers.append(keras.layers.Dense(10, activation="softmax", kernel_regularizer=regularizer))
    model = keras.Sequential(layers)
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
        metrics=[keras.metrics.SparseCategoricalCrossentropy(name="cross_entropy"), "accuracy"],
        steps_per_execution=EVERY,
    )
    return model


histories, kernels = {}, {}
for name, (penalty, rate) in CONFIGS.items():
    keras.utils.set_random_seed(SEED)  # the same initial weights for all four
    model = make_model(penalty, rate)
    history = model.fit(
        train_data,
        epochs=EPOCHS // EVERY,
        validation_data=val_data,
        verbose=0,
        shuffle=False,
    )
    histories[name] = history.history
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    kernels[name] = [layer.kernel.numpy() for layer in dense]

# %% [markdown]
# The validation loss of a network trained with dropout jitters from one validation to the
# next (its weights move with the random masks, by about $\pm 0.01$ here), so a single last
# value is a noisy reading of where the curve ends. The *final validation loss* below is the
# mean over the validations of the last `FINAL_WINDOW` epochs.

# %%
val_epochs = np.arange(EVERY, EPOCHS + 1, EVERY)
last = val_epochs > EPOCHS - FINAL_WINDOW
final_val = {
    name: float(np.mean(np.array(h["val_cross_entropy"])[last])) for name, h in histories.items()
}
for name, value in final_val.items():
    print(f"{name:>13s}: final validation cross-entropy {value:.3f}")
norm = {name: float(np.sqrt(sum((k**2).sum() for k in ks))) for name, ks in kernels.items()}

# %% [markdown]
# ## Figure: the gap, closed

# %%
use_course_style()
fig, (ax_val, ax_hist) = plt.subplots(1, 2, figsize=(14, 5.6))
for name, h in histories.items():
    ax_val.plot(val_epochs, h["val_cross_entropy"], label=f"{name} (final {final_val[name]:.3f})")
ax_val.set(
    xlabel="epoch",
    ylabel="validation cross-entropy",
    ylim=(
        0.8 * min(min(h["val_cross_entropy"]) for h in histories.values()),
        1.2 * max(final_val.values()),
    ),
    title="Validation loss: memorization vs regularization",
)
ax_val.axvspan(
    EPOCHS - FINAL_WINDOW, EPOCHS, color="gray", alpha=0.1, label="averaged into the final value"
)
ax_val.legend()

largest = max(np.abs(ks[1]).max() for ks in kernels.values())
bins = np.linspace(-largest, largest, 121)
for name, ks in kernels.items():
    ax_hist.hist(
        ks[1].ravel(),
        bins=bins,
        histtype="step",
        linewidth=2,
        label=rf"{name} (all kernels: $\|W\|_F$ = {norm[name]:.1f})",
    )
ax_hist.set(
    yscale="log",
    xlabel="weight of the second hidden layer",
    ylabel="count (log scale)",
    title=f"Weights after {EPOCHS} epochs",
)
ax_hist.legend(fontsize=10, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.14))
fig.suptitle(
    f"L2 ($\\lambda$ = {L2_PENALTY:g}) and dropout ($p$ = {DROPOUT_RATE:g}) on "
    f"{N_TRAIN} digits, {WIDTH}-unit MLP"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "epochs": EPOCHS,
    "final_val_loss_none": float(final_val["none"]),
    "final_val_loss_l2": float(final_val["L2"]),
    "final_val_loss_dropout": float(final_val["dropout"]),
    "final_val_loss_both": float(final_val["L2 + dropout"]),
    "final_window": FINAL_WINDOW,
    "min_val_loss_none": float(np.min(histories["none"]["val_cross_entropy"])),
    "weight_norm_none": norm["none"],
    "weight_norm_l2": norm["L2"],
    "weight_norm_dropout": norm["dropout"],
    "final_val_accuracy_none": float(histories["none"]["val_accuracy"][-1]),
    "final_val_accuracy_both": float(histories["L2 + dropout"]["val_accuracy"][-1]),
}
for key, value in SUMMARY.items():
    print(f"{key:>24s}: {value:.4g}" if isinstance(value, float) else f"{key:>24s}: {value}")
