"""
Adversarial training: minimize the loss of the worst perturbation in the ε-ball
================================================================================

Two copies of one MLP (same initial weights, same batches) are trained on scikit-learn's 8x8
digits: one on the digits themselves, one on PGD adversarial digits found afresh at every step
(Madry et al. 2018). Both are then attacked by a stronger PGD than the one used in training:
adversarial training buys robust accuracy at the ε it was trained for, here at no measurable
cost in clean accuracy, and it flattens the loss around the data in the input space. Whether
robustness costs accuracy depends on the radius (Tsipras et al. 2019 tie the cost to the size
of ε; with little data, adversarial training at a small ε can even raise standard accuracy):
Madry et al. 2018 report 98.8 % against 99.2 % on MNIST, 87.3 % against 95.2 % on CIFAR-10.

Top left: test accuracy under PGD against ε for both models (the training ε marked). Top
right: the loss along the signed-gradient direction and along a random sign direction,
averaged over the test digits, for both models. Bottom: the loss around one test digit in the
plane spanned by these two directions, on one colour scale, with the ε-square and the
decision boundary. Look at the top right panel: the standard model's mean loss climbs
steeply along its gradient direction, the robust model's far less, and along a random
direction both rise far less than along their gradients. The bottom panels show one digit:
for seed 0 the boundary cuts through the ε-square of the standard model and stays outside
the robust model's, but other seeds and digits differ (at seed 3 the robust boundary
crosses the square): training against PGD in the 64-dimensional box clipped to [0, 1]
promises nothing about this unclipped plane.

Needs the TensorFlow backend: the input gradients and the compiled training step use
`tf.GradientTape` and `tf.function` (one marked cell).

Try:
- Set `EPS_TRAIN_64 = 4`: a model trained for a smaller ball; what happens to its accuracy
  at ε = 8/64, and to its clean accuracy?
- Set `TRAIN_PGD_STEPS = 1` and `TRAIN_STEP_SIZE = 1.25` (FGSM training from a random start
  with Wong, Rice and Kolter's 2020 step α = 1.25 ε; with the default 2.5 ε one step reaches
  x ± ε everywhere and erases the random start): is the model still robust against the
  20-step attack? Then try `TRAIN_STEP_SIZE = 2.0`, where they report catastrophic
  overfitting.
- Set `HIDDEN = 32`: Madry et al. found that robustness needs capacity; does the clean
  accuracy of the robust model suffer more than that of the standard one?
"""

# %%
import os
import time

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_digits
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import ops

# %% [markdown]
# ## Parameters
# Radii are in pixel units of $[0, 1]$ images and are multiples of 1/64 (exact in float32, see
# script 02); 1/16 = 4/64 is one grey level of the digits.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

EPS_TRAIN_64 = 8  # training radius eps = 8/64 = 0.125 (two grey levels)
TRAIN_PGD_STEPS = 3  # PGD steps inside each training step
TRAIN_STEP_SIZE = 2.5 / TRAIN_PGD_STEPS  # their step alpha = TRAIN_STEP_SIZE * eps
EVAL_PGD_STEPS = 5 if SMOKE else 20  # PGD steps of the evaluation attack
EPS_CURVE_64 = [0, 2, 4, 6, 8, 10, 12, 16]  # radii of the accuracy curve (x 1/64)
HIDDEN = 256  # hidden units of the MLP
EPOCHS = 5 if SMOKE else 60
BATCH_SIZE = 256
LEARNING_RATE = 3e-3
GRID = 81  # points per axis of the loss landscape
LOSS_CAP = 6.0  # top of the colour scale of the landscapes (larger losses saturate)

if not isinstance(EPS_TRAIN_64, int) or not 0 < EPS_TRAIN_64 <= 64:
    raise ValueError(f"EPS_TRAIN_64 must be an integer in 1..64, got {EPS_TRAIN_64}")
if EPS_TRAIN_64 not in EPS_CURVE_64:
    raise ValueError(f"EPS_CURVE_64 must contain EPS_TRAIN_64 = {EPS_TRAIN_64}, got {EPS_CURVE_64}")
