"""polyfactory factories for the domain's dataclasses: a test states only the fields it is about."""
