"""
FGSM and PGD: adversarial digits from the gradient of the loss with respect to the input
========================================================================================

An MLP and a small CNN trained on scikit-learn's 8x8 digits (test accuracy about 97 %) are
attacked inside the L∞ ball of radius ε around each test image, kept in the pixel range
[0, 1]: once by the fast gradient sign method (FGSM, Goodfellow, Shlens and Szegedy 2015),
one step of size ε along the sign of the input gradient, and once by projected gradient ascent
(PGD, Madry et al. 2018), 20 signed steps from a random start, each projected back onto the
ball and the pixel range.

Left: test accuracy against ε (in pixel units of [0, 1] images; 1/16 is one grey level of the
digits) for both models and both attacks. Right: test digits, the PGD perturbation at the
largest ε (its own colour scale) and the perturbed digit on the same grey scale as the
original, titled with the MLP's new prediction and the reading of a 5-nearest-neighbour
classifier that no gradient attacked. Look at the gap between the FGSM and PGD curves: a
single linearization underestimates how fragile the network is (PGD is not stronger digit by
digit: it returns its last iterate and maximizes the loss, not the error, so a few digits fall
to FGSM only; the SUMMARY counts them); and at the perturbed digits: the change is at most
three grey levels per pixel, the digit is still plain to the eye, yet almost every
prediction of the MLP is wrong. The 5-NN reader is fooled far less, but not unharmed: its
accuracy drops from 0.98 to about 0.78, while random ±ε signs of the same size leave it at
0.98, since PGD greys the background visibly.

Needs the TensorFlow backend for the input gradient (`tf.GradientTape` in one marked cell).

Try:
- Set `PGD_STEPS = 1` and `PGD_STEP_SIZE = 1.0`: PGD becomes FGSM from a random start. Here it
  is weaker than FGSM: why? (What is the mean of min(u + ε, ε) for u ~ U[-ε, ε]?)
- Set `EPS_64 = [0, 4, 8, 16, 32]` (up to half the pixel range): at which ε does every
  model reach 0 %, and what do the perturbed digits look like there?
- Train longer (`EPOCHS = 200`): is the better-fitted network more or less robust? Compare
  FGSM and PGD for the CNN: a large gap is the sign of gradient masking, against which the
  random start and the many steps of PGD help.
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_digits_canvas
from common.plotting import use_course_style
from common.training import fit_fast

import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import ops
from sklearn.neighbors import KNeighborsClassifier

# %% [markdown]
# ## Parameters
# The radii are multiples of 1/64, $\varepsilon \in \{0, 2, 4, \dots, 12\}/64$, so that the bounds
# $x \pm \varepsilon$ are exact in float32 (the pixels are multiples of 1/16): the
# projection below then keeps every perturbed image in the ball *exactly*, not up to rounding.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

EPS_64 = [0, 2, 4, 6, 8, 10, 12]  # L-infinity radii eps = EPS_64 / 64, in pixel units of [0, 1]
PGD_STEPS = 2 if SMOKE else 20  # projected signed-gradient steps
PGD_STEP_SIZE = 2.5 / PGD_STEPS  # step alpha = PGD_STEP_SIZE * eps (a common choice: 2.5 eps / K)
EPOCHS = 1 if SMOKE else 30  # training epochs of each model
BATCH_SIZE = None if SMOKE else 256  # None: one full batch per epoch (fit_fast)
N_EXAMPLES = 3 if SMOKE else 5  # digits shown in the figure

if any(not isinstance(k, int) or not 0 <= k <= 64 for k in EPS_64) or EPS_64[0] != 0:
    raise ValueError(f"EPS_64 must be integers in [0, 64] starting with 0, got {EPS_64}")
if PGD_STEPS < 1 or PGD_STEP_SIZE <= 0:
    raise ValueError(
        f"PGD_STEPS >= 1 and PGD_STEP_SIZE > 0 needed, got {PGD_STEPS}, {PGD_STEP_SIZE}"
    )
EPS = np.array(EPS_64, dtype=np.float32) / 64

# %% [markdown]
# ## Two classifiers of 8x8 digits
# 1,347 training digits, 450 test digits (the split of `load_digits` for this seed), pixels
# in $[0, 1]$. Both networks output logits $z(x) \in \mathbb R^{10}$ and are trained with the
# cross-entropy $L(x, y) = -\log \operatorname{softmax}(z(x))_y$.

# %%
split = load_digits_canvas(canvas_size=8, val_fraction=0.0, test_fraction=0.25, seed=SEED)
x_train, y_train, x_test, y_test = split.x_train, split.y_train, split.x_test, split.y_test


def make_mlp():
    inputs = keras.Input(shape=(8, 8, 1))
    h = keras.layers.Flatten()(inputs)
    h = keras.layers.Dense(128, activation="relu")(h)
    return keras.Model(inputs, keras.layers.Dense(10)(h), name="mlp")


def make_cnn():
    inputs = keras.Input(shape=(8, 8, 1))
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    h = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(h)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Flatten()(h)
    return keras.Model(inputs, keras.layers.Dense(10)(h), name="cnn")


models = {}
for name, make in (("MLP", make_mlp), ("CNN", make_cnn)):
    keras.utils.set_random_seed(SEED)  # same seed for each model's weights and batches
    model = make()
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    # fit_fast is model.fit(x_train, y_train, epochs=EPOCHS, batch_size=BATCH_SIZE) with the
    # per-epoch overhead paid once (BATCH_SIZE None: fit_fast's full batch, len(x_train)).
    fit_fast(model, x_train, y_train, epochs=EPOCHS, batch_size=BATCH_SIZE, every=EPOCHS, seed=SEED)
    models[name] = model

# %% [markdown]
# ## The input gradient (TensorFlow)
# Both attacks need $\nabla_x L(x, y)$, the gradient of the loss with respect to the *input*,
# not the weights. This is the backend-specific cell: `tf.GradientTape` watches the input
# tensor, and `tf.function` compiles the forward and backward pass once per model. The loss is
# summed over the batch, so row $i$ of the gradient is $\nabla_x L(x_i, y_i)$.

# %%
import tensorflow as tf  # noqa: E402  (input gradients by tf.GradientTape)


def make_input_gradient(model):
    """A compiled function (x, y) -> the gradient of the summed loss with respect to x."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")

    @tf.function(reduce_retracing=True)
    def input_gradient(x, y):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_fn(y, model(x, training=False))
        return tape.gradient(loss, x)

    return input_gradient


