"""Table contracts by layer (DDL), read by ``setlist.contracts``."""
