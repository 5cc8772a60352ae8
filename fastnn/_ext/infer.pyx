# cython: language_level=3
"""Cython shim over csrc/infer.c. No checks here: fastnn.ops.infer validates the program's arrays once, when it
is built, and each call's shapes, dtypes and contiguity; the arrays are passed as raw pointers (no memoryview
is acquired per call: a batch-1 call costs microseconds)."""
cimport cython
from libc.stdint cimport int64_t

cimport numpy as cnp

cnp.import_array()

PANEL_BYTES = FNN_INFER_PANEL_BYTES


cdef inline void *_data(object a):
    return cnp.PyArray_DATA(<cnp.ndarray>a) if a is not None else NULL


def pack_program(list layers):
    """The layers of a compiled forward pass as an array of C structs in a bytes object (kind, activation,
    sizes, pointers into the arrays: the caller keeps them alive as long as the bytes). ``layers``: tuples
    (kind, act, in, out, w, b, w_rows, ld_rows, alpha, eps), w, b and w_rows arrays or None."""
    cdef bytearray buf = bytearray(max(len(layers), 1) * sizeof(fnn_infer_layer))
    cdef fnn_infer_layer *L = <fnn_infer_layer *><char *>buf
    for i, (kind, act, n_in, n_out, w, b, w_rows, ld_rows, alpha, eps) in enumerate(layers):
        L[i].kind = kind
        L[i].act = act
        L[i].in_ = n_in
        L[i].out = n_out
        L[i].w = _data(w)
        L[i].b = _data(b)
        L[i].w_rows = _data(w_rows)
        L[i].ld_rows = ld_rows
        L[i].alpha = alpha
        L[i].eps = eps
    return bytes(buf)


cdef inline const fnn_infer_layer *_layers(bytes program):
    return <const fnn_infer_layer *><const char *>program


def forward(bytes program, object x, object y_out, object scratch, int output, int n_threads):
    """Returns 0, or 1 when x holds NaN or inf (nothing computed)."""
    return _forward(program, x, y_out, scratch, output, n_threads)


cdef int _forward(bytes program, object x, object y_out, object scratch, int output, int n_threads):
    cdef int64_t rows = cnp.PyArray_DIM(<cnp.ndarray>x, 0)
    cdef void *xp = _data(x)
    cdef void *yp = _data(y_out)
    cdef void *sp = _data(scratch)
    cdef int rc
    cdef int n_layers = len(program) // sizeof(fnn_infer_layer)
    cdef const fnn_infer_layer *layers = _layers(program)
    cdef bint f32 = cnp.PyArray_TYPE(<cnp.ndarray>x) == cnp.NPY_FLOAT32
    with nogil:
        infer_gil_released()
        if f32:
            rc = infer_forward_f32(layers, n_layers, <const float *>xp, <float *>yp, <float *>sp,
                                   rows, output, n_threads)
        else:
            rc = infer_forward_f64(layers, n_layers, <const double *>xp, <double *>yp,
                                   <double *>sp, rows, output, n_threads)
        infer_gil_before_take()  # a brief spin while another caller holds the GIL: csrc/infer.c
    infer_gil_taken()
    return rc


