"""CGI (RFC 3875): one process per request, and the CGI response parser PHP shares.

The runtime's declaration is here; its serving code (adapter.py) is imported only for a config
naming one of its apps (polyhost.catalog).
"""

from __future__ import annotations

import os

from polyhost.catalog import Declaration


class CgiDeclaration(Declaration):
    """What the CGI runtime is; `adapter.CgiRuntime` serves its apps."""

    name = "cgi"
    language = "CGI"
    modifier1 = 9
    app_options = ("cgi",)
    suffixes = (".cgi",)
    serving = "polyhost.bridges.cgi.adapter:CgiRuntime"

    @classmethod
    def takes_unclaimed(cls, target: str) -> bool:
        """A directory of CGI programs, or one executable."""
        return os.path.isdir(target) or (os.path.isfile(target) and os.access(target, os.X_OK))
