"""
Fragile explanations: the prediction stays, the saliency map moves
==================================================================

A perturbation of at most EPSILON per pixel, searched for by the top-k attack of Ghorbani, Abid
and Zou (2019), leaves a digit classifier's prediction unchanged but moves its gradient saliency
map away from the pixels it marked most important, far more than a random perturbation of the
same size; SmoothGrad (Smilkov et al. 2017), the gradient averaged over noisy copies of the
input, moves less under the same perturbation. (Unlike Ghorbani et al.'s code, which keeps
stepping and picks the best label-preserving iterate, the script rejects every step that would
change the label and scores the last iterate; every arm is scored on its last iterate, none is
picked by the overlap it is scored on.)

Figure: the three attacked digits whose gradient map moved most (lowest top-k overlap), the
original and the perturbed image (first two columns: they look alike), the gradient saliency map
of each (the original top-k pixels outlined), and the SmoothGrad maps of both. Look at the
outlined pixels: after the perturbation the gradient map puts its weight elsewhere, the
SmoothGrad map changes less. Right: the top-k overlap of the maps for every attacked digit, for
the attack, a random perturbation of the same size, and SmoothGrad under the attack.

Needs the TensorFlow backend for the input gradients and the gradient of the saliency map
(nested `tf.GradientTape`s, one marked cell).

Try:
- Set `BETA = 100.0`: the softplus surrogate is closer to the ReLU network; does the attack
  get better or worse? (The surrogate's second derivative concentrates near the kinks.)
- Set `EPSILON = 0.05`: how small can the perturbation be and still move the map?
- Set `SMOOTH_SIGMA = 0.05`: less smoothing; is SmoothGrad still stable?
- Keep, per digit, the attack iterate with the lowest overlap (as Ghorbani et al. do), and give
  the random arm the same: the best of `ATTACK_STEPS` label-preserving random draws. How much
  of the gap is left?
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

WIDTH = 64  # hidden units per layer (two ReLU layers)
EPOCHS = 30 if SMOKE else 300  # full-batch Adam steps
LEARNING_RATE = 0.01
N_IMAGES = 10 if SMOKE else 60  # test digits attacked (correctly classified ones)
EPSILON = 0.1  # L-infinity size of the perturbation (pixels in [0, 1])
ATTACK_STEPS = 10 if SMOKE else 60  # signed-gradient steps of the attack
STEP_SIZE = EPSILON / 10  # length of each step in the L-infinity norm
TOP_K = 8  # the top-k pixels (of 64) of a saliency map
BETA = 10.0  # softplus_beta(z) = log(1 + exp(beta z)) / beta: the attack's smooth surrogate
SMOOTH_SAMPLES = 16 if SMOKE else 64  # noisy copies averaged by SmoothGrad
SMOOTH_SIGMA = 0.15  # their noise standard deviation (15 % of the pixel range)

if not 0 < EPSILON <= 0.5:
    raise ValueError(f"EPSILON must be in (0, 0.5], got {EPSILON}")
if not 1 <= TOP_K <= 32:
    raise ValueError(f"TOP_K must be in [1, 32], got {TOP_K}")
if BETA <= 0:
    raise ValueError(f"BETA must be positive, got {BETA}")
if ATTACK_STEPS < 1:
    raise ValueError(f"ATTACK_STEPS must be a positive integer, got {ATTACK_STEPS}")
if SMOOTH_SAMPLES < 1 or SMOOTH_SIGMA <= 0:
    raise ValueError(
        f"need SMOOTH_SAMPLES >= 1 and SMOOTH_SIGMA > 0, got {SMOOTH_SAMPLES}, {SMOOTH_SIGMA}"
    )

# %% [markdown]
# ## A ReLU classifier

# %%
use_course_style()
data = load_digits(seed=SEED)
keras.utils.set_random_seed(SEED)
model = keras.Sequential(
    [
        keras.Input((64,)),
        keras.layers.Dense(WIDTH, activation="relu"),
        keras.layers.Dense(WIDTH, activation="relu"),
        keras.layers.Dense(10),
    ]
)
model.compile(
    optimizer=keras.optimizers.Adam(LEARNING_RATE),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)
# fit_fast replaces model.fit(x_train, y_train, epochs=EPOCHS, batch_size=len(x_train))
fit_fast(model, data.x_train, data.y_train, epochs=EPOCHS, every=EPOCHS, seed=SEED)
predicted = np.argmax(model.predict(data.x_test, verbose=0), axis=1)
test_accuracy = float(np.mean(predicted == data.y_test))
correct = np.flatnonzero(predicted == data.y_test)[:N_IMAGES]
x = data.x_test[correct]
classes = predicted[correct]
print(f"test accuracy {test_accuracy:.3f}; attacking {len(x)} correctly classified digits")
kernels = [ops.convert_to_numpy(layer.kernel) for layer in model.layers]
biases = [ops.convert_to_numpy(layer.bias) for layer in model.layers]


def logits(inputs, activation):
    """The trained network's logits with its hidden activation replaced by `activation`."""
    h = inputs
    for kernel, bias in zip(kernels[:-1], biases[:-1], strict=True):
        h = activation(ops.matmul(h, kernel) + bias)
    return ops.matmul(h, kernels[-1]) + biases[-1]


