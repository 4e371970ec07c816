#pragma once
// The nn layer in one include: modules, layers, initializers, optimizers and checkpoints.
#include "nn/activation.h"
#include "nn/conv.h"
#include "nn/dropout.h"
#include "nn/init.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/optim.h"
#include "nn/reshape.h"
#include "nn/safetensors.h"
#include "nn/sequential.h"
#include "nn/serialize.h"
