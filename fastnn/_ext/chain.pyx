# cython: language_level=3
"""A network of Dense layers' whole training step in one call: its kernels run back to back with the GIL released
and no Python between them (fastnn.training.chain builds the program and says when it applies).

The calls are those Dense.forward, the cross-entropy loss, Dense.backward with the fused weight updates and
FusedStep.finish make, in the same order with the same arguments, so the step gives the same bits:

    each layer, first to last:  z = x W (gemm); y = act(z + b) (in place, y is z, unless GELU)
    the loss:                   sum, correct = softmax_xent(y, labels) with d(mean loss)/dy into grad
                                (stop here when the loss is not finite and the caller asks: nothing was updated)
    each layer, last to first:  dz = dy * act'(z) in dy's place, db = column sums of dz (act_backward)
                                dx = dz W^T (not for the first layer), before W changes
                                dW = x^T dz with W's optimizer update applied to each block as it is written
    every other parameter:      its optimizer update (the row-update contexts of FusedStep's rest)

A program holds raw pointers into the model's parameters, gradients and workspaces and into the optimizer's
row-update contexts; ``keep`` holds what they point into, so that outlives the program. The builder guarantees
shapes, dtypes and contiguity (checked here only as far as memory safety needs). Each call's thread count is a
class (0: one thread, 1: an ordinary call's share, 2: a large call's share) that ``run`` resolves from the
shares the caller gives for this step (fastnn._config.class_threads).
"""
cimport cython
from libc.math cimport isfinite
from libc.stdint cimport int8_t, int64_t
from libc.stdlib cimport calloc, free

cimport numpy as cnp

from .dense cimport act_backward_any, bias_act_any
from .gemm cimport fnn_gemm_epilogue, gemm_any
from .loss cimport softmax_xent_any
from .optim cimport fnn_row_update, update_tensors_any

cnp.import_array()

# The calls of one layer, in the order of Layer.threads
cdef enum:
    FORWARD = 0
    BIAS_ACT = 1
    ACT_BACKWARD = 2
    INPUT_GRAD = 3
    WEIGHT_GRAD = 4
    N_CALLS = 5


cdef struct Layer:
    int64_t n_in, n_out
    const void *x              # the layer's input (NULL for the first: the batch given to run)
    const void *w              # W (n_in, n_out), C-contiguous
    const void *b              # b (n_out,); NULL: no bias
    void *z                    # (rows, n_out)
    void *y                    # z itself unless GELU
    void *dx                   # (rows, n_in), the previous layer's dy; NULL for the first layer
    void *db                   # the bias gradient; NULL: no bias
    void *dw                   # W's gradient (n_in, n_out), C-contiguous
    const void *update         # W's row-update context (csrc/optim.h)
    int act
    double alpha
    int8_t threads[5]          # the thread class of each call (N_CALLS)


