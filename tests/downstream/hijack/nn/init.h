#error "a header of the downstream project (nn/init.h) was picked up inside elbo's headers"
