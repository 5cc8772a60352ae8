"""Plain-numpy versions of every compiled kernel: the test oracle.

One module per kernel family (``dense``, ``loss``, ``norm``, ``optim``, ``dropout``, ``augment``; the shared
generator in ``random``), with the same function names and parameters as ``fastnn.ops.<family>`` minus what
only a compiled kernel needs (``*_out`` outputs: the twins return new arrays; scratch; ``n_threads``);
tests/test_kernel_contract.py checks it. Written for clarity, in float64 where accumulation matters.
"""
