"""The infer kernel family (csrc/infer.c) against its numpy twin (fastnn._reference.infer): every layer kind and
activation, both dtypes, row counts across the tile sizes of every SIMD level, widths across the panel edges,
1 and 2 threads (identical bits), non-finite input refused."""
import numpy as np
import pytest
from conftest import assert_sample_centered_as_exact, constant_rows, nearly_constant_rows

from fastnn._reference import infer as ref
from fastnn.ops import infer as ops
from fastnn.preprocessing import SampleCenter

ACTS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh", "gelu"]
TOL = {np.float32: 2e-5, np.float64: 1e-12}


def _program(rng, dtype, widths, acts, kinds=None):
    layers = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        kind = (kinds or ["dense"] * len(acts))[i]
        act = acts[i]
        if kind == "dense":
            layers.append(ops.ProgramLayer("dense", act, (rng.standard_normal((a, b)) / np.sqrt(a)).astype(dtype),
                                           rng.standard_normal(b).astype(dtype), alpha=0.1))
        elif kind == "scale_shift":
            layers.append(ops.ProgramLayer("scale_shift", act, rng.uniform(0.5, 2, a).astype(dtype),
                                           rng.standard_normal(a).astype(dtype)))
        elif kind == "layernorm":
            layers.append(ops.ProgramLayer("layernorm", act, rng.uniform(0.5, 2, a).astype(dtype),
                                           rng.standard_normal(a).astype(dtype), eps=1e-5))
        else:
            layers.append(ops.ProgramLayer(kind if kind in ("center", "center_std") else "activation", act, width=a))
    return ops.Program(layers, dtype)


def _run(program, x, output="none", n_threads=1):
    y = np.empty((x.shape[0], program.n_out), program.dtype)
    scratch = np.empty(max(program.scratch_size(x.shape[0]), 1), program.dtype)
    return ops.forward(program, x, y, scratch, output, n_threads=n_threads)


@pytest.mark.parametrize("act", ACTS)
def test_forward_matches_the_reference_for_every_activation(rng, dtype, act):
    program = _program(rng, dtype, [13, 40, 33, 5], [act, act, "identity"])
    for rows in (1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33):
        x = rng.standard_normal((rows, 13)).astype(dtype)
        for output in ("none", "softmax", "sigmoid"):
            np.testing.assert_allclose(_run(program, x, output), ref.forward(program, x, output), rtol=TOL[dtype],
                                       atol=TOL[dtype])


@pytest.mark.parametrize("widths", [[1, 1], [3, 17, 1], [17, 1000, 3], [1000, 31, 32, 33, 65]])
def test_odd_widths_across_panel_edges(rng, dtype, widths):
    acts = ["relu"] * (len(widths) - 2) + ["identity"]
    program = _program(rng, dtype, widths, acts)
    x = rng.standard_normal((11, widths[0])).astype(dtype)
    np.testing.assert_allclose(_run(program, x), ref.forward(program, x), rtol=TOL[dtype], atol=TOL[dtype])


def test_row_wise_kinds_and_their_epilogues(rng, dtype):
    program = _program(rng, dtype, [24] * 6 + [8], ["relu", "tanh", "leaky_relu", "sigmoid", "gelu", "identity"],
                       kinds=["scale_shift", "layernorm", "center", "center_std", "activation", "dense"])
    x = rng.standard_normal((6, 24)).astype(dtype) * 3
    np.testing.assert_allclose(_run(program, x, "softmax"), ref.forward(program, x, "softmax"), rtol=TOL[dtype],
                               atol=TOL[dtype])
    for i in range(5):  # the BLAS path's epilogue of each row-wise layer
        got = ops.epilogue(program, i, x, np.empty_like(x))
        np.testing.assert_allclose(got, ref.epilogue(program, i, x), rtol=TOL[dtype], atol=TOL[dtype])
    z = rng.standard_normal((6, 8)).astype(dtype)
    np.testing.assert_allclose(ops.epilogue(program, 5, z, z.copy()), ref.epilogue(program, 5, z), rtol=TOL[dtype],
                               atol=TOL[dtype])
    y = rng.standard_normal((6, 8)).astype(dtype)
    np.testing.assert_allclose(ops.output_map(y.copy(), "softmax"), ref.output_map(y, "softmax"), rtol=TOL[dtype],
                               atol=TOL[dtype])


