"""
Softmax regression: a linear classifier for ten digit classes
=============================================================

A single `Dense(10, activation="softmax")` layer trained on the categorical cross-entropy
classifies the 8x8 handwritten digits with about 96 % test accuracy: ten linear scores and a
softmax are enough for this data set. So much so that the training digits are linearly
separable: the cross-entropy has infimum 0 and no minimizer (no maximum-likelihood estimate),
which the script certifies with separating weights from scikit-learn. (SGD itself still
misclassifies about 1 % of the training digits after 60 epochs.)

The figure shows, on the left, the confusion matrix on the test set (rows: true digit, columns:
predicted digit; the diagonal holds the correct answers) and, on the right, the ten columns of
the weight matrix drawn as 8x8 images. Each image is the template the class score is the inner
product with: red pixels raise the score of that digit, blue pixels lower it. Look for the
shape of the digit in red, and for which pairs of digits the confusion matrix mixes up.

Try:
- Train on `N_TRAIN = 50` digits: how much does the test accuracy drop, and how do the weight
  images change?
- Add `kernel_regularizer=keras.regularizers.L2(1e-3)` to the Dense layer: smoother templates,
  and now the loss has a minimizer (unique up to one constant added to all ten biases). Why?
- Replace the layer by `Dense(64, "relu")` followed by `Dense(10, "softmax")`: how much does a
  hidden layer buy on this data?
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
from sklearn.linear_model import LogisticRegression

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

N_TRAIN = None  # None: the whole training part (1,077 digits); an integer keeps a subset
LEARNING_RATE = 1.0
BATCH_SIZE = 64
EPOCHS = 4 if SMOKE else 60
EVERY = 2 if SMOKE else 20  # record the curves every EVERY epochs

# %% [markdown]
# ## Data
# The 8x8 digits bundled with scikit-learn, pixels scaled to [0, 1], flattened to vectors in
# $\mathbb R^{64}$; a stratified split into training, validation and test parts.

# %%
keras.utils.set_random_seed(SEED)
split = load_digits(n_train=N_TRAIN, seed=SEED)
print(f"training {split.x_train.shape}, validation {split.x_val.shape}, test {split.x_test.shape}")

# %% [markdown]
# ## Model: softmax regression
# Ten affine scores $z = W^\top x + b \in \mathbb R^{10}$ ($W \in \mathbb R^{64\times 10}$ is
# Keras' kernel) and the softmax
# $$p_\theta(y = c \mid x) = \frac{e^{z_c}}{\sum_{k=0}^{9} e^{z_k}}.$$
# The loss is the categorical cross-entropy, the mean negative log-likelihood
# $L(\theta) = -\frac1n \sum_i \log p_\theta(y_i\mid x_i)$ (Keras'
# `"sparse_categorical_crossentropy"` takes integer labels). The predicted class is
# $\arg\max_c z_c$, so the boundary between two classes $c, k$ is the hyperplane
# $z_c = z_k$: the classifier is linear.
#
# The loss is convex in $(W, b)$, so no random start is needed: the weights start at zero.
# Convex does not mean that a minimizer exists: here some $(W, b)$ scores every training
# digit's own class highest (checked below), and then, as for separable data in logistic
# regression, scaling $(W, b)$ up lowers the loss towards its infimum 0, which no finite weights
# attain. There is no maximum-likelihood estimate; what gradient descent returns is a point on
# an unbounded path, chosen by the number of epochs.
#
# Adding one vector $v$ to every column of $W$ adds $v^\top x$ to every score and leaves the
# softmax unchanged, so only the differences between columns are determined by the data. The
# gradient $\frac1n X^\top(P - Y)$ ($P$ the predicted probabilities, $Y$ the one-hot labels) has
# rows summing to zero, so from a zero start (stochastic) gradient descent keeps
# $\sum_c W_{pc} = 0$ for every pixel $p$, and a pixel that is blank in every training image
# keeps weight zero. That makes the columns of $W$ readable as images.

# %%
model = keras.Sequential(
    [
        keras.Input(shape=(64,)),
        keras.layers.Dense(10, activation="softmax", kernel_initializer="zeros"),
    ]
)
model.compile(
    optimizer=keras.optimizers.SGD(LEARNING_RATE),
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
print(f"{model.count_params()} parameters = 64 x 10 weights + 10 biases")

# %% [markdown]
# ## Training
# Stochastic gradient descent on mini-batches of `BATCH_SIZE`, the last batch of every epoch
# smaller, as in `fit`.

# %%
# model.fit(split.x_train, split.y_train, epochs=EPOCHS, batch_size=BATCH_SIZE,
#           validation_data=(split.x_val, split.y_val)), with the curves recorded every EVERY
#           epochs and Keras' per-epoch overhead paid once per EVERY epochs
history = fit_fast(
    model,
    split.x_train,
    split.y_train,
    epochs=EPOCHS,
    batch_size=BATCH_SIZE,
    every=EVERY,
    validation_data=(split.x_val, split.y_val),
    seed=SEED,
)
test_loss, test_accuracy = model.evaluate(split.x_test, split.y_test, verbose=0)
print(
    f"final training accuracy {history['accuracy'][-1]:.4f}, "
    f"validation accuracy {history['val_accuracy'][-1]:.4f}, test accuracy {test_accuracy:.4f}"
)

# %% [markdown]
# ## No maximum-likelihood estimate: the training digits are linearly separable
# A certificate: scikit-learn's multinomial `LogisticRegression` with a weak L2 penalty
# (`C = 100`) returns weights $(W, b)$ that give every training digit a positive margin
# $\min_i \big(z_{i,y_i} - \max_{c\ne y_i} z_{ic}\big) > 0$. Then along the ray
# $s \mapsto (sW, sb)$ every term $\log\big(1 + \sum_{c\ne y_i} e^{-s(z_{i,y_i} - z_{ic})}\big)$
# of the unpenalized loss decreases strictly to 0: the loss has infimum 0 and no minimizer.
# Gradient descent on separable data drives $\lVert W\rVert$ to infinity, like $\log t$
# (Soudry et al., 2018); the Keras weights above are a point on that path, chosen by `EPOCHS`.
# The margins and losses are computed in float64 NumPy.

# %%
certificate = LogisticRegression(C=100.0, max_iter=2000).fit(split.x_train, split.y_train)
kernel_sk, bias_sk = certificate.coef_.T.astype(np.float64), certificate.intercept_
scores = split.x_train.astype(np.float64) @ kernel_sk + bias_sk  # z_i, shape (n, 10)
n_train = len(scores)
own = scores[np.arange(n_train), split.y_train]
rivals = np.where(np.eye(10, dtype=bool)[split.y_train], -np.inf, scores)
train_margin = float(np.min(own - rivals.max(axis=1)))
SCALES = np.array([1.0, 2.0, 4.0, 8.0, 16.0])


def cross_entropy(scale):
    """Mean cross-entropy of (scale W, scale b) on the training set, in float64."""
    z = scale * scores
    z_max = z.max(axis=1, keepdims=True)
    log_norm = z_max[:, 0] + np.log(np.exp(z - z_max).sum(axis=1))
    return float(np.mean(log_norm - z[np.arange(n_train), split.y_train]))


ray_losses = np.array([cross_entropy(scale) for scale in SCALES])
kernel = model.layers[0].get_weights()[0]  # Keras' W, shape (64, 10): one column per class
keras_train_accuracy = float(
    np.mean(
        np.argmax(split.x_train @ kernel + model.layers[0].get_weights()[1], axis=1)
        == split.y_train
    )
)
print(
    f"separating weights: smallest training margin {train_margin:.3f}; loss along (sW, sb): "
    + ", ".join(f"s={s:g}: {loss:.1e}" for s, loss in zip(SCALES, ray_losses, strict=True))
)
print(f"Keras after {EPOCHS} epochs: training accuracy {keras_train_accuracy:.4f}")

# %% [markdown]
# ## Confusion matrix on the test set
# Entry $(i, j)$ counts the test digits of class $i$ predicted as class $j$.

# %%
predicted = np.argmax(model.predict(split.x_test, verbose=0), axis=1)
confusion = np.zeros((10, 10), dtype=int)
np.add.at(confusion, (split.y_test, predicted), 1)
off_diagonal = confusion - np.diag(np.diag(confusion))
worst_true, worst_predicted = np.unravel_index(np.argmax(off_diagonal), confusion.shape)
print(
    f"most frequent confusion: {worst_true} taken for {worst_predicted} "
    f"({off_diagonal.max()} times)"
)

# %% [markdown]
# ## Figure: what the linear classifier gets wrong, and what it looks at

# %%
use_course_style()
fig = plt.figure(figsize=(15, 5.3))
left, right = fig.subfigures(1, 2, width_ratios=[1.0, 1.25])
ax_conf = left.subplots()
image = ax_conf.imshow(confusion, cmap="Blues")
for i in range(10):
    for j in range(10):
        if confusion[i, j]:
            ax_conf.text(
                j,
                i,
                confusion[i, j],
                ha="center",
                va="center",
                fontsize=10,
                color="white" if confusion[i, j] > confusion.max() / 2 else "black",
            )
ax_conf.set(
    xticks=range(10),
    yticks=range(10),
    xlabel="predicted digit",
    ylabel="true digit",
    title=f"Test confusion matrix (accuracy {test_accuracy:.3f})",
)
ax_conf.grid(False)

scale = np.abs(kernel).max()  # kernel: shape (64, 10), one column per class
axes = right.subplots(2, 5)
for digit, ax in enumerate(axes.ravel()):
    template = ax.imshow(kernel[:, digit].reshape(8, 8), cmap="RdBu_r", vmin=-scale, vmax=scale)
    ax.set_title(f"class {digit}")
    ax.set(xticks=[], yticks=[])
    ax.grid(False)
    ax.spines[:].set_visible(False)
right.colorbar(template, ax=axes, shrink=0.8, label="weight $W_{pc}$ of pixel $p$")
right.suptitle("Columns of the weight matrix as 8x8 images")
fig.suptitle("Softmax regression on the digits: one Dense layer, ten linear scores")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "epochs": EPOCHS,
    "final_train_accuracy": float(history["accuracy"][-1]),
    "final_val_accuracy": float(history["val_accuracy"][-1]),
    "test_accuracy": float(test_accuracy),
    "test_loss": float(test_loss),
    "most_confused_true": int(worst_true),
    "most_confused_predicted": int(worst_predicted),
    "keras_train_accuracy": keras_train_accuracy,
    "separating_train_accuracy": float(certificate.score(split.x_train, split.y_train)),
    "separating_margin": train_margin,
    "ray_loss_s1": float(ray_losses[0]),
    "ray_loss_s16": float(ray_losses[-1]),
    "ray_loss_max_step_ratio": float(np.max(ray_losses[1:] / ray_losses[:-1])),
}
for key, value in SUMMARY.items():
    print(f"{key:>24s}: {value:.4g}" if isinstance(value, float) else f"{key:>24s}: {value}")
