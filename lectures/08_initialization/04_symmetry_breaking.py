"""
Symmetry breaking: a constant initializer trains a network of identical units
=============================================================================

An MLP whose weights all start at the same constant keeps every hidden unit of a layer
identical through training: its kernels stay of rank 1, and the network behaves like one with
a single unit per layer. Glorot's random initialization breaks the symmetry at step 0.

The figure shows the first-layer kernel after training as an image (one column per hidden
unit) for both initializers, its singular values on a log scale, and the training curves. With
the constant start all columns are the same column: one singular value, the others at the level
of rounding errors (or exactly zero), and an accuracy that stalls far below Glorot's.

Try:
- Add `keras.layers.Dropout(0.2)` after each hidden layer: the random masks break the symmetry.
- Initialize only the first kernel with the constant and the others with Glorot: does the
  first kernel stay rank 1?
- Set `CONSTANT = 0.0`: what do the hidden layers learn now?
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

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

HIDDEN = 32  # units in each of the two tanh hidden layers
CONSTANT = 0.05  # the value of every weight under the constant initializer
LEARNING_RATE = 1e-2
EPOCHS = 2 if SMOKE else 200
EVERY = 1 if SMOKE else 10  # record the curves every EVERY epochs (full batch: one step each)

# %% [markdown]
# ## Data
# The 8x8 digits bundled with scikit-learn, pixels in [0, 1].

# %%
keras.utils.set_random_seed(SEED)
split = load_digits(seed=SEED)
print(f"training {split.x_train.shape}, validation {split.x_val.shape}")

# %% [markdown]
# ## Why the symmetry survives training
# Let $P$ permute the units of a hidden layer: it permutes the columns of the kernel $W_1$ and
# the entries of the bias $b_1$ of that layer, and the rows of the next kernel $W_2$. The network
# computes the same function for $\theta$ and $P\theta$, so $L(P\theta) = L(\theta)$, and by the
# chain rule $\nabla L(P\theta) = P\,\nabla L(\theta)$. If $P\theta = \theta$ for every $P$ (all
# units identical), then $P \nabla L(\theta) = \nabla L(\theta)$: the gradient is symmetric too,
# and so is the update of any optimizer that treats coordinates alike (SGD, momentum, Adam). By
# induction every iterate keeps identical units: $W_1 = u \mathbf 1^\top$ has rank 1 forever.
# A random initialization starts outside this invariant subspace.

# %%
INITIALIZERS = {
    f"constant {CONSTANT}": keras.initializers.Constant(CONSTANT),
    "Glorot uniform": keras.initializers.GlorotUniform(),
}


def build_model(initializer):
    """Two tanh hidden layers and a softmax layer, every kernel from `initializer`."""
    model = keras.Sequential(
        [
            keras.Input(shape=(64,)),
            keras.layers.Dense(HIDDEN, activation="tanh", kernel_initializer=initializer),
            keras.layers.Dense(HIDDEN, activation="tanh", kernel_initializer=initializer),
            keras.layers.Dense(10, activation="softmax", kernel_initializer=initializer),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


# %% [markdown]
# ## Training
# Full-batch Adam for both models, from the same seed.

# %%
histories, kernels = {}, {}
for name, initializer in INITIALIZERS.items():
    keras.utils.set_random_seed(SEED)
    model = build_model(initializer)
    # model.fit(split.x_train, split.y_train, epochs=EPOCHS, batch_size=len(split.x_train),
    #           validation_data=(split.x_val, split.y_val)), validated every EVERY epochs
    histories[name] = fit_fast(
        model,
        split.x_train,
        split.y_train,
        epochs=EPOCHS,
        every=EVERY,
        validation_data=(split.x_val, split.y_val),
        seed=SEED,
    )
    kernels[name] = [layer.get_weights()[0] for layer in model.layers[:2]]  # W_1, W_2
    print(f"{name}: training accuracy {histories[name]['accuracy'][-1]:.3f}")

# %% [markdown]
# ## Ranks after training
# The singular values $\sigma_1 \ge \sigma_2 \ge \dots$ of each trained hidden kernel. The
# numerical rank counts those above NumPy's tolerance $\sigma_1 \max(m, n)\,\varepsilon$
# ($\varepsilon$ = float32's machine epsilon); $\sigma_2/\sigma_1$ measures how far the kernel
# is from rank 1, and the spread of the columns $\max_j \|W_{:,j} - W_{:,1}\|$ how far the units
# are from being identical.

# %%
singular_values, ranks = {}, {}
for name, (w1, w2) in kernels.items():
    singular_values[name] = np.linalg.svd(w1, compute_uv=False)
    ranks[name] = (np.linalg.matrix_rank(w1), np.linalg.matrix_rank(w2))
    s = singular_values[name]
    column_spread = np.abs(w1 - w1[:, :1]).max()
    print(
        f"{name}: rank W_1 = {ranks[name][0]}, rank W_2 = {ranks[name][1]},"
        f" sigma_2/sigma_1 = {s[1] / s[0]:.2g}, column spread {column_spread:.2g}"
    )

# %% [markdown]
# ## Figure: identical columns, one singular value, a stalled network

# %%
use_course_style()
constant, glorot = INITIALIZERS
fig, axes = plt.subplot_mosaic(
    [["c", "g", "s"], ["c", "g", "a"]], figsize=(17, 8.5), width_ratios=[1, 1, 1.3]
)
for key, name in (("c", constant), ("g", glorot)):
    w1 = kernels[name][0]
    limit = np.abs(w1).max()
    image = axes[key].imshow(w1, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    axes[key].set(
        title=f"{name}: trained $W_1$\n(rank {ranks[name][0]})",
        xlabel="hidden unit (column)",
        ylabel="input pixel (row)",
    )
    axes[key].grid(False)
    fig.colorbar(image, ax=axes[key], shrink=0.8, label="weight")

for name, color in ((constant, "tab:red"), (glorot, "tab:blue")):
    s = singular_values[name]
    axes["s"].semilogy(
        np.arange(1, len(s) + 1), np.maximum(s, 1e-12), "o-", color=color, label=name
    )
    history = histories[name]
    axes["a"].plot(history["epoch"], history["accuracy"], color=color, label=f"{name}, training")
    axes["a"].plot(
        history["epoch"], history["val_accuracy"], "--", color=color, label=f"{name}, validation"
    )
axes["s"].set(
    title="Singular values of the trained $W_1$\n(values below $10^{-12}$ drawn at $10^{-12}$)",
    xlabel="index $i$",
    ylabel="$\\sigma_i$ (log scale)",
)
axes["s"].legend()
axes["a"].set(title="Accuracy during training", xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02))
axes["a"].legend(loc="center right", fontsize=10)
fig.suptitle(
    f"Symmetry breaking: the same MLP (64-{HIDDEN}-{HIDDEN}-10, tanh) from a constant "
    "and from a random initialization"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
s_const, s_glorot = singular_values[constant], singular_values[glorot]
SUMMARY = {
    "hidden_units": HIDDEN,
    "rank_w1_constant": int(ranks[constant][0]),
    "rank_w2_constant": int(ranks[constant][1]),
    "rank_w1_glorot": int(ranks[glorot][0]),
    "rank_w2_glorot": int(ranks[glorot][1]),
    "sigma2_over_sigma1_constant": float(s_const[1] / s_const[0]),
    "sigma_min_over_max_glorot": float(s_glorot[-1] / s_glorot[0]),
    "column_spread_constant": float(
        np.abs(kernels[constant][0] - kernels[constant][0][:, :1]).max()
    ),
    "weight_change_constant": float(np.abs(kernels[constant][0] - CONSTANT).max()),
    "train_accuracy_constant": float(histories[constant]["accuracy"][-1]),
    "train_accuracy_glorot": float(histories[glorot]["accuracy"][-1]),
}
for key, value in SUMMARY.items():
    print(f"{key:>28s}: {value:.4g}" if isinstance(value, float) else f"{key:>28s}: {value}")