def softplus_beta(z):
    return ops.softplus(BETA * z) / BETA


# %% [markdown]
# ## Saliency maps, and why the attack needs a smooth surrogate
# The map of the predicted class $c$ is $S(x) = |\nabla_x f_c(x)|$ (elementwise), and SmoothGrad
# averages the gradient over Gaussian copies of the input,
#
# $$S_{\text{SG}}(x) = \Big|\frac1n \sum_{j=1}^{n} \nabla_x f_c(x + \sigma z_j)\Big|, \qquad
#   z_j \sim N(0, I),$$
#
# a Monte Carlo estimate of the gradient of the smoothed function $g = f_c * N(0, \sigma^2 I)$.
# Why it should be stabler: with $L = \sup_x \|\nabla f_c(x)\|_2$, differentiating under the
# integral gives $\nabla^2 g(x) = \tfrac1\sigma \mathbb E[\nabla f_c(x + \sigma z)\, z^\top]$, so
# $\|\nabla^2 g\|_{\mathrm{op}} \le \sqrt{2/\pi}\, L / \sigma$ and
# $\|\nabla g(x + \delta) - \nabla g(x)\|_2 \le \sqrt{2/\pi}\, L\, \|\delta\|_2 / \sigma$.
# That Lipschitz bound says something only for $\|\delta\|_2 \ll \sigma$. Here it does not
# apply: $\|\delta\|_\infty \le 0.1$ in 64 pixels allows $\|\delta\|_2$ up to 0.8, against
# $\sigma = 0.15$, and the bound then exceeds $L$ itself. It is also a statement about the
# expectation: with $n$ fixed draws SmoothGrad of a ReLU network is again piecewise constant in
# $x$. So the stability of SmoothGrad below is measured, not proven.
#
# To move $S$ the attack needs the derivative of $S$ with respect to $x$, i.e. the Hessian of
# $f_c$. For a ReLU network $f_c$ is piecewise linear: inside each activation region the
# gradient is constant and the Hessian is exactly zero, so gradient steps on the map go
# nowhere (the script checks that the attack gradient is exactly 0). Ghorbani et al. (2019) and
# Dombrowski et al. (2019) therefore differentiate a surrogate: the same weights with ReLU
# replaced by $\mathrm{softplus}_\beta(z) = \log(1 + e^{\beta z})/\beta$, which tends to ReLU as
# $\beta \to \infty$. The attack steps along the surrogate's map; every result is then measured
# on the ReLU network itself, the one being explained. (Its map is piecewise constant in $x$: it
# moves only when the perturbation changes which units are active.)
#
# This is the backend-specific cell of the script: gradients, and gradients of gradients.

# %%
import tensorflow as tf  # noqa: E402  (input gradients and their gradients need GradientTape)


def saliency(inputs, classes, activation=ops.relu):
    """|∇_x f_c(x)| for every row, c the row's entry of `classes`: shape (n, 64)."""
    inputs = tf.convert_to_tensor(inputs)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        chosen = tf.gather(logits(inputs, activation), classes, axis=1, batch_dims=1)
        total = tf.reduce_sum(chosen)
    return np.abs(np.asarray(tape.gradient(total, inputs)))


def attack_gradient(inputs, classes, top_mask, activation):
    """∇_x of the map's mass on the original top-k pixels, sum_i mask_i |∂f_c/∂x_i|."""
    inputs = tf.convert_to_tensor(inputs)
    with tf.GradientTape() as outer:
        outer.watch(inputs)
        with tf.GradientTape() as inner:
            inner.watch(inputs)
            chosen = tf.gather(logits(inputs, activation), classes, axis=1, batch_dims=1)
            total = tf.reduce_sum(chosen)
        grads = inner.gradient(total, inputs)
        mass = tf.reduce_sum(top_mask * tf.abs(grads))
    return np.asarray(outer.gradient(mass, inputs))


