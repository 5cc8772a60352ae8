/* Template over REAL / SFX (see fnn_instantiate.h): bilinear affine warp and additive Gaussian noise.
 *
 * The warp computes sample positions and interpolates in REAL (float for float32 images: positions carry
 * ~1e-7 relative error, far below a pixel; double for float64), with no fused multiply-adds, so
 * fastnn/_reference/augment.py reproduces it bit for bit in numpy. */

/* Columns [*lo, *hi) of one output row whose sample position is interior (all four taps inside the image), for
 * positions xs = m0 * col + bx, ys = m3 * col + by. Each is a monotone function of the column (floating-point
 * rounding is monotone), so the set is an interval: start from the real-arithmetic bounds, widened by a
 * column, and shrink until both ends pass the exact test the fast loop relies on. */
static FNN_INLINE int SFX(interior)(REAL xs, REAL ys, REAL wm1, REAL hm1) {
    return xs >= (REAL)0 && ys >= (REAL)0 && xs < wm1 && ys < hm1;
}

static FNN_INLINE void SFX(interior_cols)(REAL m0, REAL bx, REAL m3, REAL by, int64_t w, REAL wm1, REAL hm1,
                                          int64_t *lo, int64_t *hi) {
    double a = 0.0, b = (double)w;
    const double coef[2] = {m0, m3}, base[2] = {bx, by}, top[2] = {wm1, hm1};
    for (int d = 0; d < 2; d++) {
        if (coef[d] == 0.0) {
            if (!(base[d] >= 0.0 && base[d] < top[d])) {
                *lo = *hi = 0;
                return;
            }
            continue;
        }
        double t0 = (0.0 - base[d]) / coef[d], t1 = (top[d] - base[d]) / coef[d];
        if (t0 > t1) {
            double t = t0;
            t0 = t1;
            t1 = t;
        }
        if (t0 > a) a = t0;
        if (t1 < b) b = t1;
    }
    if (!(a < b)) {
        *lo = *hi = 0;
        return;
    } /* empty, or NaN */
    int64_t l = (int64_t)a - 1, u = (int64_t)b + 2;
    if (l < 0) l = 0;
    if (u > w) u = w;
    while (l < u && !SFX(interior)(m0 * (REAL)l + bx, m3 * (REAL)l + by, wm1, hm1)) l++;
    while (u > l && !SFX(interior)(m0 * (REAL)(u - 1) + bx, m3 * (REAL)(u - 1) + by, wm1, hm1)) u--;
    *lo = l;
    *hi = u;
}

/* c ? a : b as a bitwise blend. GCC will not turn a floating-point select into a SIMD blend under the
 * default -ftrapping-math (it would evaluate both arms); an integer blend of the bit patterns vectorizes. */
#if REAL_IS_FLOAT
typedef uint32_t SFX(bits_t);
#else
typedef uint64_t SFX(bits_t);
#endif
static FNN_INLINE REAL SFX(sel)(int c, REAL a, REAL b) {
    SFX(bits_t) ua, ub, r, m = (SFX(bits_t))0 - (SFX(bits_t))(c != 0);
    REAL out;
    memcpy(&ua, &a, sizeof a);
    memcpy(&ub, &b, sizeof b);
    r = (ua & m) | (ub & ~m);
    memcpy(&out, &r, sizeof out);
    return out;
}

/* floor for |v| <= 1e15 without a libm call (baseline x86-64 has no rounding instruction) */
static FNN_INLINE int64_t SFX(ifloor)(REAL v) {
    int64_t i = (int64_t)v;
    return (REAL)i > v ? i - 1 : i;
}

