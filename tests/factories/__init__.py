"""polyfactory factories for the domain's dataclasses, one module per context: a test states only the fields it
is about."""
