"""Lua/WSAPI: Lua 5.1 states in each worker through lupa, and the WSAPI glue they load.

The runtime's declaration is here; its serving code (adapter.py) is imported only for a config
naming one of its apps (polyhost.catalog).
"""

from __future__ import annotations

from polyhost.catalog import Declaration


class LuaDeclaration(Declaration):
    """What the Lua runtime is; `adapter.LuaRuntime` serves its apps."""

    name = "lua"
    language = "Lua"
    interface = "WSAPI"
    modifier1 = 6
    app_options = ("lua",)
    suffixes = (".lua", ".ws")
    pypi_packages = ("lupa",)
    serving = "polyhost.bridges.lua.adapter:LuaRuntime"