/* One output pixel through the general path (taps go through the fill mode). */
static FNN_INLINE void SFX(border_pixel)(const REAL *FNN_RESTRICT img, REAL xs, REAL ys, REAL *FNN_RESTRICT o,
                                         int64_t h, int64_t w, int64_t c, int fill_mode, REAL fill) {
    if (xs != xs || ys != ys ||
        (fill_mode == FNN_FILL_CONSTANT && (xs <= (REAL)-1 || ys <= (REAL)-1 || xs >= (REAL)w || ys >= (REAL)h))) {
        for (int64_t k = 0; k < c; k++) o[k] = fill;
        return;
    }
    /* Far-away positions (reflect / nearest) are clamped where the integer conversion is safe; the clamp
     * cannot change which pixel is read. */
    const REAL big = (REAL)1e15;
    const REAL xc = xs < -big ? -big : (xs > big ? big : xs);
    const REAL yc = ys < -big ? -big : (ys > big ? big : ys);
    const int64_t x0 = SFX(ifloor)(xc), y0 = SFX(ifloor)(yc);
    const REAL fx = xc - (REAL)x0, fy = yc - (REAL)y0, gx = (REAL)1 - fx, gy = (REAL)1 - fy;
    const int64_t x1 = fx > (REAL)0 ? x0 + 1 : x0, y1 = fy > (REAL)0 ? y0 + 1 : y0;
    const int64_t ix0 = fnn_tap(x0, w, fill_mode), ix1 = fnn_tap(x1, w, fill_mode);
    const int64_t iy0 = fnn_tap(y0, h, fill_mode), iy1 = fnn_tap(y1, h, fill_mode);
    const int64_t row = w * c;
    for (int64_t k = 0; k < c; k++) {
        REAL p00 = (iy0 >= 0 && ix0 >= 0) ? img[iy0 * row + ix0 * c + k] : fill;
        REAL p01 = (iy0 >= 0 && ix1 >= 0) ? img[iy0 * row + ix1 * c + k] : fill;
        REAL p10 = (iy1 >= 0 && ix0 >= 0) ? img[iy1 * row + ix0 * c + k] : fill;
        REAL p11 = (iy1 >= 0 && ix1 >= 0) ? img[iy1 * row + ix1 * c + k] : fill;
        const REAL top = x1 != x0 ? gx * p00 + fx * p01 : p00;
        const REAL bot = x1 != x0 ? gx * p10 + fx * p11 : p10;
        o[k] = y1 != y0 ? gy * top + fy * bot : top;
    }
}

/* One image (h, w, c): out[y, x, :] = bilinear sample of img at the inverse map m of (x = column, y = row):
 *   x_in = m0 x + (m1 y + m2),  y_in = m3 x + (m4 y + m5)      (m rounded to REAL, evaluated in REAL)
 *   x0 = floor(x_in), fx = x_in - x0                                  (likewise y)
 *   top = (1 - fx) p[y0,x0] + fx p[y0,x0+1]  if fx > 0, else p[y0,x0]  (bot likewise on row y0+1)
 *   v   = (1 - fy) top + fy bot               if fy > 0, else top
 * A tap outside the image reads per the fill mode (constant: fill_value; nearest: the edge pixel; reflect:
 * the mirror image about the edge, half-sample symmetric). In constant mode a position at least one pixel
 * outside (x_in <= -1 or x_in >= w, same for y) gives fill_value exactly; a NaN position gives fill_value.
 * Skipping the interpolation when a weight is zero makes an integer position return its pixel exactly
 * (identity, flips, rotations by multiples of 90 degrees), whatever it and its neighbours hold (inf, NaN).
 * Each row splits into border columns (general path) and one interval of interior columns that runs a
 * branch-free loop the compiler vectorizes; both paths do the same arithmetic, so the split never changes a
 * result. */
/* ---- single-channel fast paths (the common case: grey images, or rows of h*w pixels) ----------------------
 * Every pixel of a row runs the same branch-free code, which the compiler vectorizes (hardware gathers for the
 * four taps in the AVX2 clone). Same arithmetic and results as the general path. */

/* Constant and nearest modes read a copy of the image padded by P pixels (fill value, or the replicated edge),
 * with x0 clamped to [-P, w + P - 2]: in nearest mode both taps of a clamped position read the edge value the
 * general path would read; in constant mode such a position lies a pixel or more outside, where the result is
 * the fill value anyway. So no tap needs a bounds test. */
#define FNN_PAD_CONSTANT 2
#define FNN_PAD_NEAREST 1
/* per-thread scratch: the padded copy of one plane, then (multi-channel images) two planes */
#define FNN_PADDED_SIZE(h, w) (((h) + 2 * FNN_PAD_CONSTANT) * ((w) + 2 * FNN_PAD_CONSTANT))