# %% [markdown]
# ## The MLP's input gradient by hand
# An independent check of the tape. The MLP computes $h = W_1^\top x + b_1$,
# $z = W_2^\top \mathrm{relu}(h) + b_2$ (Keras stores kernels as (inputs, outputs)); with
# $p = \operatorname{softmax}(z)$ and $L = -\log p_y$, the chain rule gives
# $$ \nabla_z L = p - e_y, \qquad
#   \nabla_x L = W_1\big(\mathbb 1[h > 0] \odot W_2 (p - e_y)\big), $$
# computed below in float64 NumPy for every test digit and compared with the float32 tape.

# %%
w1, b1, w2, b2 = (np.asarray(v, dtype=np.float64) for v in models["MLP"].get_weights())
x_flat = x_test.reshape(len(x_test), -1).astype(np.float64)
h = x_flat @ w1 + b1
z = np.maximum(h, 0) @ w2 + b2
p = np.exp(z - z.max(axis=1, keepdims=True))
p /= p.sum(axis=1, keepdims=True)
grad_by_hand = ((h > 0) * ((p - np.eye(10)[y_test]) @ w2.T)) @ w1.T
grad_by_tape = ops.convert_to_numpy(make_input_gradient(models["MLP"])(x_test, y_test))
gradient_error = float(
    np.max(np.abs(grad_by_tape.reshape(len(x_test), -1) - grad_by_hand))
    / np.max(np.abs(grad_by_hand))
)
print(f"input gradient, tape vs hand: max difference {gradient_error:.1e} of the largest entry")


