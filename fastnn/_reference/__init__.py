"""Plain-numpy versions of every compiled kernel: the test oracle.

One module per kernel family (``core``, ``optim``, ``norm``, ``preprocessing``, ``augment`` ...), with the
same function names and argument order as ``fastnn.ops.<family>`` but returning new arrays instead of
writing ``*_out`` arguments. Written for clarity, in float64 where accumulation matters.
"""