def test_every_simd_level_agrees_with_the_reference(rng, dtype):
    program = _program(rng, dtype, [70, 50, 3], ["relu", "identity"])
    x = rng.standard_normal((19, 70)).astype(dtype)
    want = ref.forward(program, x)
    try:
        for level in range(ops.simd_level() + 1):
            ops.set_simd_cap(level)
            np.testing.assert_allclose(_run(program, x), want, rtol=TOL[dtype], atol=TOL[dtype])
    finally:
        ops.set_simd_cap(2)


@pytest.mark.parametrize("widths", [[784, 512, 256, 10], [1, 16, 32], [17, 48, 8, 3], [1000, 64, 3], [3, 16],
                                    [3, 17, 1], [17, 1000, 3], [1000, 31, 33, 65], [5, 100, 10],
                                    [8200, 16, 3]])  # 8200 inputs: more than a stack list holds, every row read
def test_the_batch1_row_gemv_skips_zero_inputs_without_changing_a_bit(rng, dtype, widths):
    """A dense layer keeps W in an aligned plain copy with rows padded to whole cache lines, which a one-row call
    reads row by row, only the rows of nonzero inputs (csrc/infer_tmpl.h): the reference's results, the same bits
    with skipping off and for 1, 2 and 3 threads, at every SIMD level, whatever the share of zeros."""
    acts = ["relu"] * (len(widths) - 2) + ["identity"]
    program = _program(rng, dtype, widths, acts)
    for layer, compiled in zip(program.layers, program._keep):
        rows, ld = compiled[6:8]
        # the aligned copy is the layer's w (no second plain copy is kept), its rows whole cache lines
        assert rows is layer.w and rows.ctypes.data % 64 == 0 and rows.strides == (ld * rows.itemsize, rows.itemsize)
        assert ld * rows.itemsize % 64 == 0 and layer.n_out <= ld < layer.n_out + 64 // rows.itemsize
    try:
        for level in range(ops.simd_level() + 1):
            ops.set_simd_cap(level)
            for density in (0.0, 0.1, 0.5, 0.9, 1.0):
                x = (rng.standard_normal((1, widths[0])) * (rng.random((1, widths[0])) < density)).astype(dtype)
                ops.set_skip_zeros(True)
                got = _run(program, x)
                np.testing.assert_allclose(got, ref.forward(program, x), rtol=TOL[dtype], atol=TOL[dtype])
                for n_threads in (2, 3):
                    np.testing.assert_array_equal(_run(program, x, "none", n_threads), got)
                ops.set_skip_zeros(False)
                for n_threads in (1, 2):
                    np.testing.assert_array_equal(_run(program, x, "none", n_threads), got)
    finally:
        ops.set_simd_cap(2)
        ops.set_skip_zeros(True)
    assert ops.set_skip_zeros(False) is True and ops.set_skip_zeros(True) is False  # returns the setting before


@pytest.mark.parametrize("width", [1, 2, 17, 1000])
def test_center_subtracts_the_row_mean_as_numpy_does(rng, dtype, width):
    """x - mean(x) per row, the mean summed in double and rounded once: SampleCenter's arithmetic, on rows whose
    mean dwarfs their spread (where a folded matrix form would cancel digits)."""
    program = ops.Program([ops.ProgramLayer("center", width=width)], dtype)
    x = (1000 + 0.01 * rng.standard_normal((9, width))).astype(dtype)
    want = x - np.mean(x, axis=1, dtype=np.float64, keepdims=True).astype(dtype)
    got = _run(program, x)
    if dtype == np.float32:  # the double sums differ in order only, far below float32's rounding
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * 1000)


@pytest.mark.parametrize("width", [1, 2, 17, 1000])
def test_center_std_standardizes_each_row_as_sample_center_does(rng, dtype, width):
    """(x - mean) / std per row in double, rounded once, a constant row left at 0: SampleCenter(with_std=True)'s
    arithmetic, on rows whose mean dwarfs their spread."""
    program = ops.Program([ops.ProgramLayer("center_std", width=width)], dtype)
    x = (1000 + 0.01 * rng.standard_normal((9, width))).astype(dtype)
    x[0] = 3.0
    want = SampleCenter(with_std=True).fit(x).transform(x)
    np.testing.assert_allclose(_run(program, x), want, rtol=0, atol=2 * np.finfo(np.float32).eps
                               if dtype == np.float32 else 1e-12 * np.abs(want).max())
    np.testing.assert_array_equal(_run(program, x)[0], 0)


