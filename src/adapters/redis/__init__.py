"""Redis adapters: the shared cache and the rate limiter, for deployments with more than one process."""
