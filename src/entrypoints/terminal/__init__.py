"""`parley chat`: a terminal client of any Parley server, over its HTTP API only."""
