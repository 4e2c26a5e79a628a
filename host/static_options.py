"""Whether a config serves static files, read without importing the file server.

The master and the worker import `polyhost.static` (mime tables, e-mail date helpers, offload
threads) only when one of these options is set (issue 18, worker RSS).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from polyhost.config import Config

#: the options that give StaticFiles a root (check-static-docroot: the app's DOCUMENT_ROOT)
ROOT_OPTIONS = ("static-map", "static-map2", "check-static", "check-static-docroot")


def serves_static(config: Config) -> bool:
    return any(config.get(option) for option in ROOT_OPTIONS)