# %% [markdown]
# ## FGSM and PGD
# The steepest first-order ascent in the L∞ ball is $\varepsilon\operatorname{sign}(g)$,
# $g = \nabla_x L(x, y)$ (Hölder, as for the linear score of script 01). With $\Pi$ the
# projection onto $B = \{x' : \|x' - x\|_\infty \le \varepsilon\} \cap [0, 1]^d$, a box, so
# $\Pi$ clips every pixel to $[\max(x_i - \varepsilon, 0), \min(x_i + \varepsilon, 1)]$:
# $$ \text{FGSM:}\quad x' = \Pi\big(x + \varepsilon \operatorname{sign}(\nabla_x L(x, y))\big), $$
# $$ \text{PGD:}\quad x^{0} = \Pi(x + u),\ u \sim U[-\varepsilon, \varepsilon]^d, \qquad
#   x^{k+1} = \Pi\big(x^{k} + \alpha \operatorname{sign}(\nabla_x L(x^{k}, y))\big),
#   \quad k < K, $$
# with $K$ = `PGD_STEPS` = 20 and $\alpha = 2.5\,\varepsilon/K$, a common choice: the path
# length $2.5\,\varepsilon$ exceeds the ball's diameter $2\varepsilon$, so a pixel can go from
# one face of the box to the other, with slack for steps cut short by the projection. (Madry
# et al. 2018 used $\varepsilon = 0.3$ and 40 steps of 0.01 on MNIST, a path of
# $1.33\,\varepsilon$, and 7 steps of 2/255 at $\varepsilon = 8/255$ on CIFAR-10.) PGD is
# gradient ascent on the loss, constrained to $B$: where the loss
# is far from linear on the scale of $\varepsilon$, it typically finds larger losses than
# FGSM's single step. Typically, not always: PGD returns its last iterate, not the best one,
# and a larger loss need not mean a wrong class, so a few digits are misclassified by FGSM
# and not by PGD. The cell counts, per radius, the digits that only FGSM flips and those that
# only PGD flips; the accuracy gap is their difference divided by 450. Every radius is
# attacked at once: the test set is repeated once per $\varepsilon$ and
# $\varepsilon$ is a per-image tensor.


# %%
def project(x_adv, x, eps):
    """Clip x_adv to the L-infinity ball of radius eps around x and to the pixel range [0, 1]."""
    x_adv = ops.minimum(ops.maximum(x_adv, x - eps), x + eps)
    return ops.clip(x_adv, 0.0, 1.0)


def fgsm(input_gradient, x, y, eps):
    return project(x + eps * ops.sign(input_gradient(x, y)), x, eps)


def pgd(input_gradient, x, y, eps, seed):
    alpha = PGD_STEP_SIZE * eps
    x_adv = project(x + eps * keras.random.uniform(ops.shape(x), -1.0, 1.0, seed=seed), x, eps)
    for _ in range(PGD_STEPS):
        x_adv = project(x_adv + alpha * ops.sign(input_gradient(x_adv, y)), x, eps)
    return x_adv


n_test, n_eps = len(x_test), len(EPS)
x_rep = ops.convert_to_tensor(np.tile(x_test, (n_eps, 1, 1, 1)))
y_rep = ops.convert_to_tensor(np.tile(y_test, n_eps))
eps_rep = ops.convert_to_tensor(np.repeat(EPS, n_test).reshape(-1, 1, 1, 1))

accuracy, violation, adversarial, correct = {}, {}, {}, {}
seed_generator = keras.random.SeedGenerator(SEED)
for name, model in models.items():
    input_gradient = make_input_gradient(model)
    for attack in ("FGSM", "PGD"):
        if attack == "FGSM":
            x_adv = fgsm(input_gradient, x_rep, y_rep, eps_rep)
        else:
            x_adv = pgd(input_gradient, x_rep, y_rep, eps_rep, seed_generator)
        x_adv = ops.convert_to_numpy(x_adv)
        predicted = np.argmax(ops.convert_to_numpy(model(x_adv)), axis=1)
        correct[name, attack] = (predicted == np.tile(y_test, n_eps)).reshape(n_eps, n_test)
        accuracy[name, attack] = correct[name, attack].mean(axis=1)
        # Distance beyond the ball and beyond [0, 1], in float64 (exact for float32 inputs).
        distance = np.abs(x_adv.astype(np.float64) - np.tile(x_test, (n_eps, 1, 1, 1)))
        outside_ball = np.max(distance - np.repeat(EPS, n_test).reshape(-1, 1, 1, 1))
        outside_range = max(-float(x_adv.min()), float(x_adv.max()) - 1.0)
        violation[name, attack] = max(float(outside_ball), outside_range)
        adversarial[name, attack] = x_adv.reshape(n_eps, n_test, 8, 8)
        print(f"{name} {attack}: accuracy {np.round(accuracy[name, attack], 3)}")
