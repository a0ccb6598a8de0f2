"""Networks, training, metrics and the weights registry."""
