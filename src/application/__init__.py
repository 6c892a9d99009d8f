"""Use cases: import the domain and the standard library only."""
