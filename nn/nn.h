#pragma once
// The nn layer in one include: modules, layers, initializers, optimizers and checkpoints.
#include "activation.h"
#include "conv.h"
#include "dropout.h"
#include "init.h"
#include "linear.h"
#include "norm.h"
#include "module.h"
#include "optim.h"
#include "reshape.h"
#include "safetensors.h"
#include "sequential.h"
#include "serialize.h"
