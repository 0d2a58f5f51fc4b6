"""
Emergent invariance in deep ensembles: the mean of augmented networks
=====================================================================

Thirty-two small MLPs, none of them invariant, are trained on digits with the full C4 orbit
as data augmentation; the mean of M of them becomes more and more rotation-invariant as M
grows (Gerken and Kessel, ICML 2024), on test digits and on noise images alike, while the
mean of an ensemble trained without augmentation stays as far from invariant as its members.

The figure shows the invariance error of the ensemble mean against the ensemble size M on
log-log axes, for the augmented and the plain ensembles, on test digits (left) and on noise
images outside the training distribution (right), with the line M^(-1/2) that independent
member errors would follow. Look at the augmented curves falling along that line while the
plain ones level off: the members' deviations from invariance have mean zero only when the
training data are closed under the group.

Try:
- Set `HIDDEN = 8`: narrower members. The symmetry argument below says the expected
  ensemble is exactly invariant at every width: does the error still fall as M^(-1/2)?
- Set `EPOCHS = 10`: how invariant is a barely trained ensemble, and why (think of the
  ensemble mean at initialization)?
- Measure the ensemble mean's test accuracy on rotated digits against a single member's.
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
from keras import ops

# %% [markdown]
# ## Parameters

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

MEMBERS = 4 if SMOKE else 32  # networks per ensemble, trained as one Keras model
HIDDEN = 32  # hidden units of every member
N_TRAIN = 150  # upright training digits (the augmented ensemble sees 4 x 150)
EPOCHS = 1 if SMOKE else 100  # full-batch Adam steps
LEARNING_RATE = 3e-3
N_EVAL = 32 if SMOKE else 300  # test digits and noise images for the invariance error

# %% [markdown]
# ## Data
# The augmented training set is the C4 orbit of every training digit. The noise images,
# uniform on $[0, 1]^{8 \times 8}$, are far from every digit: off the training distribution.

# %%
keras.utils.set_random_seed(SEED)
rng = np.random.default_rng(SEED)
split = load_digits(flatten=False, n_train=N_TRAIN, seed=SEED)
x_train, y_train = split.x_train, split.y_train
x_orbit = np.concatenate([np.rot90(x_train, a, axes=(1, 2)) for a in range(4)])
y_orbit = np.tile(y_train, 4)
inputs_eval = {
    "test digits": split.x_test[:N_EVAL],
    "noise images": rng.uniform(0, 1, size=(N_EVAL, 8, 8)).astype(np.float32),
}

# %% [markdown]
# ## M networks in one Keras model
# `EnsembleDense` holds one kernel per member, shape (M, inputs, units), and multiplies every
# member's input by its own kernel with `einsum`. The loss is the mean of the members' losses;
# no weight appears in two members, so the gradient of the mean with respect to a member's
# weights is its own gradient divided by M, which Adam's per-parameter scaling removes (up to
# its $\epsilon$). The members differ only in their random initial weights.


# %%
class EnsembleDense(keras.layers.Layer):
    """M independent dense layers: (batch, d) or (batch, M, d) -> (batch, M, units)."""

    def __init__(self, members, units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.members, self.units = members, units
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        fan_in = input_shape[-1]
        self.kernel = self.add_weight(
            shape=(self.members, fan_in, self.units),
            initializer=keras.initializers.RandomNormal(stddev=np.sqrt(2.0 / fan_in)),
            name="kernel",
        )
        self.bias = self.add_weight(
            shape=(self.members, self.units), initializer="zeros", name="bias"
        )

    def call(self, x):
        equation = "bi,miu->bmu" if len(x.shape) == 2 else "bmi,miu->bmu"
        return self.activation(ops.einsum(equation, x, self.kernel) + self.bias)


def make_ensemble():
    inputs = keras.Input(shape=(8, 8))
    h = keras.layers.Flatten()(inputs)
    h = EnsembleDense(MEMBERS, HIDDEN, activation="relu")(h)
    h = EnsembleDense(MEMBERS, HIDDEN, activation="relu")(h)
    outputs = EnsembleDense(MEMBERS, 10)(h)  # logits, shape (batch, M, 10)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


ensembles = {}
for name, (x, y) in {"augmented": (x_orbit, y_orbit), "plain": (x_train, y_train)}.items():
    keras.utils.set_random_seed(SEED)  # the same initial weights for both ensembles
    model = make_ensemble()
    targets = np.repeat(y[:, None], MEMBERS, axis=1)  # every member learns the same labels
    # Replaces model.fit(x, targets, epochs=EPOCHS, batch_size=len(x), verbose=0).
    fit_fast(model, x, targets, epochs=EPOCHS, every=EPOCHS, seed=SEED)
    ensembles[name] = model
members_accuracy = float(
    np.mean(
        np.argmax(ensembles["augmented"].predict(split.x_test, verbose=0), axis=-1)
        == split.y_test[:, None]
    )
)
print(f"augmented members' mean test accuracy (upright digits): {members_accuracy:.3f}")

# %% [markdown]
# ## The invariance error of an ensemble mean
# With $\bar f_M = \frac1M \sum_{m=1}^M f_m$ (logits) and the deviation
# $\delta_m(x) = f_m(r^a x) - f_m(x)$,
# $$ \varepsilon(M) = \frac{\big\|\frac1M\sum_{m}\delta_m\big\|}{\overline{\|f_m\|}}, $$
# norms over the evaluation set, averaged over $a = 1, 2, 3$ and over the disjoint groups of
# $M$ members; the denominator is the members' mean norm, the same for every $M$. If the
# $\delta_m$ are independent with mean $\mu$ and covariance $\Sigma$,
# $\mathbb E\|\bar\delta_M\|^2 = \|\mu\|^2 + \operatorname{tr}\Sigma / M$: the error falls like
# $M^{-1/2}$ as long as $\mu$ is negligible. Gerken and Kessel show that for training data
# closed under the group $\mu \to 0$ in the infinite-width limit, for *every* input, at every
# time of training. Nordenfors and Flinth (2024) remove the limit when the group acts on the
# parameters and preserves their initial distribution, as here: with $T$ the permutation
# $W_1 \mapsto W_1\rho(g)$ of the first layer's columns, $f_{T\theta}(x) = f_\theta(g \cdot x)$,
# the loss on an orbit-closed training set is $T$-invariant, full-batch Adam (coordinate-wise)
# commutes with $T$, and i.i.d. Gaussian initial weights are $T$-invariant in distribution;
# so $\mathbb E f(g\cdot x) = \mathbb E f(x)$ exactly, $\mu = 0$ at every width. Without
# augmentation the loss is not $T$-invariant and nothing makes $\mu$ small.

# %%
SIZES = [2**k for k in range(int(np.log2(MEMBERS)) + 1)]


def ensemble_errors(model, x):
    logits = np.stack(
        [model.predict(np.rot90(x, a, axes=(1, 2)).copy(), verbose=0) for a in range(4)]
    )  # (4, n, M, 10)
    scale = np.mean([np.linalg.norm(logits[0, :, m]) for m in range(MEMBERS)])
    errors = []
    for size in SIZES:
        groups = logits.reshape(4, len(x), MEMBERS // size, size, 10).mean(axis=3)
        errors.append(
            np.mean(
                [
                    np.linalg.norm(groups[a, :, g] - groups[0, :, g]) / scale
                    for a in (1, 2, 3)
                    for g in range(MEMBERS // size)
                ]
            )
        )
    return np.array(errors)


errors = {
    (name, kind): ensemble_errors(model, x)
    for name, model in ensembles.items()
    for kind, x in inputs_eval.items()
}
for key, value in errors.items():
    print(f"{key[0]:>9s} ensemble, {key[1]:>12s}: " + " ".join(f"{e:.3f}" for e in value))


def slope(e):
    """Least-squares slope of log(error) against log(M)."""
    return float(np.polyfit(np.log(SIZES), np.log(e), 1)[0])


def rank_correlation(a, b):
    """Spearman's rank correlation of two sequences without ties."""
    return float(np.corrcoef(np.argsort(np.argsort(a)), np.argsort(np.argsort(b)))[0, 1])