if TRAIN_PGD_STEPS < 1 or EVAL_PGD_STEPS < 1:
    raise ValueError(f"PGD steps must be >= 1, got {TRAIN_PGD_STEPS} and {EVAL_PGD_STEPS}")
if TRAIN_STEP_SIZE <= 0:
    raise ValueError(f"TRAIN_STEP_SIZE must be positive, got {TRAIN_STEP_SIZE}")
EPS_TRAIN = EPS_TRAIN_64 / 64

# %% [markdown]
# ## The robust training problem
# Standard training minimizes the empirical risk $\mathbb E_{(x, y)} L(\theta; x, y)$.
# Adversarial training (Madry et al. 2018) minimizes the *robust* risk, a saddle-point problem:
# $$ \min_\theta\ \mathbb E_{(x, y)}
#   \Big[\max_{\delta \in B_\varepsilon(x)} L(\theta; x + \delta, y)\Big], \qquad
#   B_\varepsilon(x) = \{\delta : \|\delta\|_\infty \le \varepsilon,\
#   x + \delta \in [0, 1]^d\}. $$
# The inner maximum is approximated by PGD (script 02) with `TRAIN_PGD_STEPS` = 3 steps of
# size $\alpha$ = `TRAIN_STEP_SIZE` $\cdot\,\varepsilon = 2.5\varepsilon/3$ from a random
# start. By Danskin's theorem, the gradient of the inner maximum with respect to $\theta$ is
# the gradient of $L$ at the maximizer $\delta^\ast$ (where it is unique), so one training
# step is: find $\delta^\ast$ by PGD with $\theta$ fixed, then take the ordinary gradient
# step on the batch $x + \delta^\ast$. The theorem (Madry et al. 2018, Theorem C.1) also
# needs $\nabla_\theta L$ continuous in $(\theta, \delta)$, which a ReLU network violates,
# and the exact maximizer, which PGD does not deliver: here the step is justified only
# heuristically, and the robust accuracy below is what shows that it works.
#
# The two models share everything but the inner maximization: the same initial weights
# (re-seeded), the same batches in the same order, the same optimizer settings.

# %%
split = load_digits(val_fraction=0.0, test_fraction=0.3, seed=SEED)
x_train, y_train, x_test, y_test = split.x_train, split.y_train, split.x_test, split.y_test
print(f"{len(x_train)} training and {len(x_test)} test digits")


def make_mlp():
    inputs = keras.Input(shape=(64,))
    h = keras.layers.Dense(HIDDEN, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(10)(h))


def project(x_adv, x, eps):
    """Clip x_adv to the L-infinity ball of radius eps around x and to the pixel range [0, 1]."""
    return ops.clip(ops.minimum(ops.maximum(x_adv, x - eps), x + eps), 0.0, 1.0)


def pgd(input_gradient, x, y, eps, steps, step_size, seed):
    """PGD from a random start in the ball, step step_size * eps; eps a number or a column."""
    alpha = step_size * eps
    x_adv = project(x + eps * keras.random.uniform(ops.shape(x), -1.0, 1.0, seed=seed), x, eps)
    for _ in range(steps):
        x_adv = project(x_adv + alpha * ops.sign(input_gradient(x_adv, y)), x, eps)
    return x_adv


# %% [markdown]
# ## Gradients and the compiled training step (TensorFlow)
# The backend-specific cell: `tf.GradientTape` for the input gradient
# $\nabla_x L(\theta; x, y)$ and for the weight gradient, `tf.function` to compile the whole
# step, PGD loop included, once per model.

# %%
import tensorflow as tf  # noqa: E402  (input gradients and the training step)

loss_sum = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
loss_per_example = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)


def make_input_gradient(model):
    @tf.function(reduce_retracing=True)
    def input_gradient(x, y):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_sum(y, model(x, training=False))
        return tape.gradient(loss, x)

    return input_gradient


