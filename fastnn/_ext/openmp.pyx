# cython: language_level=3
"""How the kernels were built: OpenMP compiled in, asked for, and its thread count (csrc/openmp.c)."""


def openmp_enabled():
    """True when this extension was compiled with OpenMP."""
    return bool(fnn_openmp_enabled_flag())


def openmp_requested():
    """False only for a deliberate serial build (FASTNN_NO_OPENMP=1 at build time)."""
    return bool(fnn_openmp_requested_flag())


def omp_max_threads():
    return fnn_omp_max_threads_value()
