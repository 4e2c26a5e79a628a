"""Mono/.NET: ASP.NET applications and .NET handlers in-process through pythonnet.

The runtime's declaration is here; its serving code (adapter.py) is imported only for a config
naming one of its apps (polyhost.catalog).
"""

from __future__ import annotations

import os

from polyhost.catalog import Declaration


class MonoDeclaration(Declaration):
    """What the Mono runtime is; `adapter.MonoRuntime` serves its apps."""

    name = "mono"
    language = "Mono"
    interface = "ASP.NET"
    modifier1 = 15
    app_options = ("mono-app", "mono-handler")
    debian_packages = ("mono-runtime", "mono-devel", "mono-mcs", "libmono-system-web4.0-cil")
    pypi_packages = ("pythonnet",)
    serving = "polyhost.bridges.mono.adapter:MonoRuntime"

    @classmethod
    def claims(cls, target: str) -> bool:
        """An ASP.NET application directory (web.config, *.aspx, *.ashx) or `Assembly.dll:Class`."""
        if os.path.isdir(target):
            entries = os.listdir(target)
            return "web.config" in entries or any(e.endswith((".aspx", ".ashx")) for e in entries)
        assembly, colon, _ = target.partition(":")
        return bool(colon) and assembly.lower().endswith(".dll")