@pytest.mark.parametrize("kind", ["center", "center_std"])
def test_center_steps_map_constant_rows_to_exactly_zero(dtype, kind):
    """A constant row's deviations from its first value are 0: so is its centering and standardization in the
    kernel, the reference and SampleCenter.transform alike. The zero-std test was absolute (std < 10 eps), while
    the rounded mean of 10 x 1000.1 is a few ulps off 1000.1: the kernel's sequential sum gave -1 where numpy's
    pairwise one gave 0, and 7 x 123456.7 gave 1 in all three; in float64 the centering itself subtracted such a
    mean (10 x 1000.1 gave 1.1e-13 in the kernel, 3 x 5e-324 gave -5e-324)."""
    for x in constant_rows(dtype):
        program = ops.Program([ops.ProgramLayer(kind, width=x.shape[1])], dtype)
        model = SampleCenter(with_std=kind == "center_std").fit(x)
        for got in (_run(program, x), ref.forward(program, x), model.transform(x)):
            np.testing.assert_array_equal(got, np.zeros_like(x), err_msg=f"a row of {x.shape[1]} x {x[0, 0]!r}")


def test_center_std_standardizes_rows_of_any_small_spread(dtype):
    """A row that is not constant is standardized however small its spread, relative or absolute: [1e-20, 2e-20]
    was left at +-5e-21 (its std under the absolute 10 eps), and a spread of a few ulps gives a std of 1 too."""
    near = np.full((1, 9), 1000.1, dtype)
    near[0, 4] = np.nextafter(near[0, 4], np.inf)
    for x in (np.array([[1e-20, 2e-20]], dtype), np.array([[-3e-30, 0.0, 3e-30]], dtype), near):
        program = ops.Program([ops.ProgramLayer("center_std", width=x.shape[1])], dtype)
        for got in (_run(program, x), ref.forward(program, x), SampleCenter(with_std=True).fit(x).transform(x)):
            np.testing.assert_allclose(np.sqrt(np.mean(got.astype(np.float64) ** 2)), 1.0, rtol=1e-6)
    tiny = np.array([[1e-20, 2e-20]], dtype)
    np.testing.assert_allclose(SampleCenter(with_std=True).fit(tiny).transform(tiny), [[-1, 1]], rtol=1e-6)


def test_center_std_standardizes_nearly_constant_rows_to_the_exact_answer(dtype):
    """Rows 1 ulp off constant, or v + s * randn with s / |v| down to 1e-12: the kernel, its reference and
    SampleCenter.transform are all within rounding of the exact answer (they sum the deviations from the row's
    first value). About the rounded row mean, float64 gave O(1) errors that differed between the kernel's
    sequential sums and numpy's pairwise ones: 10 x 0.1 + 1 ulp gave [0.88 .. 1.75] and [0 .. 3.16], exactly
    [-0.33 .. 3]."""
    for x in nearly_constant_rows(dtype):
        program = ops.Program([ops.ProgramLayer("center_std", width=x.shape[1])], dtype)
        outs = [_run(program, x), ref.forward(program, x), SampleCenter(with_std=True).fit(x).transform(x)]
        for got in outs:
            assert_sample_centered_as_exact(got, x, err_msg=f"rows like {x[0, :3]!r}")
        if dtype == np.float32:  # the double arithmetic's rounding is far below float32's
            np.testing.assert_array_equal(outs[0], outs[2])


def test_center_centres_nearly_constant_float64_rows_to_the_exact_answer():
    """Rows 1 ulp off constant, or v + s * randn with s / |v| down to 1e-12: the float64 kernel, its reference
    and SampleCenter.transform centre them within the README's plan bound of the exact answer (they sum the
    deviations from the row's first value, rounding once). Less the rounded row mean, each summing in its own
    order, they were up to ~1e-9 of the output off it, and off each other."""
    for x in nearly_constant_rows(np.float64):
        program = ops.Program([ops.ProgramLayer("center", width=x.shape[1])], np.float64)
        for got in (_run(program, x), ref.forward(program, x), SampleCenter().fit(x).transform(x)):
            assert_sample_centered_as_exact(got, x, with_std=False, err_msg=f"rows like {x[0, :3]!r}")