def make_train_step(model, optimizer, adversarial, seed):
    input_gradient = make_input_gradient(model)

    @tf.function(reduce_retracing=True)
    def train_step(x, y):
        if adversarial:
            x = pgd(input_gradient, x, y, EPS_TRAIN, TRAIN_PGD_STEPS, TRAIN_STEP_SIZE, seed)
        with tf.GradientTape() as tape:
            loss = loss_sum(y, model(x, training=True)) / ops.cast(ops.shape(x)[0], "float32")
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    return train_step


# %% [markdown]
# ## Training
# The same loop for both models. An adversarial step costs `TRAIN_PGD_STEPS` + 1 = 4 forward
# and backward passes instead of 1 (the printed wall times also include compiling each step
# once, which dominates on a small data set like this one).

# %%
models, train_loss = {}, {}
for name, adversarial in (("standard", False), ("adversarial", True)):
    keras.utils.set_random_seed(SEED)  # the same initial weights for both models
    model = make_mlp()
    optimizer = keras.optimizers.Adam(LEARNING_RATE)
    optimizer.build(model.trainable_variables)
    step = make_train_step(model, optimizer, adversarial, keras.random.SeedGenerator(SEED))
    order_rng = np.random.default_rng(SEED)  # the same batches for both models
    losses, start_time = [], time.perf_counter()
    for _epoch in range(EPOCHS):
        order = order_rng.permutation(len(x_train))
        total = 0.0
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            total += float(step(x_train[batch], y_train[batch])) * len(batch)
        losses.append(total / len(order))
    models[name], train_loss[name] = model, np.array(losses)
    on = "PGD" if adversarial else "clean"
    seconds = time.perf_counter() - start_time
    print(f"{name}: final training loss {losses[-1]:.3f} (on {on} digits), {seconds:.1f} s")

# %% [markdown]
# ## Robust accuracy
# Both models are attacked by PGD with `EVAL_PGD_STEPS` = 20 steps of $2.5\varepsilon/20$
# (stronger than the 3 of training) at every radius of the curve; the clean accuracy is the
# radius 0. The comparison is paired: same test digits, same initial weights, same batches.
# Per digit the difference of the two models' correctness is $D \in \{-1, 0, 1\}$, with
# $P(D = 1) = p_{10}$ (only the robust model right) and $P(D = -1) = p_{01}$; its variance is
# $p_{10} + p_{01} - (p_{10} - p_{01})^2$, so the standard error of the accuracy difference
# is $\sqrt{(p_{10} + p_{01} - (p_{10} - p_{01})^2)/n}$.

# %%
eps_curve = np.array(EPS_CURVE_64, dtype=np.float32) / 64
n_test, n_eps = len(x_test), len(eps_curve)
x_rep = ops.convert_to_tensor(np.tile(x_test, (n_eps, 1)))
y_rep = ops.convert_to_tensor(np.tile(y_test, n_eps))
eps_rep = ops.convert_to_tensor(np.repeat(eps_curve, n_test)[:, None])
accuracy, gradients, correct_under_pgd = {}, {}, {}
eval_seed = keras.random.SeedGenerator(SEED + 1)
for name, model in models.items():
    input_gradient = make_input_gradient(model)
    x_adv = pgd(
        input_gradient, x_rep, y_rep, eps_rep, EVAL_PGD_STEPS, 2.5 / EVAL_PGD_STEPS, eval_seed
    )
    predicted = np.argmax(ops.convert_to_numpy(model(x_adv)), axis=1)
    correct = (predicted == np.tile(y_test, n_eps)).reshape(n_eps, n_test)
    accuracy[name], correct_under_pgd[name] = correct.mean(axis=1), correct
    gradients[name] = ops.convert_to_numpy(input_gradient(x_test, y_test))
    print(f"{name}: PGD accuracy {np.round(accuracy[name], 3)}")
i_train = EPS_CURVE_64.index(EPS_TRAIN_64)


def paired_se(robust_right, standard_right):
    p10 = np.mean(robust_right & ~standard_right)
    p01 = np.mean(~robust_right & standard_right)
    return float(np.sqrt((p10 + p01 - (p10 - p01) ** 2) / len(robust_right)))


