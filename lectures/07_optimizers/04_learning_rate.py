"""
The learning rate: too small, good, too large; a range test; schedules
======================================================================

One regression task, one network, plain SGD: a learning-rate range test (the loss while the
rate grows exponentially, step by step) suggests a rate; that rate trains the network well, a
rate 100 times smaller is still far behind after the same number of epochs, and a rate far
beyond the edge of stability sends the loss to infinity, which
`keras.callbacks.TerminateOnNaN` catches and stops cleanly.

The figure shows: top left, the training loss against the epoch for the three rates (the
diverging run ends where it was stopped); top right, the range test, the loss against the rate
on a log axis, with the rate at the loss minimum and the suggested rate (ten times smaller);
bottom left, four common schedules (step, exponential, cosine, linear warm-up then cosine);
bottom right, the training loss with each schedule next to the constant rate.

Try:
- Suggest the rate at the steepest descent of the range-test curve instead of minimum / 10.
- Set `peak = 3 * rate_at_minimum` (the schedules already peak at `rate_at_minimum`, ten
  times the suggested rate): does warm-up keep it stable where a constant rate of that size,
  or the cosine schedule without warm-up, is not?
- Switch to `keras.optimizers.Adam` and redo the range test: where does its edge lie?
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import make_teacher_student
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

N_TRAIN = 256 if SMOKE else 1000  # smoke: 8 batches per epoch
NOISE = 0.1  # standard deviation of the label noise: the best possible MSE is NOISE**2
BATCH_SIZE = 32
EPOCHS = 2 if SMOKE else 20
RANGE_STEPS = 10 if SMOKE else 120  # steps of the range test
RANGE_START, RANGE_END = 1e-4, 10.0  # the range test's rates grow from RANGE_START to RANGE_END
TARGET_LOSS = 0.05  # the training MSE the suggested rate should reach

# %% [markdown]
# ## Task and model
# A teacher network with tanh units labels 1000 Gaussian inputs, plus noise of standard
# deviation 0.1; a student MLP learns it with the mean squared error and plain SGD,
# $w \leftarrow w - \eta g$.

# %%
x, y, _ = make_teacher_student(N_TRAIN, input_dim=8, hidden_units=(16,), noise=NOISE, seed=SEED)
steps_per_epoch = -(-N_TRAIN // BATCH_SIZE)


def make_model(learning_rate):
    """A fresh student (same initial weights every time) with SGD at the given rate/schedule."""
    keras.utils.set_random_seed(SEED)
    model = keras.Sequential(
        [
            keras.Input(shape=(8,)),
            keras.layers.Dense(32, activation="tanh"),
            keras.layers.Dense(1),
        ]
    )
    # one compiled call per epoch: TerminateOnNaN then checks the loss after every epoch
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate),
        loss="mse",
        steps_per_execution=steps_per_epoch,
    )
    return model


def training_mse(model):
    return float(np.mean((model(x).numpy()[:, 0] - y) ** 2))


# %% [markdown]
# ## The range test
# Train from the initial weights while the rate grows geometrically from `RANGE_START` to
# `RANGE_END`, $\eta_t = \eta_0 (\eta_{\rm end}/\eta_0)^{t/T}$ (an `ExponentialDecay` schedule
# with a "decay" rate above 1), and record each mini-batch loss; stop once the loss exceeds
# four times its best value. The loss falls while the rate is useful and explodes at the edge
# of stability. A common rule takes a rate ten times below the minimum of the (smoothed)
# curve.

# %%
growing = keras.optimizers.schedules.ExponentialDecay(
    RANGE_START, decay_steps=RANGE_STEPS, decay_rate=RANGE_END / RANGE_START
)
model = make_model(growing)
rng = np.random.default_rng(SEED)
range_rates, range_losses, smoothed = [], [], []
average = 0.0
for step in range(RANGE_STEPS):
    batch = rng.choice(N_TRAIN, BATCH_SIZE, replace=False)
    range_rates.append(float(growing(step)))  # the rate this step uses
    range_losses.append(float(model.train_on_batch(x[batch], y[batch])))
    # exponential moving average, bias-corrected, to see the trend through the batch noise
    average = 0.8 * average + 0.2 * range_losses[-1]
    smoothed.append(average / (1 - 0.8 ** (step + 1)))
    if not np.isfinite(smoothed[-1]) or smoothed[-1] > 4 * min(smoothed):
        break  # the loss has blown up
range_rates, range_losses, smoothed = map(np.array, (range_rates, range_losses, smoothed))
rate_at_minimum = float(range_rates[np.argmin(smoothed)])
blow_up_rate = float(range_rates[-1])
suggested = rate_at_minimum / 10
print(
    f"range test: minimum at rate {rate_at_minimum:.3g}, blow-up at {blow_up_rate:.3g}, "
    f"suggested rate {suggested:.3g}"
)

# %% [markdown]
# ## Too small, good, too large
# The same network from the same start with three constant rates. `TerminateOnNaN` stops
# `fit` at the first loss that is NaN or infinite, instead of training on with garbage.


# %%
def train(model):
    """`fit` for EPOCHS epochs; return the training loss of each epoch that was run."""
    history = model.fit(
        x,
        y,
        batch_size=BATCH_SIZE,
        epochs=EPOCHS,
        callbacks=[keras.callbacks.TerminateOnNaN()],
        verbose=0,
    )
    return np.array(history.history["loss"])


RATES = {"too small": suggested / 100, "suggested": suggested, "too large": 3 * blow_up_rate}
curves, final_mse, stopped_at = {}, {}, {}
for label, rate in RATES.items():
    model = make_model(rate)
    curves[label] = train(model)
    final_mse[label] = training_mse(model)
    if not np.isfinite(curves[label][-1]):
        stopped_at[label] = len(curves[label])
        print(
            f"rate {rate:.3g} ({label}): the loss became {curves[label][-1]} in epoch "
            f"{stopped_at[label]}; training stopped cleanly by TerminateOnNaN"
        )
    else:
        print(
            f"rate {rate:.3g} ({label}): training MSE after {EPOCHS} epochs {final_mse[label]:.4f}"
        )

# %% [markdown]
# ## Schedules
# A schedule makes $\eta$ a function of the step $t$ (Keras passes `optimizer.iterations`):
#
# - step: $\eta_0$, then $\eta_0/10$ after half the steps, $\eta_0/100$ after three quarters;
# - exponential: $\eta_0 \cdot 0.01^{t/T}$;
# - cosine: $\eta_0 \cdot \frac12 (1 + \cos(\pi t / T))$;
# - warm-up: linear from 0 to $\eta_0$ over the first 10 % of the steps, then cosine.
#
# Each trains the task for the same number of epochs from the same start. They begin at the
# range test's minimum, ten times the suggested constant rate, and decay from there: the large
# early steps make fast progress, the small late ones average out the mini-batch noise.

# %%
total = EPOCHS * steps_per_epoch
warmup = total // 10
peak = rate_at_minimum  # schedules start high, at the range test's minimum, and decay
SCHEDULES = {
    "constant": suggested,
    "step": keras.optimizers.schedules.PiecewiseConstantDecay(
        [total // 2, 3 * total // 4], [peak, peak / 10, peak / 100]
    ),
    "exponential": keras.optimizers.schedules.ExponentialDecay(peak, total, 0.01),
    "cosine": keras.optimizers.schedules.CosineDecay(peak, total),
    "warm-up + cosine": keras.optimizers.schedules.CosineDecay(
        0.0, total - warmup, warmup_target=peak, warmup_steps=warmup
    ),
}
schedule_curves, schedule_mse = {}, {}
for label, schedule in SCHEDULES.items():
    if label == "constant":  # the constant run is the "suggested" run above
        schedule_curves[label] = curves["suggested"]
        schedule_mse[label] = final_mse["suggested"]
        continue
    model = make_model(schedule)
    schedule_curves[label] = train(model)
    schedule_mse[label] = training_mse(model)
print("training MSE with each schedule:", {k: round(v, 4) for k, v in schedule_mse.items()})

# %% [markdown]
# ## Figure

# %%
use_course_style()
fig, axes = plt.subplots(2, 2, figsize=(15, 10.5))
ax = axes[0, 0]
for (label, rate), color in zip(RATES.items(), ("C0", "C2", "C3"), strict=True):
    curve = curves[label]
    epochs = np.arange(1, len(curve) + 1)
    ax.semilogy(epochs, curve, "o-", color=color, label=f"{label}: η = {rate:.2g}")
    if label in stopped_at:  # mark where training was stopped, at the top of the panel
        ax.plot(epochs[-1], 30, "X", color=color, markersize=16)
        ax.annotate(
            f"loss = {curve[-1]} in epoch {epochs[-1]}: stopped by TerminateOnNaN",
            (epochs[-1], 30),
            xytext=(12, -5),
            textcoords="offset points",
            color=color,
            fontsize=12,
        )
ax.axhline(NOISE**2, color="gray", linestyle=":", label="noise floor σ²")
ax.set(
    xlabel="epoch",
    ylabel="training MSE (log scale)",
    xlim=(0, EPOCHS + 1),
    ylim=(NOISE**2 / 3, 100),
    title="Three constant rates, plain SGD",
)
ax.legend(loc="center right")

ax = axes[0, 1]
ax.semilogx(range_rates, range_losses, color="gray", alpha=0.5, label="mini-batch loss")
ax.semilogx(range_rates, smoothed, color="C0", label="smoothed")
ax.axvline(
    rate_at_minimum, color="C0", linestyle=":", label=f"minimum at η = {rate_at_minimum:.2g}"
)
ax.axvline(suggested, color="C2", linestyle="--", label=f"suggested η = {suggested:.2g}")
ax.set(
    xlabel="learning rate η (log scale)",
    ylabel="training MSE",
    ylim=(0, 2 * range_losses[0]),
    title=f"Range test: η × {float(growing(1) / growing(0)):.3f} per step",
)
ax.legend()

ax = axes[1, 0]
steps = np.arange(0, total + 1, 8)
for label, schedule in SCHEDULES.items():
    rates = [suggested if label == "constant" else float(schedule(step)) for step in steps]
    ax.plot(steps, rates, label=label)
ax.set(
    xlabel="step", ylabel="learning rate η", title=f"Schedules over {total} steps ({EPOCHS} epochs)"
)
ax.legend()

ax = axes[1, 1]
for label, curve in schedule_curves.items():
    ax.semilogy(
        np.arange(1, len(curve) + 1),
        curve,
        "o-",
        label=f"{label}: final MSE {schedule_mse[label]:.3f}",
    )
ax.axhline(NOISE**2, color="gray", linestyle=":", label="noise floor σ²")
ax.set(xlabel="epoch", ylabel="training MSE (log scale)", title="Training with each schedule")
ax.legend()
fig.suptitle("The learning rate of SGD on a teacher-student regression")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "rate_at_range_minimum": rate_at_minimum,
    "suggested_rate": suggested,
    "target_loss": TARGET_LOSS,
    "final_mse_suggested": final_mse["suggested"],
    "final_mse_too_small": final_mse["too small"],
    "too_large_rate": RATES["too large"],
    "too_large_stopped": "too large" in stopped_at,
    "too_large_stopped_at_epoch": stopped_at.get("too large", EPOCHS + 1),
    "epochs": EPOCHS,
    "best_schedule": min(schedule_mse, key=schedule_mse.get),
    "final_mse_cosine": schedule_mse["cosine"],
    "final_mse_warmup_cosine": schedule_mse["warm-up + cosine"],
}
for key, value in SUMMARY.items():
    print(f"{key:>28s}: {value:.4g}" if isinstance(value, float) else f"{key:>28s}: {value}")
