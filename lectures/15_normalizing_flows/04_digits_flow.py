"""
A flow on digits: samples, interpolation, and what its likelihood does and does not detect
==========================================================================================

A RealNVP flow trained by maximum likelihood on dequantized 8 x 8 digits, one class held out,
samples digit-like images, interpolates between digits in its base space and separates digits
from noise images perfectly by likelihood; a held-out digit class and faint copies of test
digits it separates far less well.

Top: samples at temperatures 1 and 0.7 (z ~ N(0, T² I)), and the images along the straight
line between the base-space images of two test digits. Bottom left: histograms of the
likelihood in bits per dimension for test digits of the training classes, test digits of the
held-out class, the same test digits at half intensity ("faint"), uniform noise images and the
17 constant images. Bottom right: the ROC curves of the score "higher likelihood means
in-distribution". Look at the held-out class and the faint digits: their histograms overlap
the training classes', while noise lies tens of bits per dimension away. Nalisnick et al.
(2019) found flows that give a whole simpler data set *higher* likelihood than their own
training data; halving the intensity lowers the pixel variance, the quantity their
second-order analysis links to a higher likelihood, which makes faint digits the natural test
case. Here neither constant nor faint images show the failure: each constant image is less
likely than the median test digit, and faint digits are on average less likely than the test
digits. Faint digits and the held-out class are only weakly detected (AUROC about 0.7).
The bits per dimension of the test digits are compared with those of the model that treats
the 64 pixels as independent, each with its histogram of levels from the training digits.

Try:
- Set `HELD_OUT = 0`: a round, heavily inked digit. Is it easier to detect than the thin 1?
- Set `TEMPERATURES = (1.0, 0.5)`: how do the samples change? Why do base points drawn at a
  smaller T have a higher base density?
- Set `FAINT = 0.25`: fainter digits. Does the flow detect them better or worse?
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
from sklearn.metrics import roc_auc_score, roc_curve

# %% [markdown]
# ## Parameters

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

HELD_OUT = 1  # the digit class left out of training
LEVELS = 17  # the bundled digits have integer pixel values 0..16
ALPHA = 0.05  # logit transform of [0, 1] to R: logit(ALPHA + (1 - 2 ALPHA) v)
N_LAYERS = 4 if SMOKE else 8  # coupling layers, checkerboard masks alternating
HIDDEN = 128
EPOCHS = 5 if SMOKE else 150
BATCH_SIZE = 256
LEARNING_RATE = 1e-3
EVERY = 5 if SMOKE else 25
N_NOISE = 300  # uniform noise images for the OOD test
FAINT = 0.5  # faint digits: pixel levels multiplied by FAINT and rounded
TEMPERATURES = (1.0, 0.7)
N_SAMPLES_SHOWN = 8

if HELD_OUT not in range(10):
    raise ValueError(f"HELD_OUT must be a digit 0..9, got {HELD_OUT!r}")
if not 0 < ALPHA < 0.5:
    raise ValueError(f"ALPHA must be in (0, 0.5), got {ALPHA!r}")
if not 0 < FAINT < 1:
    raise ValueError(f"FAINT must be an intensity factor in (0, 1), got {FAINT!r}")
if len(TEMPERATURES) < 1 or min(TEMPERATURES) <= 0:
    raise ValueError(f"TEMPERATURES must be positive numbers, got {TEMPERATURES!r}")
if N_LAYERS < 1:
    raise ValueError(f"N_LAYERS must be at least 1, got {N_LAYERS}")

# %% [markdown]
# ## Data: dequantization and the logit transform
# A pixel takes one of $L = 17$ values $k \in \{0, \dots, 16\}$. The likelihood of a
# continuous density on discrete data is unbounded (mass can concentrate on the data
# points), so each pixel is *dequantized*:
# $v = (k + u)/L$ with $u \sim U(0, 1)$ fresh at every epoch. For any density $p$ on
# $[0, 1]^{64}$, $\log P(k) \ge \mathbb E_u \log\big(p(v) / L^{64}\big)$ (Jensen; Theis et al.
# 2016), so the continuous NLL bounds the discrete one. Then
# $w = \operatorname{logit}(\alpha + (1 - 2\alpha) v)$ maps $(0,1)$ onto the interval
# $(\operatorname{logit}\alpha, \operatorname{logit}(1 - \alpha)) = (-2.94, 2.94)$, not onto
# $\mathbb R$: the flow's mass outside this cube is lost, so $p(v)$ integrates to at most 1;
# a sub-probability still gives a valid code length, and the bits per dimension remain an
# upper bound. The transform has
# $$\log\left|\frac{dw}{dv}\right| = \log(1 - 2\alpha) - \log s - \log(1 - s),
#   \qquad s = \alpha + (1 - 2\alpha) v,$$
# and the flow models $w$. The likelihood is reported in *bits per dimension*,
# $\mathrm{bpd} = -\log_2 \big(p(v)/L^{64}\big) / 64$; a uniform distribution over the
# $L^{64}$ images has $\log_2 17 = 4.09$ bits per dimension.

# %%
keras.utils.set_random_seed(SEED)
split = load_digits(seed=SEED)
levels_train = np.round(split.x_train * 16).astype(np.int64)
levels_train = np.concatenate([levels_train, np.round(split.x_val * 16).astype(np.int64)])
y_train = np.concatenate([split.y_train, split.y_val])
levels_test = np.round(split.x_test * 16).astype(np.int64)
train_levels = levels_train[y_train != HELD_OUT]
in_test = levels_test[split.y_test != HELD_OUT]
held_out_test = levels_test[split.y_test == HELD_OUT]
rng = np.random.default_rng(SEED)
noise_images = rng.integers(0, LEVELS, size=(N_NOISE, 64))
constant_images = np.repeat(np.arange(LEVELS)[:, None], 64, axis=1)
faint_images = np.round(FAINT * in_test).astype(np.int64)
print(f"training on {len(train_levels)} digits (class {HELD_OUT} held out)")


def to_logit(v):
    """w = logit(alpha + (1 - 2 alpha) v), for images v in [0, 1]."""
    s = ALPHA + (1 - 2 * ALPHA) * v
    return np.log(s) - np.log1p(-s)


def from_logit(w):
    return (1 / (1 + np.exp(-w)) - ALPHA) / (1 - 2 * ALPHA)


# %% [markdown]
# ## The flow
# The coupling layer and the flow of scripts 02 and 03, with checkerboard masks on the
# $8 \times 8$ grid, $m_{ij} = (i + j) \bmod 2$, alternating with $1 - m$.


# %%
class AffineCoupling(keras.layers.Layer):
    """RealNVP affine coupling layer y = m*x + (1-m)*(x*exp(s(m*x)) + t(m*x))."""

    def __init__(self, mask, hidden=64, **kwargs):
        super().__init__(**kwargs)
        mask = np.asarray(mask, dtype=np.float32)
        if mask.ndim != 1 or not np.all((mask == 0) | (mask == 1)):
            raise ValueError(f"mask must be a vector of zeros and ones, got {mask!r}")
        self.mask = mask
        dim = len(self.mask)
        self.hidden_1 = keras.layers.Dense(hidden, activation="relu")
        self.hidden_2 = keras.layers.Dense(hidden, activation="relu")
        self.scale = keras.layers.Dense(dim, activation="tanh", kernel_initializer="zeros")
        self.shift = keras.layers.Dense(dim, kernel_initializer="zeros")

    def build(self, input_shape):
        self.hidden_1.build(input_shape)
        self.hidden_2.build(self.hidden_1.compute_output_shape(input_shape))
        hidden_shape = self.hidden_2.compute_output_shape(input_shape)
        self.scale.build(hidden_shape)
        self.shift.build(hidden_shape)

    def _scale_and_shift(self, x):
        m = ops.cast(self.mask, x.dtype)
        h = self.hidden_2(self.hidden_1(m * x))
        return (1 - m) * self.scale(h), (1 - m) * self.shift(h)

    def forward(self, x):
        s, t = self._scale_and_shift(x)
        m = ops.cast(self.mask, x.dtype)
        return m * x + (1 - m) * (x * ops.exp(s) + t), ops.sum(s, axis=-1)

    def inverse(self, y):
        s, t = self._scale_and_shift(y)
        m = ops.cast(self.mask, y.dtype)
        return m * y + (1 - m) * (y - t) * ops.exp(-s)

    def call(self, x):
        return self.forward(x)[0]


class DigitFlow(keras.Model):
    """Dequantization, logit transform and a stack of coupling layers.

    Called on pixel levels k (floats 0..16), it returns each image's bits per dimension
    -log2 p(k + u) / 64 for a fresh uniform u: the loss, and a bound on -log2 P(k) / 64.
    """

    def __init__(self, masks, hidden, seed, **kwargs):
        super().__init__(**kwargs)
        self.dim = len(masks[0])
        self.couplings = [AffineCoupling(mask, hidden) for mask in masks]
        self.noise_seed = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        for layer in self.couplings:
            layer.build(input_shape)

    def to_base(self, w):
        log_det = ops.zeros(ops.shape(w)[:1])
        for layer in self.couplings:
            w, layer_log_det = layer.forward(w)
            log_det = log_det + layer_log_det
        return w, log_det

    def from_base(self, z):
        for layer in reversed(self.couplings):
            z = layer.inverse(z)
        return z

    def call(self, levels):
        u = keras.random.uniform(ops.shape(levels), seed=self.noise_seed)
        s = ALPHA + (1 - 2 * ALPHA) * (levels + u) / LEVELS
        w = ops.log(s) - ops.log1p(-s)
        log_det_logit = ops.sum(np.log(1 - 2 * ALPHA) - ops.log(s) - ops.log1p(-s), axis=-1)
        z, log_det = self.to_base(w)
        log_p_w = -0.5 * ops.sum(z**2, axis=-1) - 0.5 * self.dim * np.log(2 * np.pi) + log_det
        log_p_y = log_p_w + log_det_logit - self.dim * np.log(LEVELS)  # y = k + u = L v
        return -log_p_y / (self.dim * np.log(2.0))


def mean_of_prediction(y_true, y_pred):
    """The loss is the model's output itself (the NLL), averaged over the batch."""
    return ops.mean(y_pred)