def smoothgrad(inputs, classes, noise):
    """SmoothGrad maps of the rows of inputs, with the fixed noise of shape (n_samples, 64)."""
    noisy = inputs[None] + noise[:, None, :]  # (samples, n, 64)
    flat = tf.convert_to_tensor(noisy.reshape(-1, 64))
    with tf.GradientTape() as tape:
        tape.watch(flat)
        out = logits(flat, ops.relu)
        chosen = tf.gather(out, np.tile(classes, len(noise)), axis=1, batch_dims=1)
        total = tf.reduce_sum(chosen)
    grads = np.asarray(tape.gradient(total, flat)).reshape(noisy.shape)
    return np.abs(grads.mean(axis=0))


# %% [markdown]
# ## The top-k attack (Ghorbani, Abid and Zou 2019)
# Let $T$ be the $k$ pixels with the largest $S_i(x)$. The attack decreases the map's mass on
# them, $D(\tilde x) = \sum_{i \in T} S_i(\tilde x)$ (computed on the surrogate), by signed
# steps projected back onto the box $\|\tilde x - x\|_\infty \le \varepsilon$, $0 \le \tilde x
# \le 1$, and rejects every step that would change the ReLU network's predicted class (Ghorbani
# et al.'s code instead keeps stepping and excludes label-changing iterates only when it picks
# the best one). The score is the top-k overlap $|T \cap \tilde T| / k$ of the ReLU maps at
# the *last* iterate.
#
# Two baselines, measured the same way: a random perturbation $\pm\varepsilon$ per pixel (how
# much any perturbation of this size moves the map), redrawn for a digit until it keeps the
# prediction, and SmoothGrad at the attacked input, with the same noise draws as at the
# original. Every arm is scored on one perturbed input per digit, none chosen by the overlap
# it is scored on: keeping the lowest overlap of many iterates or draws would favour whichever
# arm is given the most tries (an exercise measures it). And be fair to SmoothGrad: the attack
# aims at the gradient map, not at SmoothGrad; an attack through the smoothed map itself is an
# exercise.


# %%
def top_k_sets(maps):
    return np.argsort(-maps, axis=1)[:, :TOP_K]


def overlap(maps_a, maps_b):
    """|top-k(a) ∩ top-k(b)| / k for every row."""
    pairs = zip(top_k_sets(maps_a), top_k_sets(maps_b), strict=True)
    return np.array([len(np.intersect1d(a, b)) / TOP_K for a, b in pairs])


def predict(inputs):
    return np.argmax(ops.convert_to_numpy(logits(ops.convert_to_tensor(inputs), ops.relu)), 1)


original_map = saliency(x, classes)
top_mask = np.zeros_like(x)
np.put_along_axis(top_mask, top_k_sets(original_map), 1.0, axis=1)

relu_attack_gradient = float(np.max(np.abs(attack_gradient(x, classes, top_mask, ops.relu))))
print(f"attack gradient through the ReLU network: max |.| = {relu_attack_gradient}")

attacked = x.copy()
for _ in range(ATTACK_STEPS):
    step = -STEP_SIZE * np.sign(attack_gradient(attacked, classes, top_mask, softplus_beta))
    proposal = np.clip(np.clip(attacked + step, x - EPSILON, x + EPSILON), 0.0, 1.0)
    keep = predict(proposal) == classes  # the prediction must not change
    attacked = np.where(keep[:, None], proposal, attacked)
attacked_map = saliency(attacked, classes)
attack_overlap = overlap(original_map, attacked_map)  # the last iterate, no selection

rng = np.random.default_rng(SEED)
noise = SMOOTH_SIGMA * rng.standard_normal((SMOOTH_SAMPLES, 64)).astype(np.float32)
signs = rng.choice([-1.0, 1.0], size=x.shape).astype(np.float32)
random_perturbed = np.clip(x + EPSILON * signs, 0.0, 1.0)
random_draws = np.ones(len(x), dtype=int)
for _ in range(100):  # redraw the digits whose prediction changed
    changed = predict(random_perturbed) != classes
    if not changed.any():
        break
    signs = rng.choice([-1.0, 1.0], size=(changed.sum(), 64)).astype(np.float32)
    random_perturbed[changed] = np.clip(x[changed] + EPSILON * signs, 0.0, 1.0)
    random_draws += changed
