"""
Capacity sweep: more parameters, lower training loss, wider generalization gap
==============================================================================

Ten one-hidden-layer networks, from 2 to 1024 hidden units (about 160 to 78,000 parameters),
are trained on the same 300 digits for the same number of steps; their final training and
validation losses are plotted against the number of parameters.

The figure shows, on log-log axes, the training loss falling steadily with capacity while the
validation loss first falls and then flattens or rises: the distance between the curves, the
generalization gap, keeps growing. Look at where the training loss drops below the validation
loss's minimum: from there on, extra parameters buy memorization, not generalization.

Try:
- Train for fewer epochs (`EPOCHS = 50`): which widths still overfit?
- Double `N_TRAIN`: does the gap at 1024 units shrink?
- Add a second hidden layer to `make_branch`: is depth or width the cheaper capacity?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_digits
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np

# %% [markdown]
# ## Parameters

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

N_TRAIN = 300
WIDTHS = [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]  # hidden units of the ten networks
LEARNING_RATE = 3e-3
EPOCHS = 10 if SMOKE else 300  # full-batch steps for every network

# %% [markdown]
# ## Data

# %%
keras.utils.set_random_seed(SEED)
split = load_digits(n_train=N_TRAIN, seed=SEED)

# %% [markdown]
# ## Ten networks in one Keras model
# A network with $w$ hidden units on 64 inputs and 10 classes has
# $(64 + 1)w + (w + 1)10 = 75w + 10$ parameters.
#
# The ten networks share the input and nothing else. Keras minimizes the *sum* of their ten
# losses, and since no parameter appears in two of them, the gradient of the sum with respect
# to one network's weights is the gradient of that network's own loss; Adam scales every
# parameter separately. So one `fit` call trains the ten networks exactly as ten separate calls
# would, at a fraction of Keras' per-call overhead.

# %%
inputs = keras.Input(shape=(64,))
outputs = []
for width in WIDTHS:
    hidden = keras.layers.Dense(width, activation="relu")(inputs)
    outputs.append(keras.layers.Dense(10, activation="softmax", name=f"width_{width}")(hidden))
model = keras.Model(inputs, outputs)
model.compile(
    optimizer=keras.optimizers.Adam(LEARNING_RATE),
    loss=["sparse_categorical_crossentropy"] * len(WIDTHS),
)
n_params = np.array([75 * width + 10 for width in WIDTHS])
assert n_params.sum() == model.count_params()

# %%
targets = [split.y_train] * len(WIDTHS)
model.fit(split.x_train, targets, batch_size=N_TRAIN, epochs=EPOCHS, verbose=0)


def losses_per_network(x, y):
    """Mean cross-entropy -log p(y | x) of each of the ten networks on (x, y)."""
    probabilities = model.predict(x, batch_size=len(x), verbose=0)
    return np.array([-np.mean(np.log(p[np.arange(len(y)), y])) for p in probabilities])


train_loss = losses_per_network(split.x_train, split.y_train)
val_loss = losses_per_network(split.x_val, split.y_val)
gap = val_loss - train_loss

# %% [markdown]
# ## Figure: loss against capacity

# %%
use_course_style()
fig, (ax_loss, ax_gap) = plt.subplots(1, 2, figsize=(13, 5.2))
ax_loss.loglog(n_params, train_loss, "o-", label="training loss")
ax_loss.loglog(n_params, val_loss, "s-", label="validation loss")
for count, width, loss in zip(n_params, WIDTHS, val_loss, strict=True):
    ax_loss.annotate(
        f"{width}",
        (count, loss),
        textcoords="offset points",
        xytext=(0, 8),
        ha="center",
        fontsize=9,
    )
ax_loss.set(
    xlabel="number of parameters (log scale)",
    ylabel="cross-entropy (log scale)",
    title="Final losses after the same training (labels: hidden units)",
)
ax_loss.legend()

ax_gap.semilogx(n_params, gap, "o-", color="tab:red")
ax_gap.axhline(0.0, color="gray", linewidth=1)
ax_gap.set(
    xlabel="number of parameters (log scale)",
    ylabel="validation loss - training loss",
    title="The generalization gap grows with capacity",
)
fig.suptitle(f"Capacity sweep on {N_TRAIN} digits, {EPOCHS} full-batch Adam steps")
plt.show()

# %% [markdown]
# ## Summary
# The rank correlation between capacity and a quantity is +1 when it always grows with
# capacity and -1 when it always falls.


# %%
def rank_correlation(a, b):
    """Spearman's rank correlation of two sequences without ties."""
    return float(np.corrcoef(np.argsort(np.argsort(a)), np.argsort(np.argsort(b)))[0, 1])


SUMMARY = {
    "min_params": int(n_params[0]),
    "max_params": int(n_params[-1]),
    "train_loss_smallest": float(train_loss[0]),
    "train_loss_largest": float(train_loss[-1]),
    "gap_smallest": float(gap[0]),
    "gap_largest": float(gap[-1]),
    "train_loss_rank_corr": rank_correlation(n_params, train_loss),
    "gap_rank_corr": rank_correlation(n_params, gap),
    "best_val_width": int(WIDTHS[int(np.argmin(val_loss))]),
}
for key, value in SUMMARY.items():
    print(f"{key:>22s}: {value:.4g}" if isinstance(value, float) else f"{key:>22s}: {value}")