checkerboard = (np.add.outer(np.arange(8), np.arange(8)) % 2).ravel().astype(np.float32)
masks = [checkerboard if k % 2 == 0 else 1 - checkerboard for k in range(N_LAYERS)]
keras.utils.set_random_seed(SEED)
flow = DigitFlow(masks, HIDDEN, seed=SEED)
flow.build((None, 64))
flow.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss=mean_of_prediction)
# Adam's slot variables are created before the training step is traced, so it is traced once.
flow.optimizer.build(flow.trainable_variables)
print(f"{flow.count_params():,} parameters in {N_LAYERS} coupling layers")

# %% [markdown]
# ## Training
# The loss is the model's output, the bits per dimension; every pass draws a fresh
# dequantization noise $u$ (the model's own seed generator), so the flow never sees the same
# continuous image twice.

# %%
# Replaces flow.fit(train_levels, zeros, batch_size=BATCH_SIZE, epochs=EPOCHS, verbose=0),
# recording every EVERY epochs.
history = fit_fast(
    flow,
    train_levels.astype(np.float32),
    np.zeros(len(train_levels), dtype=np.float32),
    epochs=EPOCHS,
    batch_size=BATCH_SIZE,
    every=EVERY,
    seed=SEED,
)


def bits_per_dim(levels):
    """-log2 p(k + u) / 64 per image, one dequantization draw u."""
    return ops.convert_to_numpy(flow(levels.astype(np.float32))).astype(np.float64)


