"""
Optimizers from scratch: momentum, Nesterov, RMSprop and Adam as Keras subclasses
=================================================================================

Four update rules written out as subclasses of `keras.optimizers.Optimizer`, each next to its
formula, train the same small network on the same mini-batches as Keras' built-in optimizers;
after 100 steps the weights agree bit for bit (Adam to float32 rounding: Keras writes its
moment averages as a + (1 - beta)(g - a)). Decoupled weight decay, written out by hand,
matches Keras' `weight_decay=` argument (SGD) and `keras.optimizers.AdamW` the same way.

The figure shows, left, the training loss of every pair against the step (built-in solid,
from scratch dashed: the curves lie on top of each other) and, right, the largest difference
between the two weight sets after each step, on a log scale, far below the 1e-6 line. The dotted
lines show how far the weights move when the decay is switched off: the check would see it.

Try:
- In `Adam.update_step`, use the paper's form m_hat / (sqrt(v_hat) + eps) instead of Keras'
  and watch the difference grow where the gradients are small.
- Write the momentum update as v <- m*v + g, w <- w - lr*v (the PyTorch convention): for a
  constant learning rate, are the weights the same? What if the rate changes?
- Add the `centered=True` variant of RMSprop and check it against Keras.
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_digits
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import ops

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

STEPS = 10 if SMOKE else 100  # optimizer steps per model
BATCH_SIZE = 32
WIDTH = 32  # hidden units
WEIGHT_DECAY = 0.1  # lambda in w <- w - lr * lambda * w (large, so that its effect is visible)

# %% [markdown]
# ## Four update rules, written out
# Notation: $g$ the gradient of the mini-batch loss, $\eta$ the learning rate, $t$ the step
# counter starting at 1; squares, roots and divisions act entry by entry.
#
# - momentum: $v \leftarrow m v - \eta g$, then $w \leftarrow w + v$;
# - Nesterov: $v \leftarrow m v - \eta g$, then $w \leftarrow w + m v - \eta g$;
# - RMSprop: $s \leftarrow \rho s + (1-\rho) g^2$, then
#   $w \leftarrow w - \eta\, g / \sqrt{s + \epsilon}$;
# - Adam: $a \leftarrow \beta_1 a + (1-\beta_1) g$, $b \leftarrow \beta_2 b + (1-\beta_2) g^2$,
#   then $w \leftarrow w - \eta \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}\,
#   \frac{a}{\sqrt{b} + \epsilon}$.
#
# Note where $\epsilon$ sits: inside the root for RMSprop, outside for Adam, and Adam's bias
# correction is folded into the step size, so that its $\epsilon$ is the paper's
# $\hat\epsilon$ (equivalently $\epsilon / \sqrt{1-\beta_2^t}$ next to $\sqrt{\hat b}$).
#
# Decoupled weight decay shrinks the weights directly instead of adding
# $\frac\lambda2\|w\|^2$ to the loss; for Adam the two differ, because a penalty's gradient
# would be divided by $\sqrt{b}$ too. Keras (`weight_decay=`, `AdamW`) shrinks before the update
# by $w \leftarrow w - \eta \lambda w$ with the full learning rate $\eta$ (PyTorch's `AdamW`
# does the same). Loshchilov and Hutter (2019) write the step as
# $w \leftarrow w - \eta_t(\alpha\,\hat a/(\sqrt{\hat b}+\epsilon) + \lambda w)$, with base rate
# $\alpha$ and schedule multiplier $\eta_t$: their decay follows the schedule but not $\alpha$,
# so their $\lambda$ is Keras' $\alpha\lambda$. The code below is Keras' convention.
#
# A subclass of `keras.optimizers.Optimizer` implements `build` (one state variable per
# weight, created with `add_variable_from_reference`) and `update_step` (one weight at a
# time); the base class counts the steps in `self.iterations` and calls `update_step` for
# every weight. The weight decay is written by hand below, so the base class gets none.


# %%
class ScratchOptimizer(keras.optimizers.Optimizer):
    """The part the three optimizers below share: decoupled weight decay."""

    def __init__(self, learning_rate, decoupled_weight_decay=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.decoupled_weight_decay = decoupled_weight_decay

    def state(self, name, variables):
        """One zero-initialized state variable per weight, with the weight's shape."""
        return [self.add_variable_from_reference(v, name=name) for v in variables]

    def decay(self, variable, lr):
        # w <- w - lr * lambda * w, before the optimizer's own update
        if self.decoupled_weight_decay:
            self.assign_sub(variable, variable * self.decoupled_weight_decay * lr)