def test_center_keeps_float32_bits(rng):
    """float32 keeps its centering bit for bit: the row mean summed in double, rounded to float32 and subtracted
    in it, in the kernel and in SampleCenter.transform (float64 rows have their own, exact form)."""
    for x in nearly_constant_rows(np.float32) + [(1e5 + 1e-2 * rng.standard_normal((300, 20))).astype(np.float32),
                                                 rng.standard_normal((300, 1000)).astype(np.float32)]:
        old = x - np.mean(x, axis=1, dtype=np.float64, keepdims=True).astype(np.float32)
        program = ops.Program([ops.ProgramLayer("center", width=x.shape[1])], np.float32)
        np.testing.assert_array_equal(_run(program, x), old, err_msg=f"rows like {x[0, :3]!r}")
        np.testing.assert_array_equal(SampleCenter().fit(x).transform(x), old, err_msg=f"rows like {x[0, :3]!r}")


@pytest.mark.parametrize("widths, kinds", [
    ([50, 300, 70, 4], None),  # the last dense layer one panel: thread 0's alone, with the output map
    ([50, 300, 70], None),  # the last dense layer several panels, split over the team
    ([30, 40, 40], ["dense", "layernorm"]),  # a row-wise last layer
])
def test_thread_counts_give_the_same_bits(rng, dtype, widths, kinds):
    acts = ["relu"] * (len(widths) - 2) + ["identity"]
    program = _program(rng, dtype, widths, acts, kinds)
    for rows in (1, 5, 40, 64, 67, 130):  # from 64 rows the team splits the rows, not the panels
        x = rng.standard_normal((rows, widths[0])).astype(dtype)
        for output in ("none", "softmax"):
            want = _run(program, x, output, 1)
            for n_threads in (2, 3):  # 3: a team wider than some layers' panels
                np.testing.assert_array_equal(_run(program, x, output, n_threads), want)


def test_repeated_calls_give_the_same_bits(rng, dtype):
    """Every other call of a thread reads the panels back to front (csrc/infer_tmpl.h): no result may change."""
    program = _program(rng, dtype, [40, 200, 100, 3], ["relu", "relu", "identity"])
    for rows in (1, 9):
        x = rng.standard_normal((rows, 40)).astype(dtype)
        for n_threads in (1, 2):
            first = _run(program, x, "softmax", n_threads)
            for _ in range(3):
                np.testing.assert_array_equal(_run(program, x, "softmax", n_threads), first)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_refused(rng, bad):
    program = _program(rng, np.float32, [5, 3], ["identity"])
    x = rng.standard_normal((4, 5)).astype(np.float32)
    x[2, 3] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        _run(program, x)
    assert not ops.all_finite(x) and ops.all_finite(np.ones(3, np.float32))


def test_the_finite_scan_finds_a_non_finite_value_anywhere(dtype):
    """all_finite runs 4 vectors of 64 bytes at a time, then one element at a time: each position, both parts."""
    for n in (1, 15, 16, 17, 63, 64, 65, 127, 128, 129, 200):
        x = np.full(n, np.finfo(dtype).max, dtype)  # finite, and its product with 0 too
        assert ops.all_finite(x)
        for i in range(n):
            for bad in (np.nan, np.inf, -np.inf):
                x[i] = bad
                assert not ops.all_finite(x), (n, i, bad)
            x[i] = -np.finfo(dtype).max


@pytest.mark.parametrize("classes", [2, 63, 64, 65, 200])
def test_softmax_rows_short_and_long(rng, dtype, classes):
    """The softmax keeps the exps of rows up to 64 wide (one exp per element), recomputes them beyond."""
    program = _program(rng, dtype, [7, classes], ["identity"])
    x = rng.standard_normal((5, 7)).astype(dtype) * 3
    np.testing.assert_allclose(_run(program, x, "softmax"), ref.forward(program, x, "softmax"), rtol=TOL[dtype],
                               atol=TOL[dtype])


def test_output_map_of_rows_without_columns_is_empty(dtype):
    """Found under AddressSanitizer: the softmax read each empty row's first value past the buffer."""
    for output in ("softmax", "sigmoid", "none"):
        assert ops.output_map(np.zeros((3, 0), dtype), output).shape == (3, 0)


def test_program_checks_its_layers(rng):
    w = np.ones((3, 2), np.float32)
    with pytest.raises(ValueError, match="previous layer gives"):
        ops.Program([ops.ProgramLayer("dense", w=w, b=np.zeros(2, np.float32)),
                     ops.ProgramLayer("dense", w=w, b=np.zeros(2, np.float32))], np.float32)
    with pytest.raises(TypeError, match="dtype"):
        ops.Program([ops.ProgramLayer("dense", w=w, b=np.zeros(2, np.float32))], np.float64)
    with pytest.raises(ValueError, match="NaN or inf"):
        ops.Program([ops.ProgramLayer("dense", w=w * np.nan, b=np.zeros(2, np.float32))], np.float32)
    with pytest.raises(ValueError, match="unknown activation"):
        ops.Program([ops.ProgramLayer("activation", "swish", width=3)], np.float32)
    program = ops.Program([ops.ProgramLayer("dense", w=w, b=np.zeros(2, np.float32))], np.float32)
    with pytest.raises(ValueError, match="columns"):
        _run(program, np.ones((2, 4), np.float32))


