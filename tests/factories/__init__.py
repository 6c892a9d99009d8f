"""polyfactory factories for the domain dataclasses, one module per context."""
