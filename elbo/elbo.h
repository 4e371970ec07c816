#pragma once
// elbo: the whole public API in one include.
#include "autograd/error.h"
#include "autograd/functional.h"
#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "autograd/random.h"
#include "autograd/tape.h"
#include "autograd/tensor.h"
#include "autograd/threads.h"
#include "distributions/distributions.h"
#include "nn/nn.h"
#include "models/models.h"
#include "training/training.h"