bpd = {
    "training classes": bits_per_dim(in_test),
    f"held-out class {HELD_OUT}": bits_per_dim(held_out_test),
    "uniform noise": bits_per_dim(noise_images),
    f"faint digits (x {FAINT})": bits_per_dim(faint_images),
    "constant images": bits_per_dim(constant_images),
}
bpd_train = float(np.mean(bits_per_dim(train_levels)))
for name, values in bpd.items():
    print(f"{name:>18s}: {values.mean():.3f} bits/dim (min {values.min():.3f})")

# %% [markdown]
# ## A baseline: independent pixels
# The model that draws the 64 pixels independently, pixel $j$ with the frequencies
# $\hat P_j(k) = (n_{jk} + 1) / (n + L)$ of its levels in the $n$ training digits (add-one
# smoothing: no level gets probability 0), has the exact discrete bits per dimension
# $-\sum_j \log_2 \hat P_j(k_j) / 64$. The flow must beat it by modelling the dependence
# between pixels; the comparison is paired (the same test digits).

# %%
level_counts = np.stack([np.bincount(train_levels[:, j], minlength=LEVELS) for j in range(64)])
pixel_probability = (level_counts + 1) / (len(train_levels) + LEVELS)
bpd_independent_points = -np.log2(pixel_probability[np.arange(64), in_test]).sum(axis=1) / 64
gap_independent_points = bpd_independent_points - bpd["training classes"]
gap_independent = float(gap_independent_points.mean())
gap_independent_se = float(gap_independent_points.std(ddof=1) / np.sqrt(len(in_test)))
print(
    f"independent pixels: {bpd_independent_points.mean():.3f} bits/dim; the flow is "
    f"{gap_independent:.3f} lower (standard error {gap_independent_se:.3f})"
)