static FNN_INLINE void SFX(pad_image)(const REAL *FNN_RESTRICT img, REAL *FNN_RESTRICT padded, int h, int w, int pad,
                                      int mode, REAL fill) {
    const int st = w + 2 * pad;
    for (int yy = -pad; yy < h + pad; yy++) {
        REAL *d = padded + (yy + pad) * st;
        if (mode == FNN_FILL_CONSTANT && (yy < 0 || yy >= h)) {
            for (int k = 0; k < st; k++) d[k] = fill;
            continue;
        }
        const REAL *srow = img + (yy < 0 ? 0 : (yy >= h ? h - 1 : yy)) * w;
        const REAL left = mode == FNN_FILL_CONSTANT ? fill : srow[0];
        const REAL right = mode == FNN_FILL_CONSTANT ? fill : srow[w - 1];
        for (int k = 0; k < pad; k++) {
            d[k] = left;
            d[pad + w + k] = right;
        }
        memcpy(d + pad, srow, (size_t)w * sizeof(REAL));
    }
}

/* The fast paths run over blocks of whole rows as ONE loop over the block's pixels (a 28x28 image is one loop
 * of 784), so short rows leave no vector remainder per row. Pixel k of a block that starts at row r0 sits at
 * column tab->col[k] and row r0 + tab->row[k]; the position is m0 col + (m1 row + m2), the same arithmetic as
 * the general path. FNN_FLAT_PIXELS (augment.c) bounds a block. */
/* *a = p[0], *b = p[1]; for float32 as one 64-bit load, which the compiler turns into a 64-bit gather: faster
 * than two 32-bit gathers in the AVX-512 and portable builds, slower in the AVX2 one (measured). Each build
 * passes its SIMD level down as a constant: 0 portable (pair loads), 1 AVX2 (single loads), 2 AVX-512 (pair
 * loads). The AVX-512 build is the compiler's: a hand-written intrinsics version of this loop was 13% faster
 * (119 vs 137 us per 128 28x28 images, about 1.7% of an augmented training step) and was removed for its
 * 140 lines (issue 9). */
static FNN_INLINE void SFX(load_pair)(const REAL *p, REAL *a, REAL *b) {
#if REAL_IS_FLOAT
    uint64_t q;
    uint32_t lo, hi;
    memcpy(&q, p, sizeof q);
    lo = (uint32_t)q;
    hi = (uint32_t)(q >> 32);
    memcpy(a, &lo, sizeof lo);
    memcpy(b, &hi, sizeof hi);
#else
    *a = p[0];
    *b = p[1];
#endif
}

