#include "norm.h"
#define FNN_TEMPLATE "norm_tmpl.h"
#include "fnn_instantiate.h"