def test_forward_refuses_a_read_only_scratch_and_overlapping_buffers(rng, dtype, tmp_path):
    """review 11: a scratch over bytes was overwritten and a read-only memmap scratch killed the interpreter; an
    output over its own input (a square layer) gave wrong numbers. Each is refused before the kernel runs."""
    program = _program(rng, dtype, [16, 40, 16], ["relu", "identity"])
    x = rng.standard_normal((9, 16)).astype(dtype)
    need = program.scratch_size(9)
    assert need > 0
    y, scratch = np.empty((9, 16), dtype), np.empty(need, dtype)
    ro = np.frombuffer(bytes(need * np.dtype(dtype).itemsize), dtype)
    np.zeros(need, dtype).tofile(tmp_path / "s.bin")
    mapped = np.memmap(tmp_path / "s.bin", dtype=dtype, mode="r")
    for bad in (ro, mapped):
        with pytest.raises(ValueError, match="scratch must be writeable"):
            ops.forward(program, x, y, bad)
    with pytest.raises(ValueError, match="y_out must not overlap x"):
        ops.forward(program, x, x, scratch)
    shared = np.empty(9 * 16 + need, dtype)  # a scratch starting on the last element of y_out, then of x
    with pytest.raises(ValueError, match="scratch must not overlap"):
        ops.forward(program, x, shared[:9 * 16].reshape(9, 16), shared[9 * 16 - 1:][:need])
    shared[:9 * 16] = x.ravel()
    with pytest.raises(ValueError, match="scratch must not overlap"):
        ops.forward(program, shared[:9 * 16].reshape(9, 16), y, shared[9 * 16 - 1:][:need])
    np.testing.assert_allclose(ops.forward(program, x, y, scratch), ref.forward(program, x), rtol=TOL[dtype],
                               atol=TOL[dtype])


def test_one_call_takes_only_a_scratch_it_can_write_and_epilogue_no_shifted_overlap(rng, dtype, tmp_path):
    """review 11: the one-call path checked X and out but not scratch (a read-only memmap or None segfaulted, a
    short one was written past its end); epilogue took a y_out one row after x and gave wrong rows. A scratch
    the kernel cannot use sends the call to the checked path (None); epilogue refuses a shifted overlap."""
    program = _program(rng, dtype, [16, 40, 4], ["relu", "identity"])
    call = ops.one_call(program, 8)
    x = rng.standard_normal((8, 16)).astype(dtype)
    need = program.scratch_size(8)
    good = call(x, None, np.empty(need, dtype), 8, 0, 1, [])
    np.testing.assert_allclose(good, ref.forward(program, x), rtol=TOL[dtype], atol=TOL[dtype])
    np.zeros(need, dtype).tofile(tmp_path / "s.bin")
    shared = np.empty(need + 32, dtype)
    for scratch, out in ((np.memmap(tmp_path / "s.bin", dtype=dtype, mode="r"), None), (None, None),
                         (np.empty(4, dtype), None), (np.empty(need, np.float16), None),
                         (np.frombuffer(bytes(need * np.dtype(dtype).itemsize), dtype), None),
                         (shared[:need], shared[need - 1:need + 31].reshape(8, 4))):
        assert call(x, out, scratch, 8, 0, 1, []) is None
    y = rng.standard_normal((5, 40)).astype(dtype)
    buf = np.empty(6 * 40, dtype)
    buf[:5 * 40] = y.ravel()
    with pytest.raises(ValueError, match="y_out must be x itself or not overlap it"):
        ops.epilogue(program, 0, buf[:5 * 40].reshape(5, 40), buf[40:].reshape(5, 40))
    np.testing.assert_allclose(ops.epilogue(program, 0, y, y.copy()), ref.epilogue(program, 0, y),
                               rtol=TOL[dtype], atol=TOL[dtype])
    in_place = y.copy()
    np.testing.assert_allclose(ops.epilogue(program, 0, in_place, in_place), ref.epilogue(program, 0, y),
                               rtol=TOL[dtype], atol=TOL[dtype])
