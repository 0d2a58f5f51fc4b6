"""Unit tests of `common.training.fit_fast`: it must train exactly as `model.fit` does.

Keras is imported in the tests, not when pytest collects this file: a test worker that runs
none of them does not pay for the import.
"""

from __future__ import annotations

from common.training import LOOP_FROM, fit_fast

import numpy as np
import pytest


def keras_module():
    import common.quiet  # noqa: F401  (before keras: a quiet TensorFlow start-up)

    import keras

    return keras


N = 100


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]]) + 0.1 * rng.normal(size=(N, 1))).astype("float32")
    return x, y


def small_model(adam: bool = False):
    keras = keras_module()
    keras.utils.set_random_seed(0)
    if adam:  # random dropout masks, moving statistics, slot variables and a metric
        model = keras.Sequential(
            [
                keras.Input((3,)),
                keras.layers.Dense(4, activation="tanh"),
                keras.layers.Dropout(0.3),
                keras.layers.BatchNormalization(),
                keras.layers.Dense(1),
            ]
        )
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    else:
        model = keras.Sequential(
            [keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)]
        )
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    return model


# Batch sizes that divide N, do not, full batch; 17 epochs of 4 batches are 68 steps, at least
# LOOP_FROM (the compiled loop of steps), 12 epochs at most 48 (one step per execution).
@pytest.mark.parametrize(
    "batch_size, epochs, adam",
    [(25, 17, False), (32, 17, False), (None, 12, False), (25, 12, True), (25, 17, True)],
)
def test_fit_fast_equals_fit_epoch_by_epoch(batch_size, epochs, adam):
    """Same permutations, same batches (the last one smaller), same weights as `fit`."""
    x, y = data()
    reference = small_model(adam)
    rng = np.random.default_rng(5)
    for _ in range(epochs):
        order = rng.permutation(N)
        reference.fit(
            x[order], y[order], batch_size=batch_size or N, epochs=1, shuffle=False, verbose=0
        )
    model = small_model(adam)
    steps_per_call = []  # the steps per execution each of fit_fast's `fit` calls ran with
    fit = model.fit

    def fit_and_note_steps(*args, **kwargs):
        steps_per_call.append(model.steps_per_execution)
        return fit(*args, **kwargs)

    model.fit = fit_and_note_steps
    history = fit_fast(model, x, y, epochs=epochs, batch_size=batch_size, every=5, seed=5)
    assert history["epoch"].tolist() == [*range(5, epochs, 5), epochs]
    steps = epochs * -(-N // (batch_size or N))
    # Both ways of running the steps are tested: the compiled loop of `every` epochs' steps
    # (17 epochs) and one step per execution (12 epochs).
    loop = steps >= LOOP_FROM
    assert loop == (epochs == 17)
    assert set(steps_per_call) == ({5 * -(-N // (batch_size or N))} if loop else {1})
    for ours, theirs in zip(model.get_weights(), reference.get_weights(), strict=True):
        # Same float32 operations in the same order: identical, not merely close.
        np.testing.assert_array_equal(ours, theirs)


def test_fit_fast_restores_steps_per_execution_and_reports_validation():
    x, y = data()
    model = small_model()
    history = fit_fast(model, x, y, epochs=6, batch_size=32, every=3, validation_data=(x, y))
    assert model.steps_per_execution == 1
    assert set(history) == {"epoch", "loss", "val_loss"}
    assert history["val_loss"][-1] == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"epochs": 2, "every": 0}, "every must be a positive integer"),
        ({"epochs": 2, "batch_size": 0}, r"batch_size must be an integer in \[1, 100\]"),
        ({"epochs": 2, "batch_size": 101}, r"batch_size must be an integer in \[1, 100\]"),
    ],
)
def test_fit_fast_rejects_bad_arguments(kwargs, message):
    x, y = data()
    with pytest.raises(ValueError, match=message):
        fit_fast(small_model(), x, y, **kwargs)


def test_keras_still_has_the_builder_fit_fast_uses():
    """`fit_fast` calls Keras' private `Model._symbolic_build` to create the variables before
    the first step is traced; without it, training is the same but slower. A Keras upgrade
    that removes it should be noticed here, not as a slower test suite."""
    assert hasattr(keras_module().Model, "_symbolic_build")


def test_fit_fast_needs_a_compiled_model():
    x, y = data()
    keras = keras_module()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="compile the model"):
        fit_fast(model, x, y, epochs=1)