# %% [markdown]
# ## Figure: the error of the mean against the ensemble size

# %%
use_course_style()
fig, axes = plt.subplots(1, 2, figsize=(13, 5.4), sharey=True)
for ax, kind in zip(axes, inputs_eval, strict=True):
    for name, marker, label in [
        ("augmented", "o-", "trained on C4 orbits"),
        ("plain", "s-", "trained on upright digits"),
    ]:
        e = errors[(name, kind)]
        ax.loglog(SIZES, e, marker, label=f"{label} (slope {slope(e):.2f})")
    start = errors[("augmented", kind)][0]
    ax.loglog(
        SIZES,
        start * np.array(SIZES) ** -0.5,
        "k--",
        linewidth=1.2,
        label="$M^{-1/2}$ (independent deviations)",
    )
    ax.set_xticks(SIZES, [str(s) for s in SIZES])
    ax.set(xlabel="ensemble size M", title=f"Ensemble mean on {kind}")
    ax.legend(fontsize=10, loc="lower left")
axes[0].set_ylabel("‖f̄(r·x) − f̄(x)‖ / members' ‖f(x)‖")
fig.suptitle(f"Emergent invariance: means of {MEMBERS} MLPs ({HIDDEN} units), C4-augmented or not")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "members": MEMBERS,
    "members_test_accuracy": members_accuracy,
    "aug_digits_error_1": float(errors[("augmented", "test digits")][0]),
    "aug_digits_error_max_m": float(errors[("augmented", "test digits")][-1]),
    "aug_digits_ratio": float(
        errors[("augmented", "test digits")][-1] / errors[("augmented", "test digits")][0]
    ),
    "aug_digits_slope": slope(errors[("augmented", "test digits")]),
    "aug_digits_rank_corr": rank_correlation(SIZES, errors[("augmented", "test digits")]),
    "aug_noise_ratio": float(
        errors[("augmented", "noise images")][-1] / errors[("augmented", "noise images")][0]
    ),
    "aug_noise_slope": slope(errors[("augmented", "noise images")]),
    "aug_noise_rank_corr": rank_correlation(SIZES, errors[("augmented", "noise images")]),
    "plain_digits_ratio": float(
        errors[("plain", "test digits")][-1] / errors[("plain", "test digits")][0]
    ),
    "plain_noise_ratio": float(
        errors[("plain", "noise images")][-1] / errors[("plain", "noise images")][0]
    ),
    "plain_digits_error_max_m": float(errors[("plain", "test digits")][-1]),
    "aug_over_plain_digits_max_m": float(
        errors[("augmented", "test digits")][-1] / errors[("plain", "test digits")][-1]
    ),
    "aug_over_plain_noise_max_m": float(
        errors[("augmented", "noise images")][-1] / errors[("plain", "noise images")][-1]
    ),
}
for key, value in SUMMARY.items():
    print(f"{key:>28s}: {value:.4g}" if isinstance(value, float) else f"{key:>28s}: {value}")