static FNN_INLINE void SFX(block_padded)(const REAL *FNN_RESTRICT padded, REAL *FNN_RESTRICT out,
                                         const int32_t *FNN_RESTRICT tcol, const int32_t *FNN_RESTRICT trow, int npix,
                                         int r0, const REAL *mm, int wi, int hi_, int pad, REAL fill,
                                         const int check_outside, const int level) {
    const int pair_loads = level != 1;
    const REAL wr = (REAL)wi, hr = (REAL)hi_;
    const REAL m0 = mm[0], m1 = mm[1], m2 = mm[2], m3 = mm[3], m4 = mm[4], m5 = mm[5];
    const int st = wi + 2 * pad, xmax = wi + pad - 2, ymax = hi_ + pad - 2; /* x0 + 1 stays inside the pad */
    for (int k = 0; k < npix; k++) {
        const REAL cf = (REAL)tcol[k], rf = (REAL)(r0 + trow[k]);
        const REAL xs = m0 * cf + (m1 * rf + m2), ys = m3 * cf + (m4 * rf + m5);
        int x0 = (int)xs, y0 = (int)ys;
        x0 -= (REAL)x0 > xs; /* floor: truncation rounds negative positions up */
        y0 -= (REAL)y0 > ys;
        const REAL fx = xs - (REAL)x0, fy = ys - (REAL)y0, gx = (REAL)1 - fx, gy = (REAL)1 - fy;
        const int sx = xs > (REAL)x0, sy = ys > (REAL)y0;
        const int cx = x0 < -pad ? -pad : (x0 > xmax ? xmax : x0);
        const int cy = y0 < -pad ? -pad : (y0 > ymax ? ymax : y0);
        /* the right-hand taps are read even when sx = 0 (then unused): x0 + 1 is still inside the padded row */
        const int i00 = (cy + pad) * st + (cx + pad), i10 = i00 + sy * st;
        REAL p00, p01, p10, p11;
        if (pair_loads) {
            SFX(load_pair)(padded + i00, &p00, &p01);
            SFX(load_pair)(padded + i10, &p10, &p11);
        } else {
            p00 = padded[i00], p01 = padded[i00 + 1], p10 = padded[i10], p11 = padded[i10 + 1];
        }
        const REAL lt = gx * p00 + fx * p01, lb = gx * p10 + fx * p11;
        const REAL top = SFX(sel)(sx, lt, p00), bot = SFX(sel)(sx, lb, p10);
        const REAL lv = gy * top + fy * bot;
        REAL v = SFX(sel)(sy, lv, top);
        if (check_outside) {
            const int outside = (xs <= (REAL)-1) | (ys <= (REAL)-1) | (xs >= wr) | (ys >= hr);
            v = SFX(sel)(outside, fill, v);
        }
        out[k] = v;
    }
}

/* Reflect mode maps each tap with one mirror, valid for taps in [-n, 2n): the caller checks the positions. */
static FNN_INLINE int SFX(mirror)(int i, int n) {
    const int j = i < 0 ? -i - 1 : i;
    return j > n - 1 ? 2 * n - 1 - j : j;
}

static FNN_INLINE void SFX(block_reflect)(const REAL *FNN_RESTRICT img, REAL *FNN_RESTRICT out,
                                          const int32_t *FNN_RESTRICT tcol, const int32_t *FNN_RESTRICT trow, int npix,
                                          int r0, const REAL *mm, int wi, int hi_) {
    const REAL m0 = mm[0], m1 = mm[1], m2 = mm[2], m3 = mm[3], m4 = mm[4], m5 = mm[5];
    for (int k = 0; k < npix; k++) {
        const REAL cf = (REAL)tcol[k], rf = (REAL)(r0 + trow[k]);
        const REAL xs = m0 * cf + (m1 * rf + m2), ys = m3 * cf + (m4 * rf + m5);
        int x0 = (int)xs, y0 = (int)ys;
        x0 -= (REAL)x0 > xs;
        y0 -= (REAL)y0 > ys;
        const REAL fx = xs - (REAL)x0, fy = ys - (REAL)y0, gx = (REAL)1 - fx, gy = (REAL)1 - fy;
        const int sx = xs > (REAL)x0, sy = ys > (REAL)y0;
        const int ix0 = SFX(mirror)(x0, wi), ix1 = SFX(mirror)(x0 + sx, wi);
        const int iy0 = SFX(mirror)(y0, hi_) * wi, iy1 = SFX(mirror)(y0 + sy, hi_) * wi;
        const REAL p00 = img[iy0 + ix0], p01 = img[iy0 + ix1], p10 = img[iy1 + ix0], p11 = img[iy1 + ix1];
        const REAL lt = gx * p00 + fx * p01, lb = gx * p10 + fx * p11;
        const REAL top = SFX(sel)(sx, lt, p00), bot = SFX(sel)(sx, lb, p10);
        const REAL lv = gy * top + fy * bot;
        out[k] = SFX(sel)(sy, lv, top);
    }
}

/* Whether all positions of the image lie in [lo_x, hi_x] x [lo_y, hi_y] (which excludes NaN). Positions are
 * affine in (column, row), so the four corners bound them; callers keep a pixel of margin for rounding. */
