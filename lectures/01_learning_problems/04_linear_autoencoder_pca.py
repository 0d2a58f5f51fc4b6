"""
Linear autoencoder: a k-dimensional bottleneck learns the PCA subspace
======================================================================

A linear autoencoder x -> D E x with a k-dimensional code, trained on centred digits to
reconstruct its input, ends up spanning the same k-dimensional subspace as the top k principal
components: unsupervised learning by gradient descent rediscovers PCA.

The figure shows, on the left, test digits (top row), their reconstructions by the trained
autoencoder (middle) and by the projection onto the top k principal components (bottom): they
are indistinguishable. On the right it shows the spectrum of the covariance matrix with the
chosen k (the variance the code keeps is shaded), and the largest principal angle between the
decoder's column space and the PCA subspace during training: it falls through 1 degree and
levels off at 0.0003 to 0.01 degrees (depending on the seed), the noise floor of Adam's
constant step size (float32 round-off alone would allow about 1e-5 degrees).
Needs the TensorFlow backend (a `tf.data` pipeline feeds the full batch).

Try:
- Set `K = 3` (eigenvalue gap λ_3 / λ_4 ≈ 1.5) and `K = 9` (gap λ_9 / λ_10 ≈ 1.15): the
  reconstructions change, and so does the number of steps to reach 1 degree. Why?
- Add `activation="tanh"` to the encoder: the subspace is no longer the PCA one.
- Look at the decoder kernel itself: is it orthonormal? Is it U_k? (Only its column space is
  determined: D = U_k A and E = A⁻¹ U_kᵀ give the same map for every invertible A.)
"""

# %%
import os

import common.quiet  # noqa: F401  (hides TensorFlow's start-up log lines)
from common.data import load_digits
from common.plotting import use_course_style

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from scipy.linalg import subspace_angles

# %% [markdown]
# ## Parameters
# `MMA440_SMOKE=1` shrinks the run to a few seconds; `MMA440_SEED` changes the seed.

# %%
SMOKE = os.environ.get("MMA440_SMOKE", "0") == "1"
SEED = int(os.environ.get("MMA440_SEED", "0"))

K = 10  # size of the bottleneck (the code)
LEARNING_RATE = 0.01
STEPS = 50 if SMOKE else 800  # full-batch Adam steps
RECORD_EVERY = 10  # record the decoder every RECORD_EVERY steps (STEPS is a multiple of it)
N_SHOWN = 8  # test digits in the figure

# %% [markdown]
# ## Data: centred digits
# The 64-pixel digits of the training part, centred by the training mean $\bar x$ (PCA and the
# autoencoder without biases both need centred data). No labels are used.

# %%
keras.utils.set_random_seed(SEED)
split = load_digits(seed=SEED)
mean = split.x_train.mean(axis=0)
x_train = split.x_train - mean
x_test = split.x_test - mean
n, d = x_train.shape
print(f"training {x_train.shape}, test {x_test.shape}")

# %% [markdown]
# ## PCA: the oracle
# The empirical covariance $C = \frac1n X^\top X = U \Lambda U^\top$ with eigenvalues
# $\lambda_1 \ge \dots \ge \lambda_d$. Among all rank-$k$ linear maps, the mean squared
# reconstruction error $\frac1n\sum_i \lVert x_i - P x_i\rVert^2$ is smallest for the orthogonal
# projector $P = U_k U_k^\top$ onto the top $k$ eigenvectors, where it equals
# $\sum_{j>k}\lambda_j$ (Eckart-Young). Computed in float64.

# %%
covariance = x_train.T.astype(np.float64) @ x_train / n
eigenvalues, eigenvectors = np.linalg.eigh(covariance)
eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]  # descending order
top_k = eigenvectors[:, :K]  # U_k, shape (d, K)
pca_mse = eigenvalues[K:].sum() / d  # per pixel, as Keras' "mse" averages over pixels too
kept = eigenvalues[:K].sum() / eigenvalues.sum()
print(
    f"top {K} components keep {kept:.1%} of the variance; gap lambda_k / lambda_k+1 = "
    f"{eigenvalues[K - 1] / eigenvalues[K]:.3f}"
)

# %% [markdown]
# ## The linear autoencoder
# Encoder $E \in \mathbb R^{k\times d}$, decoder $D \in \mathbb R^{d\times k}$, both linear
# without biases, trained on $L(E, D) = \frac{1}{nd}\sum_i \lVert x_i - D E x_i \rVert^2$.
# $DE$ has rank at most $k$, so $L \ge$ the PCA error. Baldi and Hornik (1989): every local
# minimum of $L$ is global, and at a global minimum $DE = U_k U_k^\top$, so the column space
# of $D$ is the span of the top $k$ principal components (if $\lambda_k > \lambda_{k+1}$).
# The directions $U_k$ themselves are not identified: $(D A, A^{-1} E)$ fits equally well.

# %%
autoencoder = keras.Sequential(
    [
        keras.Input(shape=(d,)),
        keras.layers.Dense(K, use_bias=False, name="encoder"),
        keras.layers.Dense(d, use_bias=False, name="decoder"),
    ]
)
autoencoder.compile(
    optimizer=keras.optimizers.Adam(LEARNING_RATE),
    loss="mse",
    steps_per_execution=RECORD_EVERY,  # callbacks see the model every RECORD_EVERY steps
)

