#include "loss.h"
#define FNN_TEMPLATE "loss_tmpl.h"
#include "fnn_instantiate.h"