robust_gain_se = paired_se(
    correct_under_pgd["adversarial"][i_train], correct_under_pgd["standard"][i_train]
)
clean_drop_se = paired_se(correct_under_pgd["adversarial"][0], correct_under_pgd["standard"][0])
print(f"paired standard errors: robust gain {robust_gain_se:.4f}, clean drop {clean_drop_se:.4f}")

# %% [markdown]
# ## The loss landscape in the input space
# Around a test digit $x$, with $g = \operatorname{sign}\nabla_x L(x, y)$ (each model's own
# steepest L∞ direction) and a random sign vector $r$ (the same for both models), both of
# L∞ norm 1:
# $$ \ell(a, b) = L\big(\theta; x + a\,g + b\,r, y\big), \qquad |a|, |b| \le 2\varepsilon . $$
# The pixel range is not enforced here: $\ell$ is the loss as a function on $\mathbb R^{64}$.
# To first order $\ell(a, 0) - \ell(0, 0) \approx a\,\|\nabla_x L\|_1$ and
# $\ell(0, b) - \ell(0, 0) \approx b\,\nabla_x L \cdot r$, whose size is only about
# $\|\nabla_x L\|_2$ (a sum of random signs): the gradient direction is steeper than a random
# one by a factor of order $\|\nabla_x L\|_1/\|\nabla_x L\|_2$, up to $\sqrt d = 8$. The
# curves average over all test digits. The rise along $r$ is measured symmetrically,
# $\tfrac12(\ell(0, \varepsilon) + \ell(0, -\varepsilon)) - \ell(0, 0)$, which cancels the
# first-order term and leaves the curvature, $\tfrac12\varepsilon^2\, r^\top \nabla_x^2 L\, r$
# to second order. The planes are drawn for one digit where the models differ, the first
# test digit that PGD at the training radius misleads the standard model on and not the
# robust one (the first test digit if there is none), with the line where the predicted
# class changes (the decision boundary within the plane).

# %%
steps = np.linspace(-2 * EPS_TRAIN, 2 * EPS_TRAIN, GRID).astype(np.float32)
rng = np.random.default_rng(SEED)
differ = np.flatnonzero(
    ~correct_under_pgd["standard"][i_train] & correct_under_pgd["adversarial"][i_train]
)
shown = int(differ[0]) if len(differ) else 0  # the first digit where the models differ
r = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=64)
curves, planes, plane_correct = {}, {}, {}
for name, model in models.items():
    g = np.sign(gradients[name])  # (n_test, 64)
    along = {}
    for direction_name, direction in (("gradient", g), ("random", np.broadcast_to(r, g.shape))):
        points = x_test[None] + steps[:, None, None] * direction[None]  # (GRID, n_test, 64)
        loss = loss_per_example(np.tile(y_test, GRID), model(points.reshape(-1, 64)))
        along[direction_name] = ops.convert_to_numpy(loss).reshape(GRID, n_test).mean(axis=1)
    curves[name] = along
    a, b = np.meshgrid(steps, steps, indexing="ij")
    plane = x_test[shown] + a[..., None] * g[shown] + b[..., None] * r
    plane_logits = model(plane.reshape(-1, 64))
    plane_loss = loss_per_example(np.full(GRID * GRID, y_test[shown]), plane_logits)
    planes[name] = ops.convert_to_numpy(plane_loss).reshape(GRID, GRID)
    plane_correct[name] = np.argmax(ops.convert_to_numpy(plane_logits), axis=1) == y_test[shown]
centre = GRID // 2
at_eps = int(np.argmin(np.abs(steps - EPS_TRAIN)))
at_minus_eps = int(np.argmin(np.abs(steps + EPS_TRAIN)))
rise = {}  # mean loss increase at eps along the gradient sign, symmetrized along r
for name in models:
    along = curves[name]
    rise[name, "gradient"] = float(along["gradient"][at_eps] - along["gradient"][centre])
    rise[name, "random"] = float(
        (along["random"][at_eps] + along["random"][at_minus_eps]) / 2 - along["random"][centre]
    )