static FNN_INLINE int SFX(positions_within)(const REAL *mm, int64_t h, int64_t w, REAL lo_x, REAL hi_x, REAL lo_y,
                                            REAL hi_y) {
    const REAL cs[2] = {(REAL)0, (REAL)(w - 1)}, rs[2] = {(REAL)0, (REAL)(h - 1)};
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            const REAL xs = mm[0] * cs[a] + (mm[1] * rs[b] + mm[2]);
            const REAL ys = mm[3] * cs[a] + (mm[4] * rs[b] + mm[5]);
            if (!(xs >= lo_x && xs <= hi_x && ys >= lo_y && ys <= hi_y)) return 0;
        }
    return 1;
}

/* The single-channel fast path for one image; returns 0 (nothing written) when it does not apply. */
static FNN_INLINE int SFX(warp_c1_fast)(const REAL *FNN_RESTRICT img, const REAL *mm, REAL *FNN_RESTRICT dst, int64_t h,
                                        int64_t w, int fill_mode, REAL fill, REAL *FNN_RESTRICT scratch,
                                        const fnn_flat_tab *tab, const int level) {
    const int hi_ = (int)h, wi = (int)w;
    if (tab == NULL || tab->col == NULL) return 0;
    if (fill_mode == FNN_FILL_REFLECT) {
        if (!SFX(positions_within)(mm, h, w, (REAL)(1 - w), (REAL)(2 * w - 3), (REAL)(1 - h), (REAL)(2 * h - 3)))
            return 0;
        for (int r0 = 0; r0 < hi_; r0 += tab->rows) {
            const int nr = hi_ - r0 < tab->rows ? hi_ - r0 : tab->rows;
            SFX(block_reflect)(img, dst + (int64_t)r0 * w, tab->col, tab->row, nr * wi, r0, mm, wi, hi_);
        }
        return 1;
    }
    /* int conversion must be safe: |position| well inside the int range (and finite) */
    const REAL lim = (REAL)(1 << 22);
    if (scratch == NULL || !SFX(positions_within)(mm, h, w, -lim, lim, -lim, lim)) return 0;
    const int pad = fill_mode == FNN_FILL_NEAREST ? FNN_PAD_NEAREST : FNN_PAD_CONSTANT;
    SFX(pad_image)(img, scratch, hi_, wi, pad, fill_mode, fill);
    /* Constant mode sets a position a pixel or more outside to the fill value. With fill 0 the check can go:
     * such a position reads only padding (x0 is clamped into it), and any blend of zeros is exactly 0. */
    const int check_outside = fill_mode == FNN_FILL_CONSTANT && fill != (REAL)0;
    for (int r0 = 0; r0 < hi_; r0 += tab->rows) {
        const int nr = hi_ - r0 < tab->rows ? hi_ - r0 : tab->rows;
        REAL *out = dst + (int64_t)r0 * w;
        if (check_outside) /* a constant argument: one specialised loop each */
            SFX(block_padded)(scratch, out, tab->col, tab->row, nr * wi, r0, mm, wi, hi_, pad, fill, 1, level);
        else
            SFX(block_padded)(scratch, out, tab->col, tab->row, nr * wi, r0, mm, wi, hi_, pad, fill, 0, level);
    }
    return 1;
}

/* A multi-channel image through the single-channel fast path, one plane at a time: gather channel k into a
 * plane, warp it, scatter it back. Each channel's arithmetic is what the general path does for it, so the
 * result is the same. `planes` holds two planes of h*w. Returns 0 (nothing written) when the fast path does not
 * apply: that depends on the map and the mode only, so it is known at the first plane. */
static FNN_INLINE int SFX(warp_planes)(const REAL *FNN_RESTRICT img, const REAL *mm, REAL *FNN_RESTRICT dst, int64_t h,
                                       int64_t w, int64_t c, int fill_mode, REAL fill, REAL *FNN_RESTRICT padded,
                                       REAL *FNN_RESTRICT planes, const fnn_flat_tab *tab, const int level) {
    const int64_t hw = h * w;
    REAL *FNN_RESTRICT in = planes, *FNN_RESTRICT out = planes + hw;
    for (int64_t k = 0; k < c; k++) {
        for (int64_t p = 0; p < hw; p++) in[p] = img[p * c + k];
        if (!SFX(warp_c1_fast)(in, mm, out, h, w, fill_mode, fill, padded, tab, level)) return 0;
        for (int64_t p = 0; p < hw; p++) dst[p * c + k] = out[p];
    }
    return 1;
}

