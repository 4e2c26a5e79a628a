"""The `polyhost` command: argv -> Config -> Master, or the help/version/show-config answers."""

from __future__ import annotations

import os
import sys

from polyhost.config import (
    ConfigError,
    load_config,
    render_help,
    render_option_help,
    render_show_config,
    render_version,
)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        config = load_config(args)
    except ConfigError as exc:
        print(f"polyhost: {exc}", file=sys.stderr)
        return 1
    action = config.action or ""
    if action == "version":
        print(render_version())
        return 0
    if action == "help":
        print(render_help(config))
        return 0
    if action.startswith("help-option:"):
        try:
            print(render_option_help(action.split(":", 1)[1]))
        except ConfigError as exc:
            print(f"polyhost: {exc}", file=sys.stderr)
            return 1
        return 0
    if action == "show-config":
        print(render_show_config(config))
        return 0
    if config.get("daemonize") and not os.environ.get("UWSGI_RELOADS"):
        _daemonize()
    if config.get("emperor"):
        from polyhost.emperor import run_emperor

        return run_emperor(config)
    from polyhost.master import Master

    return Master(config).run()


def _daemonize() -> None:
    """Detach like uWSGI's `daemonize = LOGFILE` (the log goes to that file)."""
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.close(devnull)
