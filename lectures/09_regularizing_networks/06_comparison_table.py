"""
The comparison table: seven ways to train the overfitting MLP, three seeds each
===============================================================================

No regularization, L2, dropout, batch normalization, early stopping, data augmentation and a
combination, each trained from three seeds on lecture 03's 300 digits, compared by their
validation accuracy as mean and standard deviation over the seeds.

The figure shows, per method, the best validation accuracy reached during training and the
validation accuracy of the model the method hands back at the end (for early stopping: the
restored weights), each as the mean over the seeds with a bar of one standard deviation, and
the final validation cross-entropy. Look at the spread: with 360 validation digits one digit
is 0.28 %, so differences smaller than the error bars are not evidence.

Try:
- Set `WIDTH = 512` (lecture 03's network; about three times slower): does the ranking change?
- Add a row for AdamW (`keras.optimizers.AdamW(LEARNING_RATE, weight_decay=...)`).
- Use five seeds: how much do the standard deviations shrink?
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

N_TRAIN = 300  # lecture 03's data, Adam 1e-3, full batch
WIDTH = 256  # half of lecture 03's width, so that 21 trainings fit in a lecture
LEARNING_RATE = 1e-3
SEEDS = [SEED + k for k in range(2 if SMOKE else 3)]
EPOCHS = 10 if SMOKE else 120
EVERY = 10  # validate every EVERY epochs
L2_PENALTY = 3e-4
DROPOUT_RATE = 0.5
NOISE_STD = 0.2  # augmentation: Gaussian noise on the pixels, as in script 05
PATIENCE = 10  # early stopping

# %% [markdown]
# ## Data
# One split for all runs (the seeds change the initial weights and the random masks and noise,
# not the data), as cached full batches. One Keras epoch of `train_data` is `EVERY` full-batch
# steps, so Keras validates every `EVERY` steps without any extra cost per step.

# %%
keras.utils.set_random_seed(SEED)
split = load_digits(n_train=N_TRAIN, seed=SEED)
one_batch = tf.data.Dataset.from_tensor_slices((split.x_train, split.y_train)).batch(N_TRAIN)
one_batch = one_batch.cache()
train_data = one_batch.repeat(EVERY)
val_data = tf.data.Dataset.from_tensor_slices((split.x_val, split.y_val)).batch(len(split.x_val))
val_data = val_data.cache()

# %% [markdown]
# ## The methods
# All share the 2-hidden-layer ReLU MLP and Adam; each changes one thing (the combination
# three):
#
# | method | change |
# |---|---|
# | L2 | `kernel_regularizer=L2(3e-4)` on every kernel: loss $+\ \lambda\sum\|W\|_F^2$ |
# | dropout | `Dropout(0.5)` after each hidden layer |
# | batch normalization | `Dense(use_bias=False) -> BatchNormalization(momentum=0.9) -> ReLU` |
# | early stopping | `EarlyStopping(patience=10, restore_best_weights=True)` on `val_loss` |
# | augmentation | `GaussianNoise(0.2)` on the pixels (training only) |
# | combination | batch normalization + augmentation |
#
# Batch normalization uses momentum 0.9 instead of Keras' 0.99: with only 120 full-batch
# steps, moving averages with momentum 0.99 would still hold $0.99^{120} \approx 30\,\%$ of
# their initial values at the end (script 04), and inference would use wrong statistics.

# %%
METHODS = {  # name: (options of `build`, stop early?)
    "none": ({}, False),
    "L2": ({"penalty": L2_PENALTY}, False),
    "dropout": ({"rate": DROPOUT_RATE}, False),
    "batch norm": ({"batch_norm": True}, False),
    "early stopping": ({}, True),
    "augmentation": ({"noise": NOISE_STD}, False),
    "combination": ({"batch_norm": True, "noise": NOISE_STD}, False),
}


def build(penalty=0.0, rate=0.0, batch_norm=False, noise=0.0):
    regularizer = keras.regularizers.L2(penalty) if penalty > 0 else None
    layers = [keras.Input(shape=(64,))]
    if noise > 0:
        layers.append(keras.layers.GaussianNoise(noise))
    for _ in range(2):
        layers.append(
            keras.layers.Dense(WIDTH, use_bias=not batch_norm, kernel_regularizer=regularizer)
        )
        if batch_norm:
            layers.append(keras.layers.BatchNormalization(momentum=0.9))
        layers.append(keras.layers.Activation("relu"))
        if rate > 0:
            layers.append(keras.layers.Dropout(rate))
    layers.append(keras.layers.Dense(10, activation="softmax", kernel_regularizer=regularizer))
    return keras.Sequential(layers)


# %% [markdown]
# ## Training: one compiled model per architecture, re-initialized for each run
# Compiling (tracing the training step) costs about half a second per model, as much as a
# whole training run here. So each architecture is compiled once (early stopping shares the
# plain network); for each run the model gets the initial weights of a freshly built twin
# (`set_weights`) and a zeroed optimizer state: the state of a new model, without a new
# compilation. `steps_per_execution=EVERY` runs the `EVERY` steps of one Keras epoch in one
# call.


# %%
def restart(model, options, seed):
    keras.utils.set_random_seed(seed)
    model.set_weights(build(**options).get_weights())  # fresh initial weights
    for variable in model.optimizer.variables:  # Adam's step count and moment estimates
        if "learning_rate" not in variable.path:
            variable.assign(np.zeros(variable.shape, variable.dtype))


compiled = {}  # architecture -> compiled model


def compiled_model(options):
    key = tuple(sorted(options.items()))
    if key not in compiled:
        compiled[key] = build(**options)
        compiled[key].compile(
            optimizer=keras.optimizers.Adam(LEARNING_RATE),
            loss="sparse_categorical_crossentropy",
            metrics=[keras.metrics.SparseCategoricalCrossentropy(name="cross_entropy"), "accuracy"],
            steps_per_execution=EVERY,
        )
    return compiled[key]


results = {}  # method -> list over seeds of (best accuracy, final accuracy, final loss)
for method, (options, stop_early) in METHODS.items():
    model = compiled_model(options)
    results[method] = []
    for seed in SEEDS:
        restart(model, options, seed)
        if stop_early:  # validate after every step, stop, restore the best weights
            callback = keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=PATIENCE, restore_best_weights=True
            )
            history = model.fit(
                one_batch,
                epochs=EPOCHS,
                validation_data=val_data,
                callbacks=[callback],
                verbose=0,
                shuffle=False,
            ).history
        else:
            history = model.fit(
                train_data,
                epochs=EPOCHS // EVERY,
                validation_data=val_data,
                verbose=0,
                shuffle=False,
            ).history
        if stop_early:  # the restored model is what early stopping returns
            scores = model.evaluate(val_data, verbose=0, return_dict=True)
            final_loss, final_accuracy = scores["cross_entropy"], scores["accuracy"]
            best_accuracy = final_accuracy
        else:  # the last validation was made with the final weights
            final_loss = history["val_cross_entropy"][-1]
            final_accuracy = history["val_accuracy"][-1]
            best_accuracy = max(history["val_accuracy"])
        results[method].append((best_accuracy, final_accuracy, final_loss))
    print(f"{method:>15s}: " + ", ".join(f"{r[1]:.3f}" for r in results[method]))

table = {method: np.array(values) for method, values in results.items()}  # (seeds, 3)
mean = {method: values.mean(axis=0) for method, values in table.items()}
std = {method: values.std(axis=0, ddof=1) for method, values in table.items()}

# %% [markdown]
# ## The table
# Mean $\pm$ standard deviation over the seeds (sample standard deviation, $n-1$).

# %%
print(
    f"\n{'method':>15s} | {'best val. accuracy':>18s} | {'final val. accuracy':>19s} | "
    f"{'final val. loss':>15s}"
)
print("-" * 78)
for method in METHODS:
    m, s = mean[method], std[method]
    print(
        f"{method:>15s} | {m[0]:8.3f} ± {s[0]:.3f}    | {m[1]:9.3f} ± {s[1]:.3f}    | "
        f"{m[2]:7.3f} ± {s[2]:.3f}"
    )

# %% [markdown]
# ## Figure: the table with error bars

# %%
use_course_style()
fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(14, 5.8), width_ratios=[1.5, 1])
positions = np.arange(len(METHODS))
names = list(METHODS)
labels = [name if name != "combination" else "combination\n(BN + aug.)" for name in names]
for column, offset, marker, label in [
    (0, -0.12, "o", "best during training"),
    (1, 0.12, "s", "returned model (final or restored)"),
]:
    ax_acc.errorbar(
        positions + offset,
        [mean[m][column] for m in names],
        yerr=[std[m][column] for m in names],
        fmt=marker,
        markersize=9,
        capsize=6,
        linewidth=2,
        label=label,
    )
ax_acc.set(
    xticks=positions,
    ylabel="validation accuracy",
    title=f"Validation accuracy, mean ± sd over {len(SEEDS)} seeds",
)
ax_acc.set_xticklabels(labels, rotation=25, ha="right")
ax_acc.legend(loc="upper left")
ax_acc.set_ylim(top=ax_acc.get_ylim()[1] + 0.005)  # room for the legend

ax_loss.bar(
    positions,
    [mean[m][2] for m in names],
    0.6,
    yerr=[std[m][2] for m in names],
    capsize=5,
    color="tab:green",
)
ax_loss.set(
    xticks=positions,
    ylabel="validation cross-entropy",
    title="Validation loss of the returned model",
)
ax_loss.set_xticklabels(labels, rotation=25, ha="right")
fig.suptitle(
    f"Regularizing a {WIDTH}-unit MLP on {N_TRAIN} digits ({EPOCHS} full-batch epochs, Adam)"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {"seeds": len(SEEDS), "epochs": EPOCHS}
for method in METHODS:
    key = method.replace(" ", "_")
    SUMMARY[f"{key}_best_acc_mean"] = float(mean[method][0])
    SUMMARY[f"{key}_final_acc_mean"] = float(mean[method][1])
    SUMMARY[f"{key}_final_acc_std"] = float(std[method][1])
    SUMMARY[f"{key}_final_loss_mean"] = float(mean[method][2])
for key, value in SUMMARY.items():
    print(f"{key:>32s}: {value:.4g}" if isinstance(value, float) else f"{key:>32s}: {value}")