cdef void *_data(object a, int typenum, int64_t rows, int64_t cols, bint write, str name) except NULL:
    """The data of ``a`` after the checks memory safety needs: an aligned C-contiguous ndarray of ``typenum`` and
    shape (rows, cols), or (rows,) where cols < 0; writeable if written."""
    if not isinstance(a, cnp.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    cdef cnp.ndarray arr = <cnp.ndarray>a
    cdef int ndim = 1 if cols < 0 else 2
    if (cnp.PyArray_TYPE(arr) != typenum or cnp.PyArray_NDIM(arr) != ndim or cnp.PyArray_DIM(arr, 0) != rows
            or (ndim == 2 and cnp.PyArray_DIM(arr, 1) != cols)):
        raise ValueError(f"{name}: expected {(rows, cols)[:ndim]} of type number {typenum}, got {a.shape} {a.dtype}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(arr) or not cnp.PyArray_ISALIGNED(arr) or (
            write and not cnp.PyArray_ISWRITEABLE(arr)):
        raise ValueError(f"{name} must be aligned and C-contiguous" + (" and writeable" if write else ""))
    return cnp.PyArray_DATA(arr)


cdef inline void *_optional(object a, int typenum, int64_t n, bint write, str name) except? NULL:
    return NULL if a is None else _data(a, typenum, n, -1, write, name)


@cython.auto_pickle(False)  # it holds raw pointers
cdef class DenseChain:
    """The program of one batch size: ``set_layer`` for each layer in order, ``set_loss``, ``set_updates`` (each
    once: a pointer bound is never rebound, so the checks made against its neighbours hold), then ``run`` for
    every step."""
    cdef Layer *layers
    cdef readonly int n_layers
    cdef readonly int64_t rows
    cdef readonly bint single
    cdef readonly list keep
    cdef int typenum
    cdef void *grad
    cdef int64_t classes
    cdef double scale, smoothing
    cdef int8_t loss_threads, rest_threads
    cdef fnn_gemm_epilogue epilogue
    cdef const fnn_row_update *rest
    cdef int64_t n_rest
    cdef int n_set, loss_set, ready  # the layers bound so far, in order, then the loss, then the updates: once each

    def __cinit__(self, int n_layers, int64_t rows, bint single):
        if n_layers < 1 or rows < 1:
            raise ValueError("a chain needs at least one layer and one row")
        self.layers = <Layer *>calloc(n_layers, sizeof(Layer))
        if self.layers == NULL:
            raise MemoryError("cannot allocate the chain's layers")
        self.n_layers, self.rows, self.single = n_layers, rows, single
        self.typenum = cnp.NPY_FLOAT32 if single else cnp.NPY_FLOAT64
        self.keep = []

    def __dealloc__(self):
        free(self.layers)

    def set_layer(self, int i, object x, object w, object b, object z, object y, object dx, object db, object dw,
                  size_t update, int act, double alpha, tuple threads):
        """Layer i (0 first): x its input (None for the first layer), W, b (None: no bias), the workspace's z, y
        and dx (None for the first layer), the gradients of b and W, the address of W's row-update context, the
        activation code and slope, and the thread class of each call (forward, bias_act, act_backward, input
        gradient, weight gradient)."""
        if i != self.n_set or i >= self.n_layers or len(threads) != N_CALLS:
            raise ValueError(f"layer {i}: the layers are set in order, each once (next: {self.n_set} of "
                             f"{self.n_layers}), with {N_CALLS} thread classes")
        if (x is None) != (i == 0) or (dx is None) != (i == 0) or (b is None) != (db is None) or update == 0:
            raise ValueError("only the first layer takes the batch and gives no input gradient; b and db go "
                             "together; every weight has an update context")
        cdef Layer *L = &self.layers[i]
        cdef int64_t n_in = cnp.PyArray_DIM(<cnp.ndarray>w, 0), n_out = cnp.PyArray_DIM(<cnp.ndarray>w, 1)
        if i > 0 and self.layers[i - 1].n_out != n_in:
            raise ValueError(f"layer {i} takes {n_in} inputs, the layer before gives {self.layers[i - 1].n_out}")
        L.n_in, L.n_out = n_in, n_out
        L.w = _data(w, self.typenum, n_in, n_out, False, "w")
        L.dw = _data(dw, self.typenum, n_in, n_out, True, "dw")
        L.z = _data(z, self.typenum, self.rows, n_out, True, "z")
        L.y = _data(y, self.typenum, self.rows, n_out, True, "y")
        L.b = _optional(b, self.typenum, n_out, False, "b")
        L.db = _optional(db, self.typenum, n_out, True, "db")
        L.x = NULL if x is None else _data(x, self.typenum, self.rows, n_in, False, "x")
        L.dx = NULL if dx is None else _data(dx, self.typenum, self.rows, n_in, True, "dx")
        if i > 0 and (L.x != self.layers[i - 1].y or L.dx == NULL):
            raise ValueError(f"layer {i}'s input must be the output of layer {i - 1}")
        L.update, L.act, L.alpha = <const void *>update, act, alpha
        for k in range(N_CALLS):
            L.threads[k] = <int8_t>threads[k]
        self.keep.append((x, w, b, z, y, dx, db, dw))
        self.n_set += 1

    def set_loss(self, object grad, double scale, double smoothing, int threads):
        """The softmax cross entropy of the last layer's output: its gradient buffer (rows, classes), the scale
        of the gradient (1 / rows: the mean), the label smoothing and the call's thread class."""
        if self.n_set != self.n_layers or self.loss_set:
            raise ValueError("the loss is set once, after every layer")
        cdef Layer *last = &self.layers[self.n_layers - 1]
        self.grad = _data(grad, self.typenum, self.rows, last.n_out, True, "grad")
        self.classes, self.scale, self.smoothing, self.loss_threads = last.n_out, scale, smoothing, threads
        self.keep.append(grad)
        self.loss_set = 1

    def set_updates(self, size_t epilogue, size_t rest, int64_t n_rest, int threads, object owner):
        """The row-update function of the weights (a gemm epilogue), the contexts of every other parameter
        (``n_rest`` of them from address ``rest``), their call's thread class, and ``owner``, what keeps the
        contexts alive."""
        if not self.loss_set or self.ready:
            raise ValueError("the updates are set once, after the loss")
        if epilogue == 0 or (rest == 0 and n_rest > 0) or n_rest < 0:
            raise ValueError("the update contexts are missing")
        self.epilogue, self.rest, self.n_rest = <fnn_gemm_epilogue>epilogue, <const fnn_row_update *>rest, n_rest
        self.rest_threads = threads
        self.keep.append(owner)
        self.ready = 1

    def run(self, object x, object labels, int threads_1, int threads_2, bint stop_if_nonfinite):
        """One training step on the batch ``x`` (rows, n_in) with int64 ``labels`` (rows,), which the caller has
        checked lie in [0, classes). ``threads_1`` / ``threads_2``: this step's share for a call of class 1 / 2.
        Returns (summed loss, correct count, gradient elements the clamp changed, whether the step was applied:
        False only when the loss is not finite and ``stop_if_nonfinite``)."""
        if not self.ready:
            raise RuntimeError("the chain's layers, loss and updates are not all set")
        cdef const void *xp = _data(x, self.typenum, self.rows, self.layers[0].n_in, False, "x")
        cdef const int64_t *lp = <const int64_t *>_data(labels, cnp.NPY_INT64, self.rows, -1, False, "labels")
        cdef int shares[3]
        shares[0], shares[1], shares[2] = 1, threads_1, threads_2
        cdef double loss = 0.0
        cdef int64_t correct = 0, clamped = 0, count = 0
        cdef int status = 0, i
        cdef bint applied = True
        cdef const void *inp
        cdef const void *dy
        cdef Layer *L
        with nogil:
            inp = xp
            for i in range(self.n_layers):
                L = &self.layers[i]
                status |= gemm_any(self.single, self.rows, L.n_out, L.n_in, inp, L.n_in, 1, L.w, L.n_out, 1, L.z,
                                   L.n_out, shares[L.threads[FORWARD]], NULL, NULL, &count)
                bias_act_any(self.single, L.z, L.b, L.y, self.rows, L.n_out, L.act, L.alpha,
                             shares[L.threads[BIAS_ACT]])
                inp = L.y
            loss = softmax_xent_any(self.single, inp, lp, NULL, self.grad, self.rows, self.classes, self.scale,
                                    self.smoothing, &correct, shares[self.loss_threads])
            if stop_if_nonfinite and not isfinite(loss):
                applied = False
            else:
                dy = self.grad
                for i in range(self.n_layers - 1, -1, -1):
                    L = &self.layers[i]
                    act_backward_any(self.single, dy, L.y, L.z, <void *>dy, L.db, self.rows, L.n_out, L.act,
                                     L.alpha, shares[L.threads[ACT_BACKWARD]])
                    if L.dx != NULL:  # dx reads the old W: before W's update below
                        status |= gemm_any(self.single, self.rows, L.n_in, L.n_out, dy, L.n_out, 1, L.w, 1, L.n_out,
                                           L.dx, L.n_in, shares[L.threads[INPUT_GRAD]], NULL, NULL, &count)
                    inp = xp if L.x == NULL else L.x
                    count = 0
                    status |= gemm_any(self.single, L.n_in, L.n_out, self.rows, inp, 1, L.n_in, dy, L.n_out, 1, L.dw,
                                       L.n_out, shares[L.threads[WEIGHT_GRAD]], self.epilogue, L.update, &count)
                    clamped += count
                    dy = L.dx
                clamped += update_tensors_any(self.single, self.rest, self.n_rest, shares[self.rest_threads])
        if status != 0:
            raise MemoryError("gemm: cannot allocate the packing buffers")
        return loss, correct, clamped, applied