# %% [markdown]
# ## Likelihood as an out-of-distribution score
# Score an image by its log-likelihood; the AUROC is the probability that a random test digit
# of the training classes scores higher than a random image of the other group (1: perfect
# separation, 0.5: none, below 0.5: the other group looks *more* in-distribution).

# %%
in_scores = -bpd["training classes"]


def auroc(out_bpd):
    labels = np.concatenate([np.ones(len(in_scores)), np.zeros(len(out_bpd))])
    return float(roc_auc_score(labels, np.concatenate([in_scores, -out_bpd])))


auroc_noise = auroc(bpd["uniform noise"])
auroc_held_out = auroc(bpd[f"held-out class {HELD_OUT}"])
auroc_constant = auroc(bpd["constant images"])
auroc_faint = auroc(bpd[f"faint digits (x {FAINT})"])
constant_beats_median = float(np.mean(bpd["constant images"] < np.median(bpd["training classes"])))
print(
    f"AUROC: noise {auroc_noise:.3f}, held-out class {auroc_held_out:.3f}, "
    f"constant {auroc_constant:.3f}, faint {auroc_faint:.3f}"
)
print(f"constant images more likely than the median test digit: {constant_beats_median:.0%}")

# %% [markdown]
# ## Samples and interpolation in the base space

# %%
sample_seed = keras.random.SeedGenerator(SEED)
samples = {}
for temperature in TEMPERATURES:
    z = temperature * keras.random.normal((N_SAMPLES_SHOWN, 64), seed=sample_seed)
    samples[temperature] = np.clip(from_logit(ops.convert_to_numpy(flow.from_base(z))), 0, 1)
w_pair = to_logit((in_test[:2] + 0.5) / LEVELS)
z_pair = ops.convert_to_numpy(flow.to_base(w_pair.astype(np.float32))[0])
lambdas = np.linspace(0, 1, N_SAMPLES_SHOWN)
z_line = ((1 - lambdas[:, None]) * z_pair[0] + lambdas[:, None] * z_pair[1]).astype(np.float32)
interpolation = np.clip(from_logit(ops.convert_to_numpy(flow.from_base(z_line))), 0, 1)
# The inverse is exact: decoding the end points gives back the two digits.
end_point_error = float(np.max(np.abs(interpolation[[0, -1]] - (in_test[:2] + 0.5) / LEVELS)))

# %% [markdown]
# ## Figure

