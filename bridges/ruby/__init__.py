"""Ruby/Rack: a Ruby child program per worker thread, and its Python-side adapter.

The runtime's declaration is here; its serving code (adapter.py) is imported only for a config
naming one of its apps (polyhost.catalog).
"""

from __future__ import annotations

from polyhost.catalog import Declaration


class RackDeclaration(Declaration):
    """What the Ruby runtime is; `adapter.RackRuntime` serves its apps."""

    name = "rack"
    language = "Ruby"
    interface = "Rack"
    modifier1 = 7
    app_options = ("rack",)
    suffixes = (".ru",)
    debian_packages = ("ruby", "ruby-rack")
    serving = "polyhost.bridges.ruby.adapter:RackRuntime"