class MomentumSGD(ScratchOptimizer):
    def __init__(self, learning_rate=0.01, momentum=0.9, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = momentum
        self.nesterov = nesterov

    def build(self, variables):
        super().build(variables)
        self.velocities = self.state("velocity", variables)

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        g = ops.cast(gradient, variable.dtype)
        self.decay(variable, lr)
        v = self.velocities[self._get_variable_index(variable)]
        self.assign(v, self.momentum * v - lr * g)  # v <- m v - lr g
        if self.nesterov:
            self.assign_add(variable, self.momentum * v - lr * g)  # w <- w + m v - lr g
        else:
            self.assign_add(variable, v)  # w <- w + v


class RMSprop(ScratchOptimizer):
    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = rho
        self.epsilon = epsilon

    def build(self, variables):
        super().build(variables)
        self.mean_squares = self.state("mean_square", variables)

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        g = ops.cast(gradient, variable.dtype)
        self.decay(variable, lr)
        s = self.mean_squares[self._get_variable_index(variable)]
        self.assign(s, self.rho * s + (1 - self.rho) * ops.square(g))
        self.assign_sub(variable, lr * g / ops.sqrt(s + self.epsilon))  # epsilon inside


class Adam(ScratchOptimizer):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def build(self, variables):
        super().build(variables)
        self.first_moments = self.state("first_moment", variables)
        self.second_moments = self.state("second_moment", variables)

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        g = ops.cast(gradient, variable.dtype)
        self.decay(variable, lr)
        index = self._get_variable_index(variable)
        a, b = self.first_moments[index], self.second_moments[index]
        t = ops.cast(self.iterations + 1, variable.dtype)  # this step's number, from 1
        self.assign(a, self.beta_1 * a + (1 - self.beta_1) * g)
        self.assign(b, self.beta_2 * b + (1 - self.beta_2) * ops.square(g))
        step_size = lr * ops.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
        self.assign_sub(variable, step_size * a / (ops.sqrt(b) + self.epsilon))  # eps outside


# %% [markdown]
# ## The comparison
# Each pair: a built-in optimizer and its from-scratch twin, with the same hyperparameters.
# The last two pairs add decoupled weight decay: Keras' `weight_decay=` argument, which any
# built-in optimizer takes, and `AdamW`, which is Adam with that argument.

# %%
PAIRS = {
    "momentum": (
        keras.optimizers.SGD(0.05, momentum=0.9),
        MomentumSGD(0.05, momentum=0.9),
    ),
    "Nesterov": (
        keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
        MomentumSGD(0.05, momentum=0.9, nesterov=True),
    ),
    "RMSprop": (keras.optimizers.RMSprop(1e-3), RMSprop(1e-3)),
    "Adam": (keras.optimizers.Adam(3e-3), Adam(3e-3)),
    "momentum + decay": (
        keras.optimizers.SGD(0.05, momentum=0.9, weight_decay=WEIGHT_DECAY),
        MomentumSGD(0.05, momentum=0.9, decoupled_weight_decay=WEIGHT_DECAY),
    ),
    "AdamW": (
        keras.optimizers.AdamW(3e-3, weight_decay=WEIGHT_DECAY),
        Adam(3e-3, decoupled_weight_decay=WEIGHT_DECAY),
    ),
}

# %% [markdown]
# ## Data and network
# The digits, a 64-32-10 network, and one fixed sequence of mini-batches that every model
# sees in the same order (fresh permutations of the training set, one after another).

# %%
split = load_digits(seed=SEED)
rng = np.random.default_rng(SEED)
n_train = len(split.x_train)
order = np.concatenate([rng.permutation(n_train) for _ in range(STEPS * BATCH_SIZE // n_train + 1)])
batches = [order[i * BATCH_SIZE : (i + 1) * BATCH_SIZE] for i in range(STEPS)]


def make_model(optimizer):
    keras.utils.set_random_seed(SEED)  # every model starts from the same weights
    model = keras.Sequential(
        [
            keras.Input(shape=(64,)),
            keras.layers.Dense(WIDTH, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


# %% [markdown]
# ## Training side by side
# `train_on_batch` takes one optimizer step on the batch given, so both models of a pair see
# exactly the same data. After each step we record both losses and the largest difference
# between the two sets of weights, $\max_i |w_i^{\rm Keras} - w_i^{\rm scratch}|$.


# %%
def max_difference(weights_a, weights_b):
    """max_i |a_i - b_i| over all entries of two lists of weight arrays."""
    pairs = zip(weights_a, weights_b, strict=True)
    return max(float(np.max(np.abs(a - b))) for a, b in pairs)


losses, differences, final_weights = {}, {}, {}
for name, (builtin, scratch) in PAIRS.items():
    model_builtin, model_scratch = make_model(builtin), make_model(scratch)
    assert max_difference(model_builtin.get_weights(), model_scratch.get_weights()) == 0.0
    losses[name] = np.zeros((STEPS, 2))
    differences[name] = np.zeros(STEPS)
    for step, batch in enumerate(batches):
        x, y = split.x_train[batch], split.y_train[batch]
        losses[name][step] = model_builtin.train_on_batch(x, y), model_scratch.train_on_batch(x, y)
        differences[name][step] = max_difference(
            model_builtin.get_weights(), model_scratch.get_weights()
        )
    final_weights[name] = model_builtin.get_weights()
    print(
        f"{name:>18s}: max |w_keras - w_scratch| after {STEPS} steps = {differences[name][-1]:.1e}"
    )


# How much the decay moves the weights: the decayed runs against the undecayed ones.
decay_effect = {
    "momentum + decay": max_difference(
        final_weights["momentum + decay"], final_weights["momentum"]
    ),
    "AdamW": max_difference(final_weights["AdamW"], final_weights["Adam"]),
}
print("effect of the weight decay on the weights:", decay_effect)

# %% [markdown]
# ## Figure: identical training, differences at rounding level

# %%
use_course_style()
fig, (ax_loss, ax_diff) = plt.subplots(1, 2, figsize=(14, 5.6))
steps = np.arange(1, STEPS + 1)
for name in PAIRS:
    (line,) = ax_loss.plot(steps, losses[name][:, 0], label=name)
    ax_loss.plot(steps, losses[name][:, 1], "--", color="black", linewidth=1)
    # a difference of exactly 0 is drawn at 1e-12 so that the log scale can show it
    ax_diff.semilogy(
        steps, np.maximum(differences[name], 1e-12), color=line.get_color(), label=name
    )
    if name in decay_effect:
        ax_diff.axhline(decay_effect[name], color=line.get_color(), linestyle=":")
ax_loss.set(
    xlabel="step",
    ylabel="mini-batch cross-entropy",
    title="Training loss: built-in (colour) and from scratch (black dashed)",
)
ax_loss.legend()
ax_diff.axhline(1e-6, color="black", linestyle="--", label="1e-6 (the claim)")
exact = [name for name in PAIRS if differences[name].max() == 0.0]
ax_diff.text(
    STEPS / 2, 2e-13, "at 1e-12: bit for bit equal, " + ", ".join(exact), ha="center", fontsize=10
)
ax_diff.set(
    xlabel="step",
    ylabel="max |w_keras − w_scratch|  (log scale)",
    ylim=(1e-13, 1),
    title="Largest weight difference (dotted: effect of the decay)",
)
ax_diff.legend(loc="lower right", bbox_to_anchor=(1.0, 0.12), fontsize=10, ncol=2)
fig.suptitle(f"From-scratch optimizers against keras.optimizers: {STEPS} steps, same batches")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "steps": STEPS,
    "max_difference_momentum": float(differences["momentum"][-1]),
    "max_difference_nesterov": float(differences["Nesterov"][-1]),
    "max_difference_rmsprop": float(differences["RMSprop"][-1]),
    "max_difference_adam": float(differences["Adam"][-1]),
    "max_difference_momentum_decay": float(differences["momentum + decay"][-1]),
    "max_difference_adamw": float(differences["AdamW"][-1]),
    "decay_effect_momentum": decay_effect["momentum + decay"],
    "decay_effect_adam": decay_effect["AdamW"],
    "final_loss_adam": float(losses["Adam"][-1, 0]),
}
for key, value in SUMMARY.items():
    print(f"{key:>30s}: {value:.4g}" if isinstance(value, float) else f"{key:>30s}: {value}")
