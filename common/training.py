"""`fit_fast`: `model.fit` for many short epochs, with Keras' per-epoch overhead paid less often.

Keras spends tens of milliseconds of bookkeeping per epoch on a CPU (callbacks, iterators,
validation), which dominates the small models of a lecture. `fit_fast` trains exactly like
``model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True)``: every epoch is one
fresh permutation of the training set cut into mini-batches, one optimizer step per batch. It
hands Keras `every` epochs at a time as one long pass (the permutations one after another) and
runs all of their steps in one compiled execution, then evaluates the validation data. So the
curves it returns have one point per `every` epochs, and the training loss and metrics are
means over those epochs, as Keras reports them.

One difference from `fit`: when `batch_size` does not divide the number of examples, a batch
may straddle two epochs (Keras' `fit` would end each epoch with a smaller batch).
"""

from __future__ import annotations

import numpy as np


def fit_fast(
    model,
    x: np.ndarray,
    y: np.ndarray | tuple[np.ndarray, ...] | list[np.ndarray],
    *,
    epochs: int,
    batch_size: int | None = None,
    every: int = 10,
    validation_data: tuple[np.ndarray, np.ndarray] | None = None,
    shuffle: bool = True,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Train a compiled Keras model for `epochs` epochs; return its history as arrays.

    For a model with several outputs, `y` is a tuple or list with one array per output.
    `batch_size=None` means full-batch gradient descent. The result maps "epoch" (the epoch
    count at each record, 1-based) and every name in Keras' history ("loss", "val_loss", ...)
    to NumPy arrays of the same length.
    """
    for name, value in (("epochs", epochs), ("every", every)):
        if not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    n = len(x)
    targets = list(y) if isinstance(y, tuple | list) else [y]
    for target in targets:
        if len(target) != n:
            raise ValueError(f"x and y must have the same length, got {n} and {len(target)}")
    batch_size = n if batch_size is None else batch_size
    if not isinstance(batch_size, int | np.integer) or not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be an integer in [1, {n}] or None, got {batch_size!r}")
    if getattr(model, "optimizer", None) is None:
        raise ValueError("compile the model before calling fit_fast")

    # Run all the steps of `every` epochs in one compiled call of the training function.
    steps = -(-every * n // batch_size)
    if model.steps_per_execution < steps:
        model.steps_per_execution = steps
        model.make_train_function(force=True)

    rng = np.random.default_rng(seed)
    history: dict[str, list[float]] = {"epoch": []}
    done = 0
    while done < epochs:
        chunk = min(every, epochs - done)
        order = np.concatenate(
            [rng.permutation(n) if shuffle else np.arange(n) for _ in range(chunk)]
        )
        y_order = [target[order] for target in targets]
        result = model.fit(
            x[order],
            y_order if isinstance(y, tuple | list) else y_order[0],
            batch_size=batch_size,
            epochs=1,
            shuffle=False,
            validation_data=validation_data,
            verbose=0,
        )
        done += chunk
        history["epoch"].append(done)
        for key, values in result.history.items():
            history.setdefault(key, []).append(float(values[-1]))
    return {key: np.asarray(values) for key, values in history.items()}