# %%
use_course_style()
fig = plt.figure(figsize=(16, 10))
top = fig.subfigures(2, 1, height_ratios=[1.0, 1.25])
rows = top[0].subplots(3, N_SAMPLES_SHOWN)
row_images = [samples[t] for t in TEMPERATURES] + [interpolation]
row_names = [f"samples, T = {t}" for t in TEMPERATURES] + ["interpolation"]
for r, (images, name) in enumerate(zip(row_images, row_names, strict=True)):
    for c in range(N_SAMPLES_SHOWN):
        ax = rows[r, c]
        ax.imshow(images[c].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    rows[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=12)
top[0].suptitle("Samples from the flow, and a straight line between two digits in the base space")

ax_hist, ax_roc = top[1].subplots(1, 2)
bins = np.geomspace(
    min(v.min() for v in bpd.values()) * 0.95, max(v.max() for v in bpd.values()) * 1.05, 80
)
colours = dict(zip(bpd, ["C0", "C1", "C2", "C3", "C4"], strict=True))
for name, values in bpd.items():
    weights = np.full(len(values), 1 / len(values))
    # Filled bars for the training classes and noise, outlines for the groups drawn over them.
    filled = name in ("training classes", "uniform noise")
    ax_hist.hist(
        values,
        bins=bins,
        weights=weights,
        histtype="stepfilled" if filled else "step",
        alpha=0.5 if filled else 1.0,
        linewidth=2,
        color=colours[name],
        label=name,
    )
ax_hist.axvline(np.log2(LEVELS), color="black", linestyle=":", label="uniform over images")
ax_hist.set(
    xscale="log",
    xlabel="bits per dimension (log scale; lower: more likely)",
    ylabel="fraction of the group's images per bin",
    title="Likelihood under the flow",
)
ax_hist.legend(fontsize=10)
for name, out_key, value in [
    ("uniform noise", "uniform noise", auroc_noise),
    (f"held-out class {HELD_OUT}", f"held-out class {HELD_OUT}", auroc_held_out),
    (f"faint digits (x {FAINT})", f"faint digits (x {FAINT})", auroc_faint),
    ("constant images", "constant images", auroc_constant),
]:
    labels = np.concatenate([np.ones(len(in_scores)), np.zeros(len(bpd[out_key]))])
    fpr, tpr, _ = roc_curve(labels, np.concatenate([in_scores, -bpd[out_key]]))
    ax_roc.plot(fpr, tpr, color=colours[out_key], label=f"{name}: AUROC {value:.2f}")
ax_roc.plot([0, 1], [0, 1], color="gray", linestyle="--")
ax_roc.set(
    xlabel="false positive rate (OOD called in-distribution)",
    ylabel="true positive rate",
    title="Likelihood as an OOD score:\ntest digits of the training classes against ...",
)
ax_roc.legend(loc="lower right")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "epochs": EPOCHS,
    "held_out_class": HELD_OUT,
    "bpd_train": bpd_train,
    "bpd_test_in": float(np.mean(bpd["training classes"])),
    "bpd_held_out": float(np.mean(bpd[f"held-out class {HELD_OUT}"])),
    "bpd_noise": float(np.mean(bpd["uniform noise"])),
    "bpd_constant_min": float(np.min(bpd["constant images"])),
    "bpd_constant_mean": float(np.mean(bpd["constant images"])),
    "bpd_uniform": float(np.log2(LEVELS)),
    "bpd_independent_pixels": float(bpd_independent_points.mean()),
    "bpd_gap_independent": gap_independent,
    "bpd_gap_independent_se": gap_independent_se,
    "auroc_noise": auroc_noise,
    "auroc_held_out": auroc_held_out,
    "auroc_constant": auroc_constant,
    "auroc_faint": auroc_faint,
    "bpd_faint": float(np.mean(bpd[f"faint digits (x {FAINT})"])),
    "bpd_test_in_max": float(np.max(bpd["training classes"])),
    "bpd_noise_min": float(np.min(bpd["uniform noise"])),
    "constant_more_likely_than_median_digit": constant_beats_median,
    "interpolation_end_point_error": end_point_error,
    "final_train_loss": float(history["loss"][-1]),
}
for key, value in SUMMARY.items():
    print(f"{key:>40s}: {value:.4g}" if isinstance(value, float) else f"{key:>40s}: {value}")
