#include "dense.h"
#define FNN_TEMPLATE "dense_tmpl.h"
#include "fnn_instantiate.h"
