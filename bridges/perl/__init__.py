"""Perl/PSGI: a Perl child program per worker thread, and its Python-side adapter.

The runtime's declaration is here; its serving code (adapter.py) is imported only for a config
naming one of its apps (polyhost.catalog).
"""

from __future__ import annotations

from polyhost.catalog import Declaration


class PsgiDeclaration(Declaration):
    """What the Perl runtime is; `adapter.PsgiRuntime` serves its apps."""

    name = "psgi"
    language = "Perl"
    interface = "PSGI"
    modifier1 = 5
    app_options = ("psgi",)
    suffixes = (".psgi", ".pl")
    debian_packages = ("perl", "libplack-perl")
    serving = "polyhost.bridges.perl.adapter:PsgiRuntime"
