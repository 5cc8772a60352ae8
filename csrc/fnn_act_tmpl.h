/* The scalar activation y = act(z) (codes in dense.h), a template piece over REAL / SFX included by the families
 * that apply activations (dense, infer). Conventions (NaN passes, -0.0 kept by ReLU) are in dense_tmpl.h. */
static inline REAL SFX(fnn_act)(REAL z, int act, REAL alpha) {
    switch (act) {
    case FNN_RELU:
        return z < 0 ? (REAL)0 : z;
    case FNN_LEAKY_RELU:
        return z > 0 ? z : alpha * z;
    case FNN_SIGMOID:
        /* split by sign so exp never overflows */
        if (z >= 0) {
            REAL e = (REAL)exp(-(double)z);
            return (REAL)1 / ((REAL)1 + e);
        } else {
            REAL e = (REAL)exp((double)z);
            return e / ((REAL)1 + e);
        }
    case FNN_TANH:
        return (REAL)tanh((double)z);
    case FNN_GELU:
        return (REAL)(0.5 * (double)z * (1.0 + erf((double)z * 0.70710678118654752440)));
    default:
        return z;
    }
}
