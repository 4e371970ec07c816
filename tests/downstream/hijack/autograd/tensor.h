#error "a header of the downstream project (autograd/tensor.h) was picked up inside elbo's headers"
