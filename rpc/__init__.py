"""RPC: the registry of functions every runtime can call, local and remote (modifier1 173)."""
