#pragma once
// elbo::models in one include: data sets and images, likelihood heads, architectures, the model
// interface and its estimators, posterior flows and learned priors, and the zoo's models.
#include "autoencoder.h"
#include "checksum.h"
#include "dataset.h"
#include "estimators.h"
#include "flows.h"
#include "hierarchical.h"
#include "idx.h"
#include "image.h"
#include "plot.h"
#include "likelihood.h"
#include "model.h"
#include "networks.h"
#include "vae.h"
#include "seqvae.h"
#include "strokes.h"
#include "vi.h"