random_overlap = overlap(original_map, saliency(random_perturbed, classes))

smooth_original = smoothgrad(x, classes, noise)  # the same noise for both maps
smooth_attacked = smoothgrad(attacked, classes, noise)
smooth_overlap = overlap(smooth_original, smooth_attacked)

prediction_kept = float(np.mean(predict(attacked) == classes))
random_prediction_kept = float(np.mean(predict(random_perturbed) == classes))
max_perturbation = float(np.max(np.abs(attacked - x)))
print(f"prediction kept for {prediction_kept:.0%}; max |perturbation| {max_perturbation:.3f}")
print(
    f"median top-{TOP_K} overlap with the original map: attack {np.median(attack_overlap):.2f}, "
    f"random signs {np.median(random_overlap):.2f}, SmoothGrad under the attack "
    f"{np.median(smooth_overlap):.2f}"
)

# %% [markdown]
# ## The figure

# %%
shown = np.argsort(attack_overlap, kind="stable")[:3]
fig = plt.figure(figsize=(15, 7.5))
grid = fig.add_gridspec(2, 2, width_ratios=[2.3, 1])
left = grid[:, 0].subgridspec(3, 6)
columns = [
    ("original", x, "gray_r"),
    (f"perturbed (ε = {EPSILON})", attacked, "gray_r"),
    ("gradient map", original_map, "magma_r"),
    ("gradient map, perturbed", attacked_map, "magma_r"),
    ("SmoothGrad", smooth_original, "magma_r"),
    ("SmoothGrad, perturbed", smooth_attacked, "magma_r"),
]
for row, index in enumerate(shown):
    for col, (name, images, cmap) in enumerate(columns):
        ax = fig.add_subplot(left[row, col])
        ax.imshow(images[index].reshape(8, 8), cmap=cmap, vmin=0 if col < 2 else None)
        if col >= 2:  # outline the original top-k pixels of this map's kind
            reference = original_map if col < 4 else smooth_original
            for pixel in top_k_sets(reference[index : index + 1])[0]:
                ax.add_patch(
                    plt.Rectangle(
                        (pixel % 8 - 0.5, pixel // 8 - 0.5), 1, 1, fill=False, ec="c", lw=1.5
                    )
                )
        ax.set(xticks=[], yticks=[])
        ax.grid(False)
        if row == 0:
            ax.set_title(name, fontsize=10)
        if col == 0:
            ax.set_ylabel(f"class {classes[index]}")
ax = fig.add_subplot(grid[:, 1])
ax.boxplot(
    [attack_overlap, random_overlap, smooth_overlap],
    tick_labels=["gradient,\nattack", "gradient,\nrandom ±ε", "SmoothGrad,\nattack"],
)
ax.set(
    ylabel=f"top-{TOP_K} overlap with the original map",
    ylim=(-0.05, 1.05),
    title=f"{len(x)} digits, prediction kept, last iterate",
)
fig.suptitle(
    "A perturbation that keeps the prediction moves the gradient map (cyan: original top-k)"
)
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "test_accuracy": test_accuracy,
    "n_images": len(x),
    "epsilon": EPSILON,
    "top_k": TOP_K,
    "prediction_kept": prediction_kept,
    "random_prediction_kept": random_prediction_kept,
    "random_max_draws": int(random_draws.max()),
    "max_perturbation": max_perturbation,
    "min_pixel": float(attacked.min()),
    "max_pixel": float(attacked.max()),
    "relu_attack_gradient": relu_attack_gradient,
    "median_overlap_attack": float(np.median(attack_overlap)),
    "mean_overlap_attack": float(np.mean(attack_overlap)),
    "median_overlap_random": float(np.median(random_overlap)),
    "mean_overlap_random": float(np.mean(random_overlap)),
    "median_overlap_smoothgrad": float(np.median(smooth_overlap)),
    "mean_overlap_smoothgrad": float(np.mean(smooth_overlap)),
    "se_gap_random": float(np.std(random_overlap - attack_overlap, ddof=1) / np.sqrt(len(x))),
    "se_gap_smoothgrad": float(np.std(smooth_overlap - attack_overlap, ddof=1) / np.sqrt(len(x))),
}
for key, value in SUMMARY.items():
    print(f"{key:>28s}: {value:.4g}" if isinstance(value, float) else f"{key:>28s}: {value}")
