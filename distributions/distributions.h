#pragma once
// elbo::dist, the distributions layer: Normal, Bernoulli, Categorical, OneHotCategorical, their relaxed
// variants, ContinuousBernoulli, MultivariateNormal, LowRankMultivariateNormal and BivariateNormal,
// Independent, MixtureSameFamily, Chain (hierarchies of stochastic layers), transforms (the autoregressive
// ones and InverseTransform too) and TransformedDistribution (normalizing flows), the kl_divergence
// registry (with kl_divergence_mc for the rest), and AnyDistribution for families picked at run time.
#include "any.h"
#include "chain.h"
#include "autoregressive.h"
#include "bernoulli.h"
#include "bivariate_normal.h"
#include "categorical.h"
#include "continuous_bernoulli.h"
#include "discretized_logistic.h"
#include "distribution.h"
#include "independent.h"
#include "intensity_categorical.h"
#include "kl.h"
#include "mixture.h"
#include "multivariate_normal.h"
#include "normal.h"
#include "relaxed.h"
#include "transformed.h"
#include "transforms.h"
