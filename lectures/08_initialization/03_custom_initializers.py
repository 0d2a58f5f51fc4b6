"""
Custom initializers: Glorot and He written from their formulas
==============================================================

Glorot uniform, Glorot normal and He normal as subclasses of `keras.initializers.Initializer`,
built from their variance formulas (the truncated normal by inversion of its CDF), checked
against Keras' built-ins, and saved and loaded inside a model.

The figure shows, for each initializer, the histogram of 2 million weights from our class and
from Keras' built-in (independent seeds) on top of the density the formula prescribes. Look for
the hard edges: the uniform stops at +-sqrt(6/(n_in + n_out)), the truncated normals at two of
their underlying standard deviations. The titles give the sample variance against the formula
and the p-value of a two-sample Kolmogorov-Smirnov test of ours against Keras'.

Try:
- Remove the division by `TRUNCATED_STD` in `truncated_normal`: by how much does the variance
  miss the formula, and what does the KS test say?
- Write `MyHeUniform` (limit sqrt(6 / n_in)) and compare it with `keras.initializers.HeUniform`.
- Delete `get_config` from one class: what happens when the model is loaded?
"""

# %%
import math
import os
import random
import tempfile

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import ops
from scipy import stats

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

SHAPE = (200, 100) if SMOKE else (1000, 2000)  # (fan_in, fan_out) of the test matrices
BINS = 80

# %% [markdown]
# ## The formulas
# For a dense kernel of shape (fan_in, fan_out), $n_{in}$ = fan_in and $n_{out}$ = fan_out:
#
# * Glorot uniform: $w \sim U[-a, a]$ with $a = \sqrt{6/(n_{in} + n_{out})}$, so
#   $\mathrm{Var}[w] = a^2/3 = 2/(n_{in} + n_{out})$.
# * Glorot normal: a normal truncated at two standard deviations whose variance *after*
#   truncation is $2/(n_{in} + n_{out})$.
# * He normal: the same truncated normal with variance $2/n_{in}$.
#
# Truncating $N(0, s^2)$ to $[-2s, 2s]$ leaves the variance $c^2 s^2$ with
#
# $$c^2 = 1 - \frac{2 \cdot 2\,\varphi(2)}{\Phi(2) - \Phi(-2)} \approx 0.7737,$$
#
# ($\varphi$, $\Phi$ the standard normal density and distribution function), so the underlying
# normal needs $s = \sigma / c$ for a target standard deviation $\sigma$. Keras hard-codes
# $c = 0.87962566103423978$; we compute it.
#
# We draw the truncated normal by inversion: if $u \sim U[\Phi(-2), \Phi(2)]$ then
# $\Phi^{-1}(u)$ is a standard normal conditioned on $[-2, 2]$, and
# $\Phi^{-1}(u) = \sqrt 2\, \mathrm{erf}^{-1}(2u - 1)$. Keras draws it by rejection instead,
# which makes the comparison below a test of two different samplers.

# %%
PHI_2 = 0.5 * (1 + math.erf(2 / math.sqrt(2)))  # Phi(2)
DENSITY_2 = math.exp(-2.0) / math.sqrt(2 * math.pi)  # phi(2)
TRUNCATED_STD = math.sqrt(1 - 4 * DENSITY_2 / (2 * PHI_2 - 1))
print(f"std of N(0, 1) truncated to [-2, 2]: {TRUNCATED_STD:.17f} (Keras: 0.87962566103423978)")


def fans(shape):
    """(fan_in, fan_out) of a kernel: a dense (n_in, n_out), or a conv kernel (..., in, out)."""
    receptive_field = math.prod(shape[:-2]) if len(shape) > 2 else 1
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def truncated_normal(shape, stddev, seed, dtype):
    """Normal samples truncated at two underlying standard deviations, with std `stddev`."""
    edge = math.erf(2 / math.sqrt(2))  # 2 Phi(2) - 1: the range of 2u - 1
    v = keras.random.uniform(shape, minval=-edge, maxval=edge, seed=seed, dtype=dtype)
    return (stddev / TRUNCATED_STD) * math.sqrt(2) * ops.erfinv(v)


# %% [markdown]
# ## The initializer classes
# An initializer is a callable `(shape, dtype) -> tensor`. `get_config` returns the constructor
# arguments, so that Keras can write the initializer into a saved model and build it again on
# loading; the decorator registers the class under the name `mma440>ClassName`.
#
# Seeds follow Keras 3: an integer `seed` gives the same numbers on every call, and so does
# `seed=None`. An unseeded Keras initializer draws one seed when it is created (from Python's
# `random`, which `keras.utils.set_random_seed` seeds) and keeps it, so every call of one
# instance returns the same tensor, two instances return different ones, and the whole script
# is reproducible. `MyInitializer` below does the same; `get_config` stores the seed the user
# gave (None), as Keras does.