static FNN_INLINE void SFX(warp_one_body)(const REAL *FNN_RESTRICT img, const double *m, REAL *FNN_RESTRICT dst,
                                          int64_t h, int64_t w, int64_t c, int fill_mode, REAL fill,
                                          REAL *FNN_RESTRICT scratch, const fnn_flat_tab *tab, const int level) {
    const REAL wm1 = (REAL)(w - 1), hm1 = (REAL)(h - 1);
    const int64_t row = w * c;
    const REAL m0 = (REAL)m[0], m1 = (REAL)m[1], m2 = (REAL)m[2], m3 = (REAL)m[3], m4 = (REAL)m[4], m5 = (REAL)m[5];
    /* 32-bit tap indices let the compiler vectorize the interior loop (x86 converts to int32 in SIMD) */
    const int small = h * row < ((int64_t)1 << 30);
    const int wi = (int)w, ci = (int)c, rowi = (int)row;
    const REAL mm[6] = {m0, m1, m2, m3, m4, m5};
    if (small && c == 1 && SFX(warp_c1_fast)(img, mm, dst, h, w, fill_mode, fill, scratch, tab, level)) return;
    if (small && c > 1 && scratch != NULL &&
        SFX(warp_planes)(img, mm, dst, h, w, c, fill_mode, fill, scratch, scratch + FNN_PADDED_SIZE(h, w), tab, level))
        return;
    for (int64_t r = 0; r < h; r++) {
        const REAL bx = m1 * (REAL)r + m2, by = m4 * (REAL)r + m5;
        int64_t lo, hi;
        SFX(interior_cols)(m0, bx, m3, by, w, wm1, hm1, &lo, &hi);
        REAL *orow = dst + r * row;
        for (int64_t col = 0; col < lo; col++)
            SFX(border_pixel)(img, m0 * (REAL)col + bx, m3 * (REAL)col + by, orow + col * c, h, w, c, fill_mode, fill);
        if (small && c == 1) {
            const int l = (int)lo, u = (int)hi;
            for (int col = l; col < u; col++) {
                const REAL xs = m0 * (REAL)col + bx, ys = m3 * (REAL)col + by;
                const int x0 = (int)xs, y0 = (int)ys;
                const REAL fx = xs - (REAL)x0, fy = ys - (REAL)y0, gx = (REAL)1 - fx, gy = (REAL)1 - fy;
                const int i00 = y0 * wi + x0;
                const int sx = xs > (REAL)x0, sy = ys > (REAL)y0;
                const int i01 = y0 * wi + (sx ? x0 + 1 : x0);
                const int i10 = (sy ? y0 + 1 : y0) * wi + x0;
                const int i11 = i10 + (i01 - i00);
                const REAL p00 = img[i00], p01 = img[i01], p10 = img[i10], p11 = img[i11];
                /* blends computed unconditionally, then selected: branch-free, so the loop vectorizes */
                const REAL lt = gx * p00 + fx * p01, lb = gx * p10 + fx * p11;
                const REAL top = SFX(sel)(sx, lt, p00), bot = SFX(sel)(sx, lb, p10);
                const REAL lv = gy * top + fy * bot;
                orow[col] = SFX(sel)(sy, lv, top);
            }
        } else if (small) {
            const int l = (int)lo, u = (int)hi;
            for (int col = l; col < u; col++) {
                const REAL xs = m0 * (REAL)col + bx, ys = m3 * (REAL)col + by;
                const int x0 = (int)xs, y0 = (int)ys;
                const REAL fx = xs - (REAL)x0, fy = ys - (REAL)y0, gx = (REAL)1 - fx, gy = (REAL)1 - fy;
                const int sx = xs > (REAL)x0, sy = ys > (REAL)y0;
                const int dx = sx ? ci : 0, dy = sy ? rowi : 0;
                const REAL *p = img + (y0 * rowi + x0 * ci);
                REAL *o = orow + col * c;
                for (int k = 0; k < ci; k++) {
                    const REAL p00 = p[k], p01 = p[k + dx], p10 = p[k + dy], p11 = p[k + dy + dx];
                    const REAL lt = gx * p00 + fx * p01, lb = gx * p10 + fx * p11;
                    const REAL top = SFX(sel)(sx, lt, p00), bot = SFX(sel)(sx, lb, p10);
                    const REAL lv = gy * top + fy * bot;
                    o[k] = SFX(sel)(sy, lv, top);
                }
            }
        } else {
            for (int64_t col = lo; col < hi; col++)
                SFX(border_pixel)(img, m0 * (REAL)col + bx, m3 * (REAL)col + by, orow + col * c, h, w, c, fill_mode,
                                  fill);
        }
        for (int64_t col = hi > lo ? hi : lo; col < w; col++)
            SFX(border_pixel)(img, m0 * (REAL)col + bx, m3 * (REAL)col + by, orow + col * c, h, w, c, fill_mode, fill);
    }
}

