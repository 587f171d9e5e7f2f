"""`mvssl bench`: measure this machine (matmul peak, training and views throughput, memory, scaling)."""