print("largest violation of the ball or of [0, 1]:", max(violation.values()))
# Per radius: digits misclassified by FGSM only, and by PGD only (the attacks' disagreements).
fgsm_only = {name: np.sum(correct[name, "PGD"] & ~correct[name, "FGSM"], axis=1) for name in models}
pgd_only = {name: np.sum(correct[name, "FGSM"] & ~correct[name, "PGD"], axis=1) for name in models}
for name in models:
    print(f"{name}: flipped by FGSM only {fgsm_only[name]}, by PGD only {pgd_only[name]}")

# %% [markdown]
# ## Is the digit still the same digit?
# A proxy for the eye that no gradient attacked: the 5-nearest-neighbour classifier on raw
# pixels (scikit-learn), fitted to the training digits, reads the MLP's PGD digits at the
# largest $\varepsilon$. It is a transfer test, not a proof of invisibility, and it has a
# control: the same reader on random signs of the same size, $\Pi(x \pm \varepsilon)$ with
# independent fair signs. Where the reader still reads the true label, the attack changed the
# MLP's decision far more than the digit's appearance to a simple observer; what it loses
# beyond the control, PGD's perturbation did change (it greys the background, where every
# pixel can only move up). How PGD fills the box: the fractions of pixels with
# $|\delta_i| = \varepsilon$, with $\delta_i = 0$, and in between.

# %%
knn = KNeighborsClassifier(n_neighbors=5).fit(x_train.reshape(len(x_train), -1), y_train)
knn_clean = knn.score(x_test.reshape(n_test, -1), y_test)
knn_adversarial = knn.score(adversarial["MLP", "PGD"][-1].reshape(n_test, -1), y_test)
signs = np.random.default_rng(SEED).choice([-1.0, 1.0], size=x_test.shape).astype(np.float32)
x_random = ops.convert_to_numpy(project(x_test + EPS[-1] * signs, x_test, EPS[-1]))
knn_random = knn.score(x_random.reshape(n_test, -1), y_test)
print(
    f"5-NN accuracy: clean {knn_clean:.3f}, on the MLP's PGD digits {knn_adversarial:.3f}, "
    f"on random signs of the same size {knn_random:.3f}"
)
delta_size = np.abs(adversarial["MLP", "PGD"][-1] - x_test[..., 0])
at_bound = float(np.mean(delta_size == EPS[-1]))
unchanged = float(np.mean(delta_size == 0))
print(f"PGD pixels: {at_bound:.1%} at +-eps, {unchanged:.1%} unchanged, the rest in between")

# %% [markdown]
# ## Figure

# %%
use_course_style()
fig = plt.figure(figsize=(15, 6.4))
left, right = fig.subfigures(1, 2, width_ratios=[1.0, 1.15])
ax = left.subplots()
styles = {("MLP", "FGSM"): ("tab:blue", "o--"), ("MLP", "PGD"): ("tab:blue", "o-")}
styles |= {("CNN", "FGSM"): ("tab:orange", "s--"), ("CNN", "PGD"): ("tab:orange", "s-")}
for key, (color, style) in styles.items():
    ax.plot(EPS, 100 * accuracy[key], style, color=color, label=f"{key[0]}, {key[1]}")
ax.set_xticks(EPS, [f"{k}/64" if k else "0" for k in EPS_64])
ax.set(
    xlabel="L∞ radius ε (pixel units of [0, 1] images)",
    ylabel="test accuracy (%)",
    ylim=(-3, 103),
    title=f"FGSM (one step) vs PGD ({PGD_STEPS} steps)",
)
ax.legend()