# %% [markdown]
# ## Training, and the principal angles along the way
# The principal angles $0 \le \theta_1 \le \dots \le \theta_k \le \frac\pi2$ between two
# $k$-dimensional subspaces are the arccosines of the singular values of $Q_1^\top Q_2$ for
# orthonormal bases $Q_1, Q_2$; the subspaces agree when the largest angle is zero.
# `scipy.linalg.subspace_angles` computes them.
#
# Full-batch Adam: one epoch of `fit` made of `STEPS` full batches, as in the regression
# scripts. Repeating this training set in memory `STEPS` times would cost hundreds of
# megabytes, so a `tf.data` pipeline hands `fit` the same full batch `STEPS` times instead.
#
# Adam does not converge to the minimum with a constant learning rate $\eta$: near it, its step
# $\eta\,\hat m/(\sqrt{\hat v} + \epsilon)$ stays of order $\eta$ in the directions where the
# gradient keeps changing sign, so the weights jitter around the principal subspace and the
# angle levels off at a floor set by $\eta$, not by float32 round-off.


# %%
def largest_angle_degrees(decoder_kernel):
    """Largest principal angle between the decoder's column space and span(U_k)."""
    return np.degrees(subspace_angles(decoder_kernel.T.astype(np.float64), top_k).max())


class RecordAngle(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.angles = [largest_angle_degrees(self.model.get_layer("decoder").get_weights()[0])]

    def on_train_batch_end(self, batch, logs=None):
        self.angles.append(largest_angle_degrees(self.model.get_layer("decoder").get_weights()[0]))


recorder = RecordAngle()
full_batches = tf.data.Dataset.from_tensors((x_train, x_train)).repeat(STEPS)
autoencoder.fit(full_batches, epochs=1, shuffle=False, verbose=0, callbacks=[recorder])
angles = np.array(recorder.angles)
angle_steps = RECORD_EVERY * np.arange(len(angles))

# %% [markdown]
# ## Compare with PCA

# %%
encoder_kernel = autoencoder.get_layer("encoder").get_weights()[0]  # E^T, shape (d, K)
decoder_kernel = autoencoder.get_layer("decoder").get_weights()[0]  # D^T, shape (K, d)
all_angles = np.degrees(subspace_angles(decoder_kernel.T.astype(np.float64), top_k))
# Keras computes x @ E^T @ D^T, i.e. the map x -> D E x. Compare it with the PCA projection
# on the training digits (the data span: pixels blank in every training image give the
# encoder no gradient, so D E is determined only on the span of the data).
reconstruction_difference = np.abs(
    x_train @ encoder_kernel @ decoder_kernel - x_train @ top_k @ top_k.T
).max()
autoencoder_mse = autoencoder.evaluate(x_train, x_train, verbose=0, batch_size=n)
print(f"principal angles (degrees): {np.round(all_angles, 4)}")
print(f"largest pixel difference of the reconstructions: {reconstruction_difference:.2e}")
print(f"training MSE: autoencoder {autoencoder_mse:.6f}, PCA {pca_mse:.6f}")

reconstructed_ae = autoencoder.predict(x_test[:N_SHOWN], verbose=0) + mean
reconstructed_pca = x_test[:N_SHOWN] @ top_k @ top_k.T + mean

# %% [markdown]
# ## Figure: reconstructions, spectrum, and convergence of the subspace

# %%
use_course_style()
fig = plt.figure(figsize=(15, 6.5))
left, right = fig.subfigures(1, 2, width_ratios=[1.15, 1.0])
image_axes = left.subplots(3, N_SHOWN)
rows = [
    ("test digit", x_test[:N_SHOWN] + mean),
    ("autoencoder", reconstructed_ae),
    (f"PCA, k={K}", reconstructed_pca),
]
for row, (name, images) in enumerate(rows):
    for column in range(N_SHOWN):
        ax = image_axes[row, column]
        ax.imshow(images[column].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        ax.set(xticks=[], yticks=[])
        ax.grid(False)
        ax.spines[:].set_visible(False)
    image_axes[row, 0].set_ylabel(name, fontsize=13)
left.suptitle(f"Test digits and their reconstructions from a {K}-number code")

ax_spectrum, ax_angle = right.subplots(2, 1)
index = np.arange(1, d + 1)
ax_spectrum.semilogy(index, eigenvalues, "o-", markersize=4, label="eigenvalue $\\lambda_j$")
ax_spectrum.axvspan(
    0.5,
    K + 0.5,
    color="C1",
    alpha=0.2,
    label=f"kept by the code: $k={K}$ ({kept:.0%} of the variance)",
)
ax_spectrum.set(
    xlabel="component $j$",
    ylabel="variance (log scale)",
    xlim=(0, d + 1),
    ylim=(1e-5, 2),
    title="Spectrum of the pixel covariance",
)
ax_spectrum.legend(loc="lower left")

ax_angle.semilogy(angle_steps, angles)
ax_angle.set(
    xlabel="Adam step",
    ylabel="degrees (log scale)",
    title="Largest principal angle: decoder vs top-k PCA",
)
ax_angle.axhline(1.0, color="gray", linestyle=":")
ax_angle.text(angle_steps[-1], 1.3, "1 degree", ha="right", color="gray")
fig.suptitle("A linear autoencoder learns the principal subspace")
plt.show()

# %% [markdown]
# ## Summary

# %%
SUMMARY = {
    "k": K,
    "steps": STEPS,
    "max_principal_angle_degrees": float(all_angles.max()),
    "mean_principal_angle_degrees": float(all_angles.mean()),
    "eigenvalue_gap_ratio": float(eigenvalues[K - 1] / eigenvalues[K]),
    "max_reconstruction_difference": float(reconstruction_difference),
    "autoencoder_mse": float(autoencoder_mse),
    "pca_mse": float(pca_mse),
    "mse_ratio": float(autoencoder_mse / pca_mse),
    "variance_kept": float(kept),
}
for key, value in SUMMARY.items():
    print(f"{key:>28s}: {value:.4g}" if isinstance(value, float) else f"{key:>28s}: {value}")
