"""The HTTP API in process (Litestar's test client) on the in-memory adapters, with local fake upstreams
that speak OpenAI's, Anthropic's and Stripe's wire formats: the routes, their bodies and status codes, fast."""