eps_shown = EPS[-1]
x_shown = adversarial["MLP", "PGD"][-1, :N_EXAMPLES]
logits_shown = ops.convert_to_numpy(models["MLP"](x_shown[..., None]))
knn_shown = knn.predict(x_shown.reshape(N_EXAMPLES, -1))
axes = right.subplots(3, N_EXAMPLES)
for i in range(N_EXAMPLES):
    delta = x_shown[i] - x_test[i, :, :, 0]
    axes[0, i].imshow(x_test[i, :, :, 0], cmap="gray_r", vmin=0, vmax=1)
    axes[0, i].set_title(f"label {y_test[i]}")
    axes[1, i].imshow(delta, cmap="RdBu_r", vmin=-eps_shown, vmax=eps_shown)
    axes[2, i].imshow(x_shown[i], cmap="gray_r", vmin=0, vmax=1)
    axes[2, i].set_title(f"MLP: {np.argmax(logits_shown[i])}\n5-NN: {knn_shown[i]}")
    for row in range(3):
        axes[row, i].set(xticks=[], yticks=[])
        axes[row, i].grid(False)
axes[0, 0].set_ylabel("test digit")
axes[1, 0].set_ylabel("δ (red +ε,\nblue −ε)")
axes[2, 0].set_ylabel("digit + δ")
right.suptitle(f"PGD against the MLP at ε = {EPS_64[-1]}/64 = {eps_shown:.3f}")
fig.suptitle("Adversarial digits: a change of at most ε per pixel")
plt.show()

# %% [markdown]
# ## Summary

# %%
pgd_minus_fgsm = {name: accuracy[name, "PGD"] - accuracy[name, "FGSM"] for name in models}
# The radii 6/64 .. 10/64, the steep middle of the curves (all but 0 for a short EPS_64).
middle = slice(3, n_eps - 1) if n_eps >= 5 else slice(1, n_eps)
SUMMARY = {
    "n_test": n_test,
    "eps_largest": float(EPS[-1]),
    "clean_accuracy_mlp": float(accuracy["MLP", "FGSM"][0]),
    "clean_accuracy_cnn": float(accuracy["CNN", "FGSM"][0]),
    "max_fgsm_only_flips_mlp": int(fgsm_only["MLP"].max()),
    "max_fgsm_only_flips_cnn": int(fgsm_only["CNN"].max()),
    "min_pgd_only_minus_fgsm_only_middle_mlp": int(
        (pgd_only["MLP"] - fgsm_only["MLP"])[middle].min()
    ),
    "min_pgd_only_minus_fgsm_only_middle_cnn": int(
        (pgd_only["CNN"] - fgsm_only["CNN"])[middle].min()
    ),
    "total_pgd_only_minus_fgsm_only_middle_mlp": int(
        (pgd_only["MLP"] - fgsm_only["MLP"])[middle].sum()
    ),
    "total_pgd_only_minus_fgsm_only_middle_cnn": int(
        (pgd_only["CNN"] - fgsm_only["CNN"])[middle].sum()
    ),
    "max_pgd_minus_fgsm_mlp": float(pgd_minus_fgsm["MLP"].max()),
    "max_pgd_minus_fgsm_cnn": float(pgd_minus_fgsm["CNN"].max()),
    "min_pgd_minus_fgsm_mlp": float(pgd_minus_fgsm["MLP"][1:].min()),
    "min_pgd_minus_fgsm_cnn": float(pgd_minus_fgsm["CNN"][1:].min()),
    "fgsm_accuracy_largest_eps_mlp": float(accuracy["MLP", "FGSM"][-1]),
    "fgsm_accuracy_largest_eps_cnn": float(accuracy["CNN", "FGSM"][-1]),
    "pgd_accuracy_largest_eps_mlp": float(accuracy["MLP", "PGD"][-1]),
    "pgd_accuracy_largest_eps_cnn": float(accuracy["CNN", "PGD"][-1]),
    "max_violation": max(violation.values()),
    "input_gradient_rel_error_mlp": gradient_error,
    "knn_accuracy_clean": float(knn_clean),
    "knn_accuracy_pgd_mlp_largest_eps": float(knn_adversarial),
    "knn_accuracy_random_signs_largest_eps": float(knn_random),
    "pgd_fraction_at_eps": at_bound,
    "pgd_fraction_unchanged": unchanged,
}
for key, value in SUMMARY.items():
    print(f"{key:>41s}: {value:.4g}" if isinstance(value, float) else f"{key:>41s}: {value}")