# %%
class MyInitializer(keras.initializers.Initializer):
    """The seed handling the three initializers share (Keras 3's rule, see above)."""

    def __init__(self, seed=None):
        self.seed = seed  # what the user gave: an integer or None
        # the seed every call uses: the given one, or one drawn now and kept
        self.call_seed = seed if seed is not None else random.randint(1, 10**9)

    def get_config(self):
        return {"seed": self.seed}


@keras.saving.register_keras_serializable(package="mma440")
class MyGlorotUniform(MyInitializer):
    """U[-a, a] with a = sqrt(6 / (fan_in + fan_out)): variance 2 / (fan_in + fan_out)."""

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = fans(shape)
        limit = math.sqrt(6 / (fan_in + fan_out))
        return keras.random.uniform(shape, -limit, limit, seed=self.call_seed, dtype=dtype)


@keras.saving.register_keras_serializable(package="mma440")
class MyGlorotNormal(MyInitializer):
    """Truncated normal with variance 2 / (fan_in + fan_out)."""

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = fans(shape)
        return truncated_normal(shape, math.sqrt(2 / (fan_in + fan_out)), self.call_seed, dtype)


@keras.saving.register_keras_serializable(package="mma440")
class MyHeNormal(MyInitializer):
    """Truncated normal with variance 2 / fan_in."""

    def __call__(self, shape, dtype=None):
        fan_in, _ = fans(shape)
        return truncated_normal(shape, math.sqrt(2 / fan_in), self.call_seed, dtype)


# The seed rule, for ours and for Keras': one unseeded instance called twice, and two instances.
keras.utils.set_random_seed(SEED)
seed_rule = {}
for label, make in (("ours", MyGlorotUniform), ("keras", keras.initializers.GlorotUniform)):
    first, second = make(), make()
    a, b, c = (np.asarray(init((4, 4))) for init in (first, first, second))
    seed_rule[label] = (bool(np.array_equal(a, b)), bool(not np.array_equal(a, c)))
    print(
        f"unseeded, {label}: same numbers on every call {seed_rule[label][0]}, "
        f"different instances differ {seed_rule[label][1]}"
    )


# %% [markdown]
# ## Variances and distributions against Keras' built-ins
# On a (fan_in, fan_out) = `SHAPE` matrix: the sample variance against the formula, and a
# two-sample Kolmogorov-Smirnov test of our weights against Keras' (drawn with another seed).
# The KS statistic is the largest distance between the two empirical distribution functions;
# with two million weights a side it detects a difference of about 0.002 in a probability.
# As a check that the test has this power, it must reject the untruncated normal of the same
# variance, `VarianceScaling(distribution="untruncated_normal")`, against our Glorot normal.

# %%
keras.utils.set_random_seed(SEED)
fan_in, fan_out = SHAPE
CASES = {
    # name: (our class, Keras' class, Var[w] from the formula)
    "Glorot uniform": (MyGlorotUniform, keras.initializers.GlorotUniform, 2 / (fan_in + fan_out)),
    "Glorot normal": (MyGlorotNormal, keras.initializers.GlorotNormal, 2 / (fan_in + fan_out)),
    "He normal": (MyHeNormal, keras.initializers.HeNormal, 2 / fan_in),
}
samples, results = {}, {}
for k, (name, (ours, theirs, variance)) in enumerate(CASES.items()):
    w_ours = np.asarray(ours(seed=SEED + k)(SHAPE)).ravel()  # every sample with its own seed
    w_keras = np.asarray(theirs(seed=SEED + 1000 + k)(SHAPE)).ravel()
    samples[name] = (w_ours, w_keras)
    results[name] = {
        "var_rel_error": abs(w_ours.var() / variance - 1),
        "keras_var_rel_error": abs(w_keras.var() / variance - 1),
        "ks_pvalue": stats.ks_2samp(w_ours, w_keras).pvalue,
    }
    print(
        f"{name:15s} Var[w]: formula {variance:.5g}, ours {w_ours.var():.5g},"
        f" Keras {w_keras.var():.5g}; KS p-value {results[name]['ks_pvalue']:.3f}"
    )

untruncated = keras.initializers.VarianceScaling(
    scale=1.0, mode="fan_avg", distribution="untruncated_normal", seed=SEED + 2000
)
w_untruncated = np.asarray(untruncated(SHAPE)).ravel()
power_pvalue = stats.ks_2samp(samples["Glorot normal"][0], w_untruncated).pvalue
print(f"KS p-value, our Glorot normal against the untruncated normal: {power_pvalue:.2g}")

