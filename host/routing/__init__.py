"""Internal routing: uWSGI's `route*` rules, compiled at start-up and applied per request.

`rules` parses the options into chains and runs them, `template` the route variables in
arguments, `conditions` the `route-if` tests, `actions`/`auth`/`cache`/`forward` the actions,
`respond` the response side, `serve` what a worker calls (and `decide`, the engine alone).

`configured()` is all a process without rules needs: the master and the worker import the engine
only when it says yes, so a worker without rules carries none of it (issue 18, worker RSS).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from polyhost.config import Config

#: the chain an option prefix puts a rule in (no prefix: the request chain)
PREFIXES = {"final-": "final", "error-": "error", "response-": "response"}
#: options that add to a routing table without being a rule: the headers copied into vars
TABLE_OPTIONS = ("collect-header", "pull-header")


def is_route_option(name: str) -> bool:
    for prefix in PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    return name == "route" or name.startswith("route-")


def configured(config: Config) -> bool:
    """The config has a rule or a header for the table: then the routing engine is needed."""
    return any(
        entry.option is not None
        and (is_route_option(entry.option.name) or entry.option.name in TABLE_OPTIONS)
        for entry in config.entries()
    )
