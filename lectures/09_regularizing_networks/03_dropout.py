"""
Dropout: inverted scaling keeps the mean, Monte-Carlo dropout gives an uncertainty band
=======================================================================================

Keras' `Dropout` zeroes each unit with probability p during training and divides the survivors
by 1 - p, so the expected activation is unchanged; kept on at prediction time, dropout turns one
network into a random ensemble whose spread grows away from the training data.

The left panel compares, unit by unit, the mean activation of a hidden layer with dropout in
training mode (averaged over many masks) with the activation without dropout: the points lie on
the diagonal. Without the 1/(1-p) rescaling they would lie on the dashed line of slope 1 - p.
The right panel shows a 1-D regression network trained with dropout and evaluated with dropout
on (Monte-Carlo dropout): the mean of many stochastic predictions and a band of two standard
deviations, narrow where there are data and widening outside the training interval.

Try:
- Set `RATE = 0.5` in the regression: how does the band change, and the fit?
- Use `function="sin"` in `make_regression_1d`: is the band still wider outside?
- Leave a gap in the training data (drop the points with 0 < x < 0.4): what happens there?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_digits, make_regression_1d
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

HIDDEN_RATE = 0.5  # dropout rate for the expectation check
MASKS = 10 if SMOKE else 50  # independent dropout masks averaged
TOLERANCE = 0.01  # asked of the relative error of the mean activation

RATE = 0.2  # dropout rate of the regression network
N_POINTS = 40  # training points, x uniform on [-1, 1]
EPOCHS = 100 if SMOKE else 1000  # full-batch Adam steps
MC_SAMPLES = 20 if SMOKE else 200  # stochastic forward passes
NEAR, AWAY = 0.9, 1.3  # |x| < NEAR is near the data, |x| > AWAY is away from it

# %% [markdown]
# ## Inverted dropout keeps the expected activation
# With $m_j \sim \mathrm{Bernoulli}(1-p)$ independent,
# $$\tilde h_j = \frac{m_j}{1-p}\, h_j, \qquad \mathbb E[\tilde h_j] = h_j, \qquad
# \mathrm{Var}[\tilde h_j] = \frac{p}{1-p}\, h_j^2 .$$
# So at inference the layer can be the identity (`training=False`) and the next layer sees, on
# average, what it saw in training. Measure it on the 512 ReLU units of a first hidden layer
# fed with digits.

# %%
keras.utils.set_random_seed(SEED)
digits = load_digits(n_train=300, seed=SEED).x_train
hidden = keras.layers.Dense(512, activation="relu")(digits).numpy()  # (300, 512), h >= 0
dropout = keras.layers.Dropout(HIDDEN_RATE)
samples = np.stack([dropout(hidden, training=True).numpy() for _ in range(MASKS)])
unit_mean_dropout = samples.mean(axis=(0, 1))  # per unit, over masks and examples
unit_mean = hidden.mean(axis=0)
relative_error = abs(samples.mean() - hidden.mean()) / hidden.mean()
dropped = float((samples[:, hidden > 0] == 0).mean())  # among the units that were active
inference_unchanged = bool(np.array_equal(dropout(hidden, training=False).numpy(), hidden))
# Standard error of the overall mean, from the variance formula above.
standard_error = np.sqrt(HIDDEN_RATE / (1 - HIDDEN_RATE) * (hidden**2).mean() / samples.size)
print(
    f"mean activation: {hidden.mean():.4f} without, {samples.mean():.4f} with dropout "
    f"(relative error {relative_error:.1e}, {relative_error * hidden.mean() / standard_error:.1f}"
    f" standard errors); fraction dropped {dropped:.3f}"
)

# %% [markdown]
# ## Monte-Carlo dropout on a 1-D regression
# A small ReLU network with dropout after each hidden layer, trained on noisy samples of
# $x^3 - x/2$ for $x \in [-1, 1]$. At prediction time dropout stays on (`training=True`):
# each forward pass samples a sub-network, and $T$ passes give a predictive mean
# $\bar f(x) = \frac1T\sum_t f_t(x)$ and a standard deviation $s(x)$ (Gal and Ghahramani,
# 2016). Training minimizes $\mathbb E_m (f_m(x_i) - y_i)^2 = (\bar f(x_i) - y_i)^2 +
# \mathrm{Var}_m f_m(x_i)$, so it keeps the spread small *at the data*; outside nothing
# constrains how the sub-networks extrapolate, and a ReLU network extrapolates linearly, with a
# spread that grows with $|x|$.

# %%
x_train, y_train, true_fn = make_regression_1d(N_POINTS, function="cubic", noise=0.1, seed=SEED)
keras.utils.set_random_seed(SEED)
regressor = keras.Sequential(
    [
        keras.Input(shape=(1,)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dropout(RATE),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dropout(RATE),
        keras.layers.Dense(1),
    ]
)
regressor.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mean_squared_error")
# Replaces regressor.fit(x_train[:, None], y_train[:, None], epochs=EPOCHS,
# batch_size=N_POINTS, verbose=0): the same full-batch steps, run in one compiled call.
fit_fast(regressor, x_train[:, None], y_train[:, None], epochs=EPOCHS, every=EPOCHS, seed=SEED)

x_grid = np.linspace(-2, 2, 401, dtype="float32")
tiled = np.tile(x_grid, MC_SAMPLES)[:, None]  # all passes as one batch
passes = regressor(tiled, training=True).numpy().reshape(MC_SAMPLES, len(x_grid))
mc_mean, mc_std = passes.mean(axis=0), passes.std(axis=0)
near = np.abs(x_grid) < NEAR
away = np.abs(x_grid) > AWAY
std_near, std_away = float(mc_std[near].mean()), float(mc_std[away].mean())
print(f"MC standard deviation: {std_near:.3f} near the data, {std_away:.3f} away from it")

# %% [markdown]
# ## Figure: the mean is kept, the spread is informative

# %%
use_course_style()
fig, (ax_mean, ax_mc) = plt.subplots(1, 2, figsize=(14, 5.6))
top = unit_mean.max() * 1.05
ax_mean.plot([0, top], [0, top], color="black", linewidth=1, label="equal means")
ax_mean.plot(
    [0, top],
    [0, (1 - HIDDEN_RATE) * top],
    "--",
    color="gray",
    label=f"without rescaling: slope 1 - p = {1 - HIDDEN_RATE:g}",
)
ax_mean.plot(
    unit_mean,
    unit_mean_dropout,
    "o",
    markersize=4,
    alpha=0.6,
    label=f"inverted dropout, p = {HIDDEN_RATE:g}, {MASKS} masks",
)
ax_mean.set(
    xlabel="mean activation of a unit without dropout",
    ylabel="mean activation with dropout (training mode)",
    title=f"512 ReLU units on digits: relative error of the mean {relative_error:.1e}",
)
ax_mean.set_aspect("equal")
ax_mean.legend(loc="upper left")

ax_mc.axvspan(-1, 1, color="tab:green", alpha=0.08, label="training interval")
ax_mc.fill_between(
    x_grid, mc_mean - 2 * mc_std, mc_mean + 2 * mc_std, alpha=0.3, label=r"mean $\pm$ 2 sd"
)
ax_mc.plot(x_grid, mc_mean, label=f"MC-dropout mean ({MC_SAMPLES} passes)")
ax_mc.plot(x_grid, true_fn(x_grid), "--", color="black", linewidth=1.5, label=r"$x^3 - x/2$")
ax_mc.plot(x_train, y_train, "o", color="black", markersize=5, label="training data")
ax_mc.set(
    xlabel="x",
    ylabel="y",
    ylim=(-4, 4),
    title=f"Monte-Carlo dropout (p = {RATE:g}): sd {std_near:.2f} near, {std_away:.2f} away",
)
ax_mc.legend(loc="lower left", fontsize=10)
fig.suptitle("Dropout: inverted scaling in training, an ensemble at prediction time")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "mean_activation": float(hidden.mean()),
    "mean_activation_dropout": float(samples.mean()),
    "relative_error_of_mean": float(relative_error),
    "tolerance": TOLERANCE,
    "fraction_dropped": dropped,
    "dropout_rate": HIDDEN_RATE,
    "inference_is_identity": inference_unchanged,
    "mc_std_near_data": std_near,
    "mc_std_away_from_data": std_away,
    "mc_std_ratio": std_away / std_near,
}
for key, value in SUMMARY.items():
    print(f"{key:>24s}: {value:.4g}" if isinstance(value, float) else f"{key:>24s}: {value}")