grad_l1 = {name: float(np.mean(np.sum(np.abs(gradients[name]), axis=1))) for name in models}
for name in models:
    print(
        f"{name}: mean loss rise at eps along the gradient sign {rise[name, 'gradient']:.3f}, "
        f"along a random sign (symmetrized) {rise[name, 'random']:.4f}; "
        f"mean ||grad_x L||_1 {grad_l1[name]:.3f}"
    )

# %% [markdown]
# ## Figure

# %%
use_course_style()
fig, axes = plt.subplots(2, 2, figsize=(13, 10.5))
colors = {"standard": "tab:blue", "adversarial": "tab:red"}
ax = axes[0, 0]
for name in models:
    ax.plot(eps_curve, 100 * accuracy[name], "o-", color=colors[name], label=f"{name} training")
ax.axvline(EPS_TRAIN, color="gray", ls=":", label=f"training ε = {EPS_TRAIN_64}/64")
ax.set_xticks(eps_curve, [f"{k}" for k in EPS_CURVE_64])
ax.set(
    xlabel="L∞ radius ε of the PGD attack (× 1/64, pixel units)",
    ylabel="test accuracy under PGD (%)",
    ylim=(-3, 103),
    title=f"Robust accuracy ({EVAL_PGD_STEPS}-step PGD)",
)
ax.legend()
ax = axes[0, 1]
for name in models:
    ax.plot(
        steps, curves[name]["gradient"], "-", color=colors[name], label=f"{name}: along sign ∇ₓL"
    )
    ax.plot(
        steps, curves[name]["random"], "--", color=colors[name], label=f"{name}: along random sign"
    )
for edge in (-EPS_TRAIN, EPS_TRAIN):
    ax.axvline(edge, color="gray", ls=":")
ax.set(
    xlabel="step along the direction (pixel units)",
    ylabel="mean test loss (cross-entropy)",
    yscale="log",
    title="Loss along two directions, mean over test digits",
)
ax.legend(fontsize=10)
levels = np.linspace(0.0, LOSS_CAP, 25)
for ax, name in zip(axes[1], models, strict=True):
    image = ax.contourf(steps, steps, planes[name].T, levels=levels, cmap="magma", extend="max")
    correct = plane_correct[name].reshape(GRID, GRID).T.astype(float)
    ax.contour(steps, steps, correct, levels=[0.5], colors="c", linewidths=2.5, linestyles="--")
    ax.add_patch(
        plt.Rectangle((-EPS_TRAIN, -EPS_TRAIN), 2 * EPS_TRAIN, 2 * EPS_TRAIN, fill=False, ec="w")
    )
    ax.set(
        xlabel="a: along sign ∇ₓL (pixel units)",
        ylabel="b: along a random sign vector",
        title=f"{name}: loss around a test {y_test[shown]}\n(white: ε-square, cyan: boundary)",
        aspect="equal",
    )
fig.colorbar(image, ax=axes[1], label="cross-entropy loss", shrink=0.8)
fig.suptitle("Standard vs PGD adversarial training of one MLP on 8x8 digits")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "n_test": n_test,
    "eps_train": float(EPS_TRAIN),
    "clean_accuracy_standard": float(accuracy["standard"][0]),
    "clean_accuracy_adversarial": float(accuracy["adversarial"][0]),
    "robust_accuracy_standard": float(accuracy["standard"][i_train]),
    "robust_accuracy_adversarial": float(accuracy["adversarial"][i_train]),
    "robust_gain": float(accuracy["adversarial"][i_train] - accuracy["standard"][i_train]),
    "robust_gain_se": robust_gain_se,
    "clean_drop": float(accuracy["standard"][0] - accuracy["adversarial"][0]),
    "clean_drop_se": clean_drop_se,
    "loss_rise_gradient_standard": rise["standard", "gradient"],
    "loss_rise_gradient_adversarial": rise["adversarial", "gradient"],
    "loss_rise_random_standard": rise["standard", "random"],
    "loss_rise_random_adversarial": rise["adversarial", "random"],
    "grad_l1_standard": grad_l1["standard"],
    "grad_l1_adversarial": grad_l1["adversarial"],
}
for key, value in SUMMARY.items():
    print(f"{key:>31s}: {value:.4g}" if isinstance(value, float) else f"{key:>31s}: {value}")
