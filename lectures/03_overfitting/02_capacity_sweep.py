"""
Capacity sweep: more parameters buy a lower training loss, not a lower validation loss
======================================================================================

One-hidden-layer networks of ten widths, from 2 to 1024 hidden units (160 to 76,810
parameters), are trained on the same 300 digits for the same number of full-batch Adam steps;
their final training and validation losses are plotted against the number of parameters. The
narrow networks, whose result depends most on their random initialization, are trained several
times (up to eight copies) and their losses averaged.

The figure shows, on log-log axes, the training loss falling at every step in capacity while
the validation loss first falls and then stays flat (or rises); the right panel shows the
generalization gap (validation minus training loss) of every trained network and its mean per
width. The gap opens: it is small for networks too narrow to fit the training set, and from
about 32 units on, where the training loss is near zero, it is essentially the validation
loss. Look at what the parameters beyond that buy: the training loss falls by another two
orders of magnitude, the validation loss hardly moves. Extra parameters buy memorization, not
generalization (nor, here, worse generalization: whether the gap still grows past 32 units
depends on the split of the data).

Try:
- Train for fewer steps (`EPOCHS = 50`): which widths still show a gap?
- Double `N_TRAIN` (to 600): does the gap at 1024 units shrink?
- Add a second `EinsumDense("nrj,rjk->nrk", ...)` hidden layer of `width` units in `network`:
  is depth or width the cheaper capacity?
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

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

N_TRAIN = 300
# Hidden units of the ten widths (three of them in smoke mode).
WIDTHS = [2, 32, 1024] if SMOKE else [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
UNITS_PER_WIDTH = 256  # hidden units spent per width: replicates(w) = 256 // w copies ...
MAX_REPLICATES = 1 if SMOKE else 8  # ... but at most this many, and at least one
LEARNING_RATE = 3e-3
EPOCHS = 10 if SMOKE else 300  # full-batch steps for every network

# %% [markdown]
# ## Data

# %%
keras.utils.set_random_seed(SEED)
split = load_digits(n_train=N_TRAIN, seed=SEED)

# %% [markdown]
# ## Many networks in one Keras model
# A network with $w$ hidden units on 64 inputs and 10 classes has
# $(64 + 1)w + (w + 1)10 = 75w + 10$ parameters.
#
# The final losses of one trained network depend on its random initialization, and the
# narrower the network, the more: a 2-unit network can land in a poor minimum that a
# 1,024-unit one averages away. So each width is trained `replicates(w)` times from
# independent initializations and its losses are averaged, with about the same number of
# hidden units, `UNITS_PER_WIDTH`, spent on every width (at most `MAX_REPLICATES` copies).
#
# All the copies of one width are one `EinsumDense` layer whose kernel has a leading replicate
# axis $r$: $h_{nrj} = \mathrm{relu}(\sum_i x_{ni} W_{rij} + b_{rj})$, each copy initialized as a
# `Dense` layer of its own would be (Glorot uniform, zero biases). All the networks share
# the input and nothing else. Keras minimizes the sum of their losses, and since no parameter
# appears in two of them, the gradient of the sum with respect to one network's weights is the
# gradient of that network's own loss; Adam scales every parameter separately. So one training
# run trains all the networks exactly as separate runs would, at a fraction of Keras'
# per-call overhead.


# %%
def replicates(width):
    """Independent copies of the `width`-unit network: about UNITS_PER_WIDTH units per width."""
    return int(np.clip(UNITS_PER_WIDTH // width, 1, MAX_REPLICATES))


def glorot(fan_in, fan_out):
    """Glorot's uniform law for a layer of one copy: U(-a, a), a = sqrt(6 / (fan_in + fan_out)).

    (Keras' own GlorotUniform would count the replicate axis into the fans.)
    """
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return keras.initializers.RandomUniform(-limit, limit)


def network(inputs, width):
    """`replicates(width)` copies of a 64 -> width -> 10 network: output (batch, copies, 10)."""
    copies = replicates(width)
    hidden = keras.layers.EinsumDense(
        "ni,rij->nrj",
        output_shape=(copies, width),
        bias_axes="rj",
        activation="relu",
        kernel_initializer=glorot(64, width),
    )(inputs)
    return keras.layers.EinsumDense(
        "nrj,rjk->nrk",
        output_shape=(copies, 10),
        bias_axes="rk",
        activation="softmax",
        kernel_initializer=glorot(width, 10),
        name=f"width_{width}",
    )(hidden)


inputs = keras.Input(shape=(64,))
model = keras.Model(inputs, [network(inputs, width) for width in WIDTHS])
# Keras averages a loss over the copies of a width; weighting it by their number makes the
# total the plain sum of the networks' own losses.
model.compile(
    optimizer=keras.optimizers.Adam(LEARNING_RATE),
    loss=["sparse_categorical_crossentropy"] * len(WIDTHS),
    loss_weights=[float(replicates(width)) for width in WIDTHS],
)
n_params = np.array([75 * width + 10 for width in WIDTHS])
assert sum(replicates(w) * p for w, p in zip(WIDTHS, n_params, strict=True)) == model.count_params()
print(f"{sum(replicates(w) for w in WIDTHS)} networks, {model.count_params():,} parameters in all")

# %%
targets = [np.repeat(split.y_train[:, None], replicates(width), axis=1) for width in WIDTHS]
# Replaces model.fit(split.x_train, targets, batch_size=N_TRAIN, epochs=EPOCHS, verbose=0):
# the same full-batch Adam steps, run in one compiled call instead of EPOCHS Keras epochs.
fit_fast(model, split.x_train, targets, epochs=EPOCHS, every=EPOCHS, seed=SEED)


def losses_per_network(x, y):
    """Mean cross-entropy -log p(y | x) of every copy: one array (copies,) per width."""
    probabilities = model.predict(x, batch_size=len(x), verbose=0)
    return [-np.mean(np.log(p[np.arange(len(y)), :, y]), axis=0) for p in probabilities]


train_each = losses_per_network(split.x_train, split.y_train)
val_each = losses_per_network(split.x_val, split.y_val)
gap_each = [v - t for v, t in zip(val_each, train_each, strict=True)]
train_loss = np.array([t.mean() for t in train_each])  # averaged over the copies of a width
val_loss = np.array([v.mean() for v in val_each])
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

for count, each in zip(n_params, gap_each, strict=True):
    ax_gap.semilogx(np.full(len(each), count), each, ".", color="gray", alpha=0.6)
ax_gap.plot([], [], ".", color="gray", label="one network (copies of a width)")
ax_gap.semilogx(n_params, gap, "o-", color="tab:red", label="mean over the copies")
ax_gap.axhline(0.0, color="gray", linewidth=1)
ax_gap.set(
    xlabel="number of parameters (log scale)",
    ylabel="validation loss - training loss",
    title="The generalization gap opens, then stays open",
)
ax_gap.legend(loc="lower right")
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
    "networks": sum(replicates(width) for width in WIDTHS),
    "train_loss_falls_at_every_width": bool(np.all(np.diff(train_loss) < 0)),
    "train_loss_rank_corr": rank_correlation(n_params, train_loss),
    "gap_smallest_largest_copy": float(gap_each[0].max()),
    "train_loss_at_32": float(train_loss[WIDTHS.index(32)]),
    "val_loss_at_32": float(val_loss[WIDTHS.index(32)]),
    "val_loss_largest": float(val_loss[-1]),
    "gap_rank_corr": rank_correlation(n_params, gap),
    "best_val_width": int(WIDTHS[int(np.argmin(val_loss))]),
}
for key, value in SUMMARY.items():
    print(f"{key:>22s}: {value:.4g}" if isinstance(value, float) else f"{key:>22s}: {value}")
