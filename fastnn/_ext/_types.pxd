# The fused float type every kernel shim is written over (float -> *_f32, double -> *_f64).
ctypedef fused real:
    float
    double
