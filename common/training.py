"""`fit_fast`: `model.fit` for many short epochs, with Keras' per-epoch overhead paid less often.

Keras spends tens of milliseconds of bookkeeping per epoch on a CPU (callbacks, iterators,
validation), which dominates the small models of a lecture. `fit_fast` trains exactly like
``model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True)``: every epoch is one
fresh permutation of the training set cut into mini-batches of `batch_size`, the last one
smaller when `batch_size` does not divide the number of examples (as in `fit`; no batch ever
holds examples of two epochs), and one optimizer step per batch.

What differs from `fit`, and nothing else:

- Speed: it hands Keras `every` epochs at a time as one pass and runs all of their steps in
  one compiled execution (`steps_per_execution`), then evaluates the validation data once.
  A run of fewer than `LOOP_FROM` (64) steps in all runs one step per execution: TensorFlow
  takes longer to trace the compiled loop of steps than the few milliseconds per step it saves.
- Records: the returned curves have one point per `every` epochs (at epochs `every`,
  `2 * every`, ..., and the last epoch). The validation numbers are those of the weights at
  that epoch; the training loss and metrics are Keras' running means over the steps of those
  `every` epochs (`fit` reports the mean over the steps of one epoch).
- Shuffling: the permutations come from NumPy's generator seeded with `seed`, not from Keras'.
- Start-up: the optimizer's and the metrics' variables are created before the first step is
  compiled (Keras does this itself only under a distribution strategy; otherwise it creates
  them inside the first compiled step, which makes TensorFlow trace that step twice). The
  variables and their starting values are the same, so the training is too.

The model's `steps_per_execution` is restored when `fit_fast` returns, so a later `fit`,
`evaluate` or callback sees the model as it was compiled.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np

# Fewer steps than this in a whole `fit_fast` call: one step per compiled execution.
LOOP_FROM = 64


def _build_before_tracing(model, data_batch: tuple) -> None:
    """Create a built model's metrics' and optimizer's variables from a batch of the training
    data, symbolically, as Keras does under a distribution strategy. Keras 3's builder is
    private: where it is missing or cannot build this model, nothing is built here and the
    first step is traced twice, as in `fit` (slower, same result)."""
    build = getattr(model, "_symbolic_build", None)
    if build is None or not model.built:  # an unbuilt model is built by its first step
        return
    try:
        build(data_batch=data_batch)
    except (TypeError, ValueError, RuntimeError):
        pass  # what is left unbuilt is built inside the first step, as `fit` does


def _epoch_batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Cut one epoch's permutation into batches; the last is smaller if needed (as `fit`)."""
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


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

    steps_per_epoch = -(-n // batch_size)
    rng = np.random.default_rng(seed)

    def permutation() -> np.ndarray:
        return rng.permutation(n) if shuffle else np.arange(n)

    def pick(index: np.ndarray):
        picked = [target[index] for target in targets]
        return x[index], (tuple(picked) if isinstance(y, tuple | list) else picked[0])

    _build_before_tracing(model, pick(np.arange(batch_size)))  # a batch of the real shape
    # Run all the steps of `every` epochs in one compiled call of the training function.
    saved_steps_per_execution = model.steps_per_execution
    steps_in_all = epochs * steps_per_epoch
    model.steps_per_execution = every * steps_per_epoch if steps_in_all >= LOOP_FROM else 1
    model.make_train_function(force=True)
    history: dict[str, list[float]] = {"epoch": []}
    done = 0
    try:
        while done < epochs:
            chunk = min(every, epochs - done)
            if n % batch_size == 0:
                # Equal batches: the chunk's permutations one after another, as arrays, cut
                # by Keras into batches that never straddle two epochs.
                order = np.concatenate([permutation() for _ in range(chunk)])
                inputs, outputs = pick(order)
                fit_args = {"x": inputs, "y": outputs, "batch_size": batch_size}
            else:
                # Each epoch ends with a smaller batch: feed the batches one by one.
                batches = [
                    b for _ in range(chunk) for b in _epoch_batches(permutation(), batch_size)
                ]

                def batch_stream(batches: list[np.ndarray] = batches) -> Iterator[tuple]:
                    for index in batches:
                        yield pick(index)

                fit_args = {"x": batch_stream(), "steps_per_epoch": len(batches)}
            with warnings.catch_warnings():
                # The validation pass runs `steps_per_execution` steps at a time too and ends
                # early on its last batch; Keras warns that its input "ran out of data".
                warnings.filterwarnings("ignore", message="Your input ran out of data")
                result = model.fit(
                    **fit_args,
                    epochs=1,
                    shuffle=False,
                    validation_data=validation_data,
                    verbose=0,
                )
            done += chunk
            history["epoch"].append(done)
            for key, values in result.history.items():
                history.setdefault(key, []).append(float(values[-1]))
    finally:
        # The compiled train, test and predict functions remember `steps_per_execution`.
        model.steps_per_execution = saved_steps_per_execution
        model.make_train_function(force=True)
        model.make_test_function(force=True)
        model.make_predict_function(force=True)
    return {key: np.asarray(values) for key, values in history.items()}
