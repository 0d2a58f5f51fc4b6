"""Import this module before `keras` to hide TensorFlow's start-up log lines.

TensorFlow's C++ runtime writes a few informational lines (oneDNN, CUDA drivers) to the
process' standard error while it is imported; `TF_CPP_MIN_LOG_LEVEL` hides only part of them.
This module sets that variable and, when Keras will use the TensorFlow backend, imports
TensorFlow once with file descriptor 2 pointed at a temporary file. If the import fails, the
captured text is written back to standard error before the exception propagates, so nothing
that explains a real failure is lost.

Usage, as the first project import of a script (isort places `common` before third-party
packages in this project)::

    import common.quiet  # noqa: F401
    import keras
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import IO

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def _stderr_captured() -> Iterator[IO[bytes]]:
    """Point file descriptor 2 at a temporary file for the duration of the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield sink
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _backend() -> str:
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up messages hidden (no-op for other backends)."""
    if _backend() != "tensorflow" or "tensorflow" in sys.modules:
        return
    with _stderr_captured() as sink:
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)


import_tensorflow_quietly()