typedef void (*SFX(warp_one_fn))(const REAL *, const double *, REAL *, int64_t, int64_t, int64_t, int, REAL, REAL *,
                                 const fnn_flat_tab *);

#define FNN_WARP_ONE_ARGS                                                                                              \
    const REAL *FNN_RESTRICT img, const double *m, REAL *FNN_RESTRICT dst, int64_t h, int64_t w, int64_t c,            \
        int fill_mode, REAL fill, REAL *scratch, const fnn_flat_tab *tab
#define FNN_WARP_ONE_CALL(level) SFX(warp_one_body)(img, m, dst, h, w, c, fill_mode, fill, scratch, tab, level)
FNN_SIMD_VARIANTS(SFX(warp_one_fn), warp_one, (FNN_WARP_ONE_ARGS), FNN_WARP_ONE_CALL)
#undef FNN_WARP_ONE_ARGS
#undef FNN_WARP_ONE_CALL

/* Noise of one image in blocks: the deviates of a block (see fnn_normals_c in augment.c), then add, clip and
 * store (so out may be x). `level`: a constant, the SIMD build (0 portable, 1 AVX2, 2 AVX-512). */
#define FNN_NOISE_BLOCK 256

static FNN_INLINE void SFX(noise_one_body)(const REAL *xi, REAL *oi, int64_t size, REAL stdr, uint64_t key, REAL lo,
                                           REAL hi, const int level) {
    const uint32_t klo = (uint32_t)key, khi = (uint32_t)(key >> 32);
    float z[FNN_NOISE_BLOCK] __attribute__((aligned(64)));
    for (int64_t j0 = 0; j0 < size; j0 += FNN_NOISE_BLOCK) {
        const int nb = (int)(size - j0 < FNN_NOISE_BLOCK ? size - j0 : FNN_NOISE_BLOCK);
#if FNN_X86_DISPATCH
        if (level == 2)
            fnn_normals_avx512(klo, khi, (uint32_t)j0, nb, z);
        else if (level == 1)
            fnn_normals_avx2(klo, khi, (uint32_t)j0, nb, z);
        else
#endif
            fnn_normals_c(klo, khi, (uint32_t)j0, nb, z);
        (void)level;
        for (int j = 0; j < nb; j++) {
            REAL v = xi[j0 + j] + stdr * (REAL)z[j];
            v = v < lo ? lo : v;
            v = v > hi ? hi : v;
            oi[j0 + j] = v;
        }
    }
}

typedef void (*SFX(noise_one_fn))(const REAL *, REAL *, int64_t, REAL, uint64_t, REAL, REAL);

#define FNN_NOISE_ONE_ARGS const REAL *xi, REAL *oi, int64_t size, REAL stdr, uint64_t key, REAL lo, REAL hi
#define FNN_NOISE_ONE_CALL(level) SFX(noise_one_body)(xi, oi, size, stdr, key, lo, hi, level)
FNN_SIMD_VARIANTS(SFX(noise_one_fn), noise_one, (FNN_NOISE_ONE_ARGS), FNN_NOISE_ONE_CALL)
#undef FNN_NOISE_ONE_ARGS
#undef FNN_NOISE_ONE_CALL

