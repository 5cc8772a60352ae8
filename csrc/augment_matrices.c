/* Per-image inverse affine maps of a random augmentation program (contract in augment.h), and the generator
 * exposed for tests and the numpy reference (csrc/fnn_random.h). Doubles, a few per image, serial. */
#define FNN_REQUIRE_FP_CONTRACT_OFF
#include "augment.h"
#include "fnn_common.h"
#include "fnn_random.h"

/* sin and cos of an angle in degrees, exact at multiples of 90 so that rotations by 90/180/270 degrees map
 * pixel centres onto pixel centres exactly. */
static void fnn_sincos_deg(double deg, double *s, double *c) {
    double r = fmod(deg, 360.0);
    if (r < 0) r += 360.0;
    if (r == 0.0) {
        *s = 0.0;
        *c = 1.0;
    } else if (r == 90.0) {
        *s = 1.0;
        *c = 0.0;
    } else if (r == 180.0) {
        *s = 0.0;
        *c = -1.0;
    } else if (r == 270.0) {
        *s = -1.0;
        *c = 0.0;
    } else {
        double a = r * (3.14159265358979323846 / 180.0);
        *s = sin(a);
        *c = cos(a);
    }
}

/* M <- M @ B  for 2x2 row-major matrices */
static inline void fnn_mat2_mul(double *M, const double *B) {
    double m0 = M[0] * B[0] + M[1] * B[2], m1 = M[0] * B[1] + M[1] * B[3];
    double m2 = M[2] * B[0] + M[3] * B[2], m3 = M[2] * B[1] + M[3] * B[3];
    M[0] = m0;
    M[1] = m1;
    M[2] = m2;
    M[3] = m3;
}

/* codes (n_ops), params (n_ops, 4), slots (n_ops): the geometric ops of one warp, in the order they act on the
 * image. mats_out (n, 6): per image the INVERSE map from output pixel (x = column, y = row) to input position,
 *   x_in = m0 * x + m1 * y + m2,   y_in = m3 * x + m4 * y + m5.
 * Each op acts about the image centre ((w-1)/2, (h-1)/2) with y pointing down; the forward ops are
 *   rotate by theta (counter-clockwise as displayed):  x' = cos x + sin y,  y' = -sin x + cos y
 *   zoom by s (s > 1 magnifies):                       p' = s p
 *   flip horizontal / vertical:                        x' = -x / y' = -y
 *   shift by (dx, dy) pixels (dx > 0 moves right):     p' = p + (dx, dy)
 * and the inverse of their composition is accumulated as G <- G o F_k^-1, so the sampler needs no inversion. */
void augment_matrices(const int32_t *codes, const double *params, const int64_t *slots, int64_t n_ops, uint64_t seed,
                      uint64_t step, int64_t index0, int64_t n, int64_t h, int64_t w, double *mats_out) {
    const double cx = 0.5 * (double)(w - 1), cy = 0.5 * (double)(h - 1);
    for (int64_t i = 0; i < n; i++) {
        double M[4] = {1.0, 0.0, 0.0, 1.0}, t[2] = {0.0, 0.0};
        for (int64_t k = 0; k < n_ops; k++) {
            const double *pa = params + 4 * k;
            uint64_t key = fnn_augment_key(seed, step, (uint64_t)(index0 + i), (uint64_t)slots[k]);
            switch (codes[k]) {
            case FNN_AUG_ROTATE: {
                double deg = pa[0] + (pa[1] - pa[0]) * fnn_unit(key, 0), s, c;
                fnn_sincos_deg(deg, &s, &c);
                double B[4] = {c, -s, s, c};
                fnn_mat2_mul(M, B);
                break;
            }
            case FNN_AUG_FLIP: {
                double uh = fnn_unit(key, 0), uv = fnn_unit(key, 1);
                double B[4] = {(pa[0] != 0.0 && uh < pa[2]) ? -1.0 : 1.0, 0.0, 0.0,
                               (pa[1] != 0.0 && uv < pa[2]) ? -1.0 : 1.0};
                fnn_mat2_mul(M, B);
                break;
            }
            case FNN_AUG_ZOOM: {
                double s = pa[0] + (pa[1] - pa[0]) * fnn_unit(key, 0), inv = 1.0 / s;
                double B[4] = {inv, 0.0, 0.0, inv};
                fnn_mat2_mul(M, B);
                break;
            }
            case FNN_AUG_SHIFT: {
                double mx = pa[2] != 0.0 ? pa[0] * (double)w : pa[0];
                double my = pa[2] != 0.0 ? pa[1] * (double)h : pa[1];
                double dx = mx * (2.0 * fnn_unit(key, 0) - 1.0), dy = my * (2.0 * fnn_unit(key, 1) - 1.0);
                /* t <- M (-d) + t */
                double t0 = t[0] - (M[0] * dx + M[1] * dy), t1 = t[1] - (M[2] * dx + M[3] * dy);
                t[0] = t0;
                t[1] = t1;
                break;
            }
            default:
                break;
            }
        }
        double *m = mats_out + 6 * i;
        m[0] = M[0];
        m[1] = M[1];
        m[2] = cx + t[0] - (M[0] * cx + M[1] * cy);
        m[3] = M[2];
        m[4] = M[3];
        m[5] = cy + t[1] - (M[2] * cx + M[3] * cy);
    }
}

uint64_t fnn_stream_key(uint64_t seed, uint64_t step, uint64_t index, uint64_t slot) {
    return fnn_augment_key(seed, step, index, slot);
}
uint64_t fnn_random_bits(uint64_t key, uint64_t counter) {
    return fnn_bits(key, counter);
}
double fnn_uniform(uint64_t key, uint64_t counter) {
    return fnn_unit(key, counter);
}
