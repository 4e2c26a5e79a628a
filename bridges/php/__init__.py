"""PHP: a pool of php-cgi children per worker, spoken to over FastCGI.

The runtime's declaration is here; its serving code (adapter.py) is imported only for a config
naming one of its apps (polyhost.catalog).
"""

from __future__ import annotations

import os

from polyhost.catalog import Declaration


class PhpDeclaration(Declaration):
    """What the PHP runtime is; `adapter.PhpRuntime` serves its apps."""

    name = "php"
    language = "PHP"
    modifier1 = 14
    app_options = ("php-docroot", "php-app")
    suffixes = (".php",)
    plugin_app = True
    debian_packages = ("php-cgi",)
    serving = "polyhost.bridges.php.adapter:PhpRuntime"

    @classmethod
    def claims(cls, target: str) -> bool:
        """A .php file, or a directory holding .php files."""
        if os.path.isdir(target):
            return any(entry.endswith(".php") for entry in os.listdir(target))
        return super().claims(target)