@cython.auto_pickle(False)  # built from a Program, never pickled (a plan pickles its layers)
cdef class OneCall:
    """A plan's whole small-batch call in one C call: the argument tests, the result array and the
    kernel (the checks fastnn.ops.infer makes otherwise, for the arrays a served request usually brings). Holds
    the packed program (whose arrays its Program keeps alive) and the shapes it takes."""
    cdef bytes program
    cdef int type_num
    cdef int64_t n_in, n_out, max_rows, widest

    def __init__(self, bytes program, int type_num, int64_t n_in, int64_t n_out, int64_t max_rows, int64_t widest):
        self.program, self.type_num, self.n_in, self.n_out, self.max_rows = program, type_num, n_in, n_out, max_rows
        self.widest = widest

    def __call__(self, object X, object out, object scratch, int64_t scratch_rows, int output, int n_threads,
                 list in_flight):
        """``out`` (or a new array) = the program on X, or None when X is not exactly a C-contiguous, aligned
        (rows, n_in) ndarray of the program's dtype in native byte order with 1 <= rows <= max_rows and rows <=
        ``scratch_rows``, or ``out`` (given) is not exactly such a writeable (rows, n_out) one apart from X: the
        caller then takes the checked path. ``scratch``: 2 * scratch_rows * the widest hidden layer elements, or
        None when that is 0; None too when it is not such a writeable array of the dtype with room for X's rows,
        apart from X and out. ``in_flight``: the calls in flight (fastnn._config), this one appended while it
        runs. A ValueError when X holds NaN or inf."""
        cdef int flags = cnp.NPY_ARRAY_C_CONTIGUOUS | cnp.NPY_ARRAY_ALIGNED
        cdef cnp.npy_intp dims[2]
        cdef cnp.ndarray x, y
        if type(X) is not cnp.ndarray:
            return None
        x = <cnp.ndarray>X
        # PyArray_TYPE ignores the byte order: a big-endian array (np.load of a '>f4' .npy) takes the checked path
        if (cnp.PyArray_TYPE(x) != self.type_num or cnp.PyArray_NDIM(x) != 2 or cnp.PyArray_DIM(x, 1) != self.n_in
                or not 1 <= cnp.PyArray_DIM(x, 0) <= self.max_rows or cnp.PyArray_DIM(x, 0) > scratch_rows
                or not cnp.PyArray_CHKFLAGS(x, flags)
                or not cnp.PyArray_ISNOTSWAPPED(x)):
            return None
        dims[0], dims[1] = cnp.PyArray_DIM(x, 0), self.n_out
        if out is None:
            y = cnp.PyArray_EMPTY(2, dims, self.type_num, 0)
        else:
            if type(out) is not cnp.ndarray:
                return None
            y = <cnp.ndarray>out
            if (cnp.PyArray_TYPE(y) != self.type_num or cnp.PyArray_NDIM(y) != 2
                    or cnp.PyArray_DIM(y, 0) != dims[0] or cnp.PyArray_DIM(y, 1) != dims[1]
                    or not cnp.PyArray_CHKFLAGS(y, flags | cnp.NPY_ARRAY_WRITEABLE)
                    or not cnp.PyArray_ISNOTSWAPPED(y)):
                return None
            if _overlap(y, x):
                return None  # out overlaps X: the checked path reads X from a copy
        if self.widest == 0:
            scratch = None  # no hidden layer: the kernel reads no scratch
        elif not self._scratch_ok(scratch, x, y):
            return None
        in_flight.append(None)
        try:
            if _forward(self.program, x, y, scratch, output, n_threads):
                raise ValueError("x contains NaN or infinite values")
        finally:
            in_flight.pop()
        return y

    cdef bint _scratch_ok(self, object scratch, cnp.ndarray x, cnp.ndarray y):
        """Whether ``scratch`` is a writeable, C-contiguous, aligned array of the dtype that holds X's rows and
        shares no memory with X or out (the kernel writes it while it reads X and writes out)."""
        cdef cnp.ndarray s
        if type(scratch) is not cnp.ndarray:
            return False
        s = <cnp.ndarray>scratch
        return (cnp.PyArray_TYPE(s) == self.type_num and cnp.PyArray_ISNOTSWAPPED(s)
                and cnp.PyArray_CHKFLAGS(s, cnp.NPY_ARRAY_C_CONTIGUOUS | cnp.NPY_ARRAY_ALIGNED
                                         | cnp.NPY_ARRAY_WRITEABLE)
                and cnp.PyArray_SIZE(s) >= 2 * cnp.PyArray_DIM(x, 0) * self.widest
                and not _overlap(s, x) and not _overlap(s, y))


cdef inline bint _overlap(cnp.ndarray a, cnp.ndarray b):
    """Whether the byte ranges of two contiguous arrays meet."""
    cdef char *a0 = <char *>cnp.PyArray_DATA(a)
    cdef char *b0 = <char *>cnp.PyArray_DATA(b)
    return a0 < b0 + cnp.PyArray_NBYTES(b) and b0 < a0 + cnp.PyArray_NBYTES(a)


def all_finite(object x):
    cdef int64_t n = cnp.PyArray_SIZE(<cnp.ndarray>x)
    cdef void *xp = _data(x)
    cdef int ok
    cdef bint f32 = cnp.PyArray_TYPE(<cnp.ndarray>x) == cnp.NPY_FLOAT32
    with nogil:
        ok = infer_all_finite_f32(<const float *>xp, n) if f32 else infer_all_finite_f64(<const double *>xp, n)
    return bool(ok)


def epilogue(bytes program, int index, object x, object y_out, int n_threads):
    cdef int64_t rows = cnp.PyArray_DIM(<cnp.ndarray>x, 0)
    cdef void *xp = _data(x)
    cdef void *yp = _data(y_out)
    cdef bint f32 = cnp.PyArray_TYPE(<cnp.ndarray>x) == cnp.NPY_FLOAT32
    cdef const fnn_infer_layer *layer = _layers(program) + index
    with nogil:
        if f32:
            infer_epilogue_f32(layer, <const float *>xp, <float *>yp, rows, n_threads)
        else:
            infer_epilogue_f64(layer, <const double *>xp, <double *>yp, rows, n_threads)


def output_map(object y, int output, int n_threads):
    cdef int64_t rows = cnp.PyArray_DIM(<cnp.ndarray>y, 0), cols = cnp.PyArray_DIM(<cnp.ndarray>y, 1)
    cdef void *yp = _data(y)
    cdef bint f32 = cnp.PyArray_TYPE(<cnp.ndarray>y) == cnp.NPY_FLOAT32
    with nogil:
        if f32:
            infer_output_f32(<float *>yp, rows, cols, output, n_threads)
        else:
            infer_output_f64(<double *>yp, rows, cols, output, n_threads)


def simd_level():
    return infer_simd_level()


def simd_set_cap(int max_level):
    infer_simd_set_cap(max_level)


def skip_zeros(int on):
    """Set whether batch-1 tiles skip zero inputs (on < 0: leave it); returns the setting before."""
    return bool(infer_skip_zeros(on))


def gil_spin(int64_t ns):
    """The GIL hand-off's spin bound in ns (csrc/infer.c), set when ns >= 0; returns the one before."""
    return infer_gil_spin(ns)


def gil_spin_supported():
    """Whether this build has the GIL hand-off (a C runtime with a fine clock)."""
    return bool(infer_gil_spin_supported())
