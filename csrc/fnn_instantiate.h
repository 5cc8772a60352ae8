/* Instantiate the template named by FNN_TEMPLATE for float (_f32) and double (_f64).
 * Usage in NAME.c:  #define FNN_TEMPLATE "NAME_tmpl.h"  then  #include "fnn_instantiate.h" */
#include "fnn_common.h"

#define REAL float
#define SFX(name) name##_f32
#define REAL_IS_FLOAT 1
#include FNN_TEMPLATE
#undef REAL
#undef SFX
#undef REAL_IS_FLOAT

#define REAL double
#define SFX(name) name##_f64
#define REAL_IS_FLOAT 0
#include FNN_TEMPLATE
#undef REAL
#undef SFX
#undef REAL_IS_FLOAT
