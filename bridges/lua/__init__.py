"""Lua/WSAPI: Lua 5.1 states in each worker through lupa, and the WSAPI glue they load."""
