"""The application layer: side effects, command line, benchmarks. Never imports Qt."""

import os

# Before NumPy is imported anywhere: OpenBLAS's own threads spin on this 2-core class of machine
# and stall the event loop while a fit runs in a worker thread (see app/runs/workers.py).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from importlib.metadata import PackageNotFoundError, version  # noqa: E402

try:
    __version__ = version("huleedu-desktop")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+source"
