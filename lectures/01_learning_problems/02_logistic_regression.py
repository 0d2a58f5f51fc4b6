"""
Logistic regression: a sigmoid unit on cross-entropy finds scikit-learn's MLE
=============================================================================

A single `Dense(1, activation="sigmoid")` unit trained by full-batch gradient descent on the
binary cross-entropy reaches the same maximum-likelihood coefficients, the same decision
boundary and the same accuracy as scikit-learn's unpenalized `LogisticRegression`.

The figure shows, on the left, two overlapping Gaussian classes in the plane, the probability
p(y = 1 | x) of the Keras model as background shading, and three decision boundaries: Keras',
scikit-learn's (they coincide) and the Bayes boundary of the true distribution. On the right
it shows the excess training loss of the Keras iterate over scikit-learn's optimum, on a log
scale: it falls to round-off, so both programs solved the same convex problem.

Try:
- Move the class means apart (`MEAN_DISTANCE = 8`): the classes become separable, the
  penalty-free maximum-likelihood estimate no longer exists and the weights grow without bound.
  What does the excess loss do now?
- Set `LEARNING_RATE = 0.2`: still the same limit, reached much later.
- Shrink `N_TRAIN` to 40: the estimate moves away from the Bayes boundary (variance), but Keras
  and scikit-learn still agree, unless the 40 points happen to be separable (try a few seeds).
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

N_TRAIN = 400
N_TEST = 2000
MEAN_DISTANCE = 2.5  # distance between the two class means (the noise has unit variance)
LEARNING_RATE = 2.0
STEPS = 30 if SMOKE else 250  # full-batch gradient steps

# %% [markdown]
# ## Data: two overlapping Gaussian classes
# $y \sim \mathrm{Bernoulli}(\frac12)$ and $x \mid y \sim \mathcal N(\mu_y, I)$ in
# $\mathbb R^2$. For two Gaussians with the same covariance the log-odds is exactly affine,
# $\log\frac{p(y=1\mid x)}{p(y=0\mid x)} = (\mu_1-\mu_0)^\top x - \frac12(\lVert\mu_1\rVert^2 -
# \lVert\mu_0\rVert^2)$, so logistic regression is the right model and the Bayes boundary is a
# line. The classes overlap, so no line separates the training set and the maximum-likelihood
# estimate exists (for separable data the likelihood has no maximum).

# %%
keras.utils.set_random_seed(SEED)
rng = np.random.default_rng(SEED)
direction = np.array([2.0, 1.0]) / np.sqrt(5.0)
means = np.array([-0.5, 0.5])[:, None] * MEAN_DISTANCE * direction  # shape (2 classes, 2)


def sample(n):
    labels = rng.integers(0, 2, size=n)
    points = means[labels] + rng.standard_normal((n, 2))
    return points.astype(np.float32), labels.astype(np.float32)


x_train, y_train = sample(N_TRAIN)
x_test, y_test = sample(N_TEST)
bayes_w = means[1] - means[0]  # here the Bayes intercept is 0 (means symmetric about 0)

# %% [markdown]
# ## The model and its loss
# One unit: $p_\theta(y=1\mid x) = \sigma(w^\top x + b)$ with $\sigma(z) = 1/(1+e^{-z})$. The
# negative log-likelihood of the training set divided by $n$ is the binary cross-entropy
# $$L(\theta) = -\frac1n\sum_{i=1}^n \big[y_i \log \sigma(z_i) + (1-y_i)\log(1-\sigma(z_i))\big]
# = \frac1n \sum_{i=1}^n \big[\log(1+e^{z_i}) - y_i z_i\big],\qquad z_i = w^\top x_i + b.$$
# It is convex in $\theta = (w, b)$, with gradient $\frac1n\sum_i(\sigma(z_i) - y_i)(x_i, 1)$.


# %%
def cross_entropy(w, b, x, y):
    """The binary cross-entropy L(w, b) in float64 (log(1 + e^z) computed stably)."""
    z = x.astype(np.float64) @ w + b
    return np.mean(np.logaddexp(0.0, z) - y * z)


# %% [markdown]
# ## scikit-learn: the maximum-likelihood estimate
# `C=np.inf` removes the L2 penalty (`penalty=None`, deprecated since scikit-learn 1.8);
# L-BFGS in float64 with a tight tolerance gives the reference $\theta^*$.

# %%
reference = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000)
reference.fit(x_train.astype(np.float64), y_train)
w_star, b_star = reference.coef_[0], reference.intercept_[0]
loss_star = cross_entropy(w_star, b_star, x_train, y_train)
print(f"scikit-learn: w = {w_star.round(5)}, b = {b_star:.5f}, loss {loss_star:.6f}")

# %% [markdown]
# ## Keras: a sigmoid unit trained by gradient descent
# Full-batch `SGD` (plain gradient descent) on `"binary_crossentropy"`. As in the linear
# regression script, `fit` gets the training set repeated `STEPS` times as one epoch of full
# batches, and a callback records $(w, b)$ after every step.

# %%
model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), loss="binary_crossentropy")


class RecordWeights(keras.callbacks.Callback):
    """Keep the weights (w1, w2, b) after every training step."""

    def on_train_begin(self, logs=None):
        self.thetas = [self.current()]

    def on_train_batch_end(self, batch, logs=None):
        self.thetas.append(self.current())

    def current(self):
        kernel, bias = self.model.layers[0].get_weights()
        return np.concatenate([kernel[:, 0], bias]).astype(np.float64)


recorder = RecordWeights()
model.fit(
    np.tile(x_train, (STEPS, 1)),
    np.tile(y_train, STEPS),
    batch_size=N_TRAIN,
    epochs=1,
    shuffle=False,
    verbose=0,
    callbacks=[recorder],
)
thetas = np.array(recorder.thetas)  # shape (STEPS + 1, 3)
w_keras, b_keras = thetas[-1, :2], thetas[-1, 2]
excess = np.array([cross_entropy(t[:2], t[2], x_train, y_train) for t in thetas]) - loss_star
print(f"Keras:        w = {w_keras.round(5)}, b = {b_keras:.5f}")

# %% [markdown]
# ## Do the two classifiers agree?
# Both predict class 1 where the decision function $z = w^\top x + b$ is positive. We compare
# the coefficients, the decision functions on the test points and the accuracies.

# %%
coefficient_error = np.max(np.abs(np.append(w_keras - w_star, b_keras - b_star)))
z_keras = x_test @ w_keras + b_keras
z_sklearn = reference.decision_function(x_test.astype(np.float64))
accuracy = {
    "keras_train": np.mean((x_train @ w_keras + b_keras > 0) == y_train),
    "sklearn_train": reference.score(x_train.astype(np.float64), y_train),
    "keras_test": np.mean((z_keras > 0) == y_test),
    "sklearn_test": reference.score(x_test.astype(np.float64), y_test),
    "bayes_test": np.mean((x_test @ bayes_w > 0) == y_test),
}
label_agreement = np.mean((z_keras > 0) == (z_sklearn > 0))
print(f"largest coefficient difference {coefficient_error:.2e}")
print(
    f"largest decision-function difference on the test set "
    f"{np.max(np.abs(z_keras - z_sklearn)):.2e}; labels agree on {label_agreement:.2%}"
)
print({name: round(float(value), 4) for name, value in accuracy.items()})

# %% [markdown]
# ## Figure: one boundary, found two ways

# %%
use_course_style()
fig, (ax_data, ax_loss) = plt.subplots(1, 2, figsize=(13, 5.6))
lim = 4.0
grid = np.linspace(-lim, lim, 200)
gx, gy = np.meshgrid(grid, grid)
grid_points = np.column_stack([gx.ravel(), gy.ravel()]).astype(np.float32)
probability = model.predict(grid_points, verbose=0, batch_size=len(grid_points)).reshape(gx.shape)
shading = ax_data.contourf(
    gx, gy, probability, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.35
)
fig.colorbar(shading, ax=ax_data, label="Keras $p(y=1\\mid x)$")
for label, color in ((0, "C0"), (1, "C3")):
    chosen = y_train == label
    ax_data.scatter(*x_train[chosen].T, s=14, color=color, alpha=0.8, label=f"class {label}")


def boundary(w, b, **style):
    """Draw the line w1 x1 + w2 x2 + b = 0."""
    ax_data.plot(grid, -(w[0] * grid + b) / w[1], **style)


boundary(w_star, b_star, color="gold", linewidth=7, alpha=0.8, label="scikit-learn boundary")
boundary(w_keras, b_keras, color="black", linestyle="--", label="Keras boundary")
boundary(bayes_w, 0.0, color="gray", linestyle=":", label="Bayes boundary")
ax_data.set(
    xlim=(-lim, lim),
    ylim=(-lim, lim),
    xlabel="$x_1$",
    ylabel="$x_2$",
    aspect="equal",
    title=f"Training set ($n={N_TRAIN}$) and decision boundaries",
)
ax_data.legend(loc="lower right", fontsize=10)

steps = np.arange(len(excess))
shown = excess > 0  # round-off can make the last values zero or negative
ax_loss.semilogy(steps[shown], excess[shown], label=r"Keras: $L(\theta_t) - L(\theta^*)$")
ax_loss.set(
    xlabel="gradient step $t$",
    ylabel="excess cross-entropy (log scale)",
    title="Keras reaches scikit-learn's optimum $L(\\theta^*)$",
)
ax_loss.text(
    0.97,
    0.6,
    f"max $|\\theta_{{Keras}} - \\theta^*|$ = {coefficient_error:.1e}\n"
    f"test accuracy: Keras {accuracy['keras_test']:.4f},\n"
    f"scikit-learn {accuracy['sklearn_test']:.4f}",
    transform=ax_loss.transAxes,
    ha="right",
    va="top",
)
ax_loss.legend()
fig.suptitle("Logistic regression: a sigmoid unit trained on cross-entropy = the MLE")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "steps": STEPS,
    "max_coefficient_difference": float(coefficient_error),
    "max_decision_difference": float(np.max(np.abs(z_keras - z_sklearn))),
    "label_agreement_test": float(label_agreement),
    "train_accuracy_keras": float(accuracy["keras_train"]),
    "train_accuracy_sklearn": float(accuracy["sklearn_train"]),
    "test_accuracy_keras": float(accuracy["keras_test"]),
    "test_accuracy_sklearn": float(accuracy["sklearn_test"]),
    "test_accuracy_bayes": float(accuracy["bayes_test"]),
    "final_excess_loss": float(excess[-1]),
}
for key, value in SUMMARY.items():
    print(f"{key:>26s}: {value:.4g}" if isinstance(value, float) else f"{key:>26s}: {value}")
