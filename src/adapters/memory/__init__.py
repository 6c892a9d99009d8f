"""In-memory adapters for every port: standard library only, state per instance.
Unit tests use them; the embedded default uses the cache, rate limiter and queue ones."""
