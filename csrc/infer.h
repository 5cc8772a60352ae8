/* The inference family: a whole compiled forward pass in one call (see infer_tmpl.h).
 *
 * A program is an array of layers, each reading the previous one's output (rows, in) and writing (rows, out):
 *   FNN_INFER_DENSE        y = act(x W + b); W packed in panels (below), b padded to the panels' width; one
 *                          row reads W row by row where w_rows is given
 *   FNN_INFER_SCALE_SHIFT  y = act(x * w + b), per feature (an evaluation BatchNorm no Dense could absorb)
 *   FNN_INFER_LAYERNORM    y = act((x - mean_row) / sqrt(var_row + eps) * w + b); w, b NULL without affine
 *   FNN_INFER_ACT          y = act(x)
 *   FNN_INFER_CENTER       y = act(x - mean_row), the mean summed in double and rounded to REAL once (as numpy's
 *                          np.mean(dtype=float64) cast back, fastnn.preprocessing.SampleCenter)
 *   FNN_INFER_CENTER_STD   y = act((x - mean_row) / std_row), std the population one (1 where it is 0), all in
 *                          double and rounded once, the sums taken over the deviations from the row's first
 *                          value: a constant row maps to 0 exactly, a nearly constant one to within rounding of
 *                          its spread (SampleCenter(with_std=True), scalers.standardized_rows)
 * then the output map: none, softmax over each row, or an elementwise sigmoid.
 *
 * Packed weights: the columns of W (in, out) are cut into ceil(out / P) panels of P = FNN_INFER_PANEL_BYTES /
 * sizeof(REAL) columns, the last one zero-padded; panel p is stored as its own contiguous (in, P) block, so the
 * kernel streams each panel once per tile of rows with unit stride. The bias is padded to the same width.
 */
#ifndef FNN_INFER_H
#define FNN_INFER_H
#include <stdint.h>

#include "dense.h" /* the activation codes */

#define FNN_INFER_PANEL_BYTES 128

enum fnn_infer_kind {
    FNN_INFER_DENSE = 0,
    FNN_INFER_SCALE_SHIFT = 1,
    FNN_INFER_LAYERNORM = 2,
    FNN_INFER_ACT = 3,
    FNN_INFER_CENTER = 4,
    FNN_INFER_CENTER_STD = 5
};
enum fnn_infer_output { FNN_INFER_OUT_NONE = 0, FNN_INFER_OUT_SOFTMAX = 1, FNN_INFER_OUT_SIGMOID = 2 };

typedef struct {
    int32_t kind, act;
    int64_t in, out;
    const void *w; /* packed W, per-feature scale, or LayerNorm gamma (NULL: none) */
    const void *b; /* padded bias, per-feature shift, or LayerNorm beta (NULL: none) */
    /* dense: W (in, out) row-major, rows ld_rows elements apart (ld_rows * sizeof(REAL) a multiple of 64, the
     * columns from out to ld_rows zero), 64-byte aligned: whole cache lines per row, for the batch-1 row GEMV;
     * NULL: one-row tiles over the panels instead */
    const void *w_rows;
    int64_t ld_rows;
    double alpha; /* LeakyReLU slope */
    double eps;   /* LayerNorm */
} fnn_infer_layer;

/* x (rows, layers[0].in): IN.  y_out (rows, layers[n-1].out): OUT.  scratch: 2 * rows * (the widest hidden
 * output) elements, or none for one layer.  Returns 0, or 1 (nothing computed) when x holds NaN or inf. */
#define FNN_INFER_DECL(REAL, SFX)                                                                                      \
    int infer_forward_##SFX(const fnn_infer_layer *layers, int n_layers, const REAL *x, REAL *y_out, REAL *scratch,    \
                            int64_t rows, int output, int n_threads);                                                  \
    int infer_all_finite_##SFX(const REAL *x, int64_t n);                                                              \
    void infer_epilogue_##SFX(const fnn_infer_layer *layer, const REAL *x, REAL *y_out, int64_t rows, int n_threads);  \
    void infer_output_##SFX(REAL *y, int64_t rows, int64_t cols, int output, int n_threads);
FNN_INFER_DECL(float, f32)
FNN_INFER_DECL(double, f64)

int infer_simd_level(void);
/* The batch-1 row GEMV skips the rows of zero inputs (on = 1, the default; the same results) or reads them (0);
 * on < 0 asks. Returns the setting before. */
int infer_skip_zeros(int on);
void infer_simd_set_cap(int max_level);

/* Handing the GIL between Python threads that call kernels in a loop (infer.c). The Cython shim calls
 * infer_gil_released() right after it releases the GIL, infer_gil_before_take() right before it takes it back and
 * infer_gil_taken() right after. infer_gil_spin(ns) sets the bound in nanoseconds (0: never spin) when ns >= 0 and
 * returns the one before; it stays 0 where infer_gil_spin_supported() is 0 (a C runtime without a fine clock). */
void infer_gil_released(void);
void infer_gil_before_take(void);
void infer_gil_taken(void);
int64_t infer_gil_spin(int64_t ns);
int infer_gil_spin_supported(void);
#endif