/* x (n, h, w, c): IN images.  mats (n, 6): IN inverse maps (see augment_matrices in augment.c).
 * rows: NULL, or (n,) indices: image i is x[rows[i]] (the gather of a shuffled batch, fused into the warp's
 * own read of the image; x then holds any number of images).
 * out (n, h, w, c): OUT warped images; must not overlap x.  noise: NULL, or Gaussian noise to add to each
 * warped image right after its warp, while it is in cache: the same result as gaussian_noise on out.  Parallel over images: each image is computed by
 * one thread with the same arithmetic, so the result does not depend on n_threads (nor on the CPU's SIMD
 * width: the vectorized and scalar loops round identically). */
void SFX(warp_affine)(const REAL *x, const int64_t *rows, const double *mats, REAL *out, int64_t n, int64_t h,
                      int64_t w, int64_t c, int fill_mode, double fill_value, const fnn_noise_spec *noise,
                      int n_threads) {
    const int64_t size = h * w * c;
    const REAL fill = (REAL)fill_value;
    const SFX(warp_one_fn) fn = SFX(warp_one_for_cpu)();
    const SFX(noise_one_fn) noise_fn = SFX(noise_one_for_cpu)();
    const REAL noise_std = noise ? (REAL)noise->std : 0, noise_lo = noise ? (REAL)noise->clip_lo : 0;
    const REAL noise_hi = noise ? (REAL)noise->clip_hi : 0;
    /* The fast path needs the pixel tables (shared) and a padded copy of a plane, plus two planes for
     * multi-channel images (per thread); it skips itself if an allocation fails. */
    fnn_flat_tab tab = {NULL, NULL, 0};
    fnn_flat_tab_init(&tab, h, w);
    const size_t scratch_n = (size_t)FNN_PADDED_SIZE(h, w) + (c > 1 ? 2 * (size_t)(h * w) : 0);
    FNN_THREADED(n_threads, , {
        REAL *scratch = scratch_n ? (REAL *)malloc(scratch_n * sizeof(REAL)) : NULL;
        FNN_PRAGMA(omp for schedule(static))
        for (int64_t i = 0; i < n; i++) {
            /* Rows picked from a large dataset come from memory, not cache: fetch the image after next while
             * this one is warped (up to 64 KB of it). */
            if (rows != NULL && i + FNN_PREFETCH_AHEAD < n) {
                const char *next = (const char *)(x + rows[i + FNN_PREFETCH_AHEAD] * size);
                const int64_t bytes = size * (int64_t)sizeof(REAL) < 65536 ? size * (int64_t)sizeof(REAL) : 65536;
                for (int64_t b = 0; b < bytes; b += 64) __builtin_prefetch(next + b, 0, 3);
            }
            fn(x + (rows != NULL ? rows[i] : i) * size, mats + 6 * i, out + i * size, h, w, c, fill_mode, fill, scratch,
               &tab);
            if (noise != NULL)
                noise_fn(out + i * size, out + i * size, size, noise_std, fnn_noise_key(noise, i), noise_lo, noise_hi);
        }
        free(scratch);
    });
    fnn_flat_tab_free(&tab);
}

/* x (n, size): IN.  out (n, size): OUT, may be x.  out[i, j] = clip(x[i, j] + std * z) in REAL arithmetic
 * (std, clip bounds rounded to REAL), z = normal(key(seed, step, index0 + i, slot), j) (see augment.c and the
 * fnn_noise_spec in augment.h); clip bounds may be -inf/+inf. size must be below 2^32. Parallel over images;
 * thread-count independent. */
void SFX(gaussian_noise)(const REAL *x, REAL *out, int64_t n, int64_t size, const fnn_noise_spec *noise,
                         int n_threads) {
    const SFX(noise_one_fn) fn = SFX(noise_one_for_cpu)();
    const REAL stdr = (REAL)noise->std, lo = (REAL)noise->clip_lo, hi = (REAL)noise->clip_hi;
    FNN_THREADED(n_threads, for schedule(static), for (int64_t i = 0; i < n; i++) {
        fn(x + i * size, out + i * size, size, stdr, fnn_noise_key(noise, i), lo, hi);
    });
}