# %% [markdown]
# ## Saving and loading a model that uses them
# A small MLP with one custom initializer per layer is saved in the `.keras` format to a
# temporary folder (deleted at the end of the `with` block) and loaded back. The weights are
# stored, so the outputs must agree exactly; the initializers are rebuilt from `get_config`.

# %%
keras.utils.set_random_seed(SEED)
model = keras.Sequential(
    [
        keras.Input(shape=(64,)),
        keras.layers.Dense(128, activation="relu", kernel_initializer=MyHeNormal(seed=SEED)),
        keras.layers.Dense(64, activation="tanh", kernel_initializer=MyGlorotNormal(seed=SEED)),
        keras.layers.Dense(10, kernel_initializer=MyGlorotUniform(seed=SEED)),
    ]
)
x = np.random.default_rng(SEED).standard_normal((256, 64)).astype("float32")
with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "model.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
reload_max_abs_diff = float(
    np.max(np.abs(model.predict(x, verbose=0) - reloaded.predict(x, verbose=0)))
)
initializers_restored = all(
    type(new.kernel_initializer) is type(old.kernel_initializer)
    and new.kernel_initializer.get_config() == old.kernel_initializer.get_config()
    for old, new in zip(model.layers, reloaded.layers, strict=True)
)
print(f"reloaded model: largest output difference {reload_max_abs_diff:g}")
print(
    "initializers after loading:",
    [type(layer.kernel_initializer).__name__ for layer in reloaded.layers],
)

# %% [markdown]
# ## Figure: our samples, Keras' samples and the formula's density

# %%
use_course_style()
fig, axes = plt.subplots(1, 3, figsize=(17, 5.6))
for ax, (name, (w_ours, w_keras)) in zip(axes, samples.items(), strict=True):
    variance = CASES[name][2]
    edge = max(np.abs(w_ours).max(), np.abs(w_keras).max()) * 1.15
    bins = np.linspace(-edge, edge, BINS + 1)
    ax.hist(
        w_keras,
        bins=bins,
        density=True,
        histtype="stepfilled",
        color="tab:gray",
        alpha=0.35,
        label="Keras built-in",
    )
    ax.hist(w_ours, bins=bins, density=True, histtype="step", color="tab:blue", lw=2, label="ours")
    grid = np.linspace(-edge, edge, 1001)
    if name == "Glorot uniform":
        a = math.sqrt(3 * variance)
        density = np.where(np.abs(grid) <= a, 1 / (2 * a), 0.0)
    else:
        s = math.sqrt(variance) / TRUNCATED_STD  # the underlying normal's std
        density = np.where(
            np.abs(grid) <= 2 * s, stats.norm.pdf(grid, scale=s) / (2 * PHI_2 - 1), 0.0
        )
    ax.plot(grid, density, "--", color="black", lw=1.5, label="formula")
    if name != "Glorot uniform":
        ax.plot(
            grid,
            stats.norm.pdf(grid, scale=math.sqrt(variance)),
            ":",
            color="tab:red",
            lw=2,
            label="untruncated normal,\nsame variance",
        )
    ax.set(
        title=f"{name}: Var {w_ours.var():.3g} (formula {variance:.3g})\n"
        f"KS p-value against Keras {results[name]['ks_pvalue']:.2f}",
        xlabel="weight value",
        ylabel="density",
    )
    ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    ax.set_ylim(0, 1.45 * ax.get_ylim()[1])  # room for the legend
axes[0].legend(loc="upper center", ncol=2, fontsize=10)
axes[1].legend(loc="upper left", fontsize=10)
fig.suptitle(
    f"Initializers from their formulas against Keras' built-ins: "
    f"{fan_in} x {fan_out} kernel, {fan_in * fan_out:,} weights each"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
KEYS = {
    "Glorot uniform": "glorot_uniform",
    "Glorot normal": "glorot_normal",
    "He normal": "he_normal",
}
SUMMARY = {"n_weights": fan_in * fan_out, "truncated_std": TRUNCATED_STD}
for name, result in results.items():
    for key, value in result.items():
        SUMMARY[f"{key}_{KEYS[name]}"] = float(value)
SUMMARY["ks_pvalue_untruncated"] = float(power_pvalue)
SUMMARY["reload_max_abs_diff"] = reload_max_abs_diff
SUMMARY["initializers_restored"] = bool(initializers_restored)
for label, (repeats, differ) in seed_rule.items():
    SUMMARY[f"unseeded_repeats_{label}"] = repeats
    SUMMARY[f"unseeded_instances_differ_{label}"] = differ
for key, value in SUMMARY.items():
    print(f"{key:>34s}: {value:.4g}" if isinstance(value, float) else f"{key:>34s}: {value}")
