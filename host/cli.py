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
from polyhost.config.unavailable import refusal
from polyhost.emperor.link import under_emperor
from polyhost.manage import PIDFILE_SIGNALS, connect_and_read, extract, signal_pidfile


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
    command, _, argument = action.partition(":")
    if command in PIDFILE_SIGNALS:
        return signal_pidfile(command, argument)
    if command == "connect-and-read":
        return connect_and_read(argument)
    if command == "extract":
        return extract(argument)
    stop = refusal(config)
    if stop:
        print(f"polyhost: {stop}", file=sys.stderr)
        return 1
    # a vassal never detaches: its Emperor would take it for dead (uWSGI's uwsgi_setup_log:
    # under an Emperor `daemonize = FILE` is `logto = FILE`, which the master applies)
    if config.get("daemonize") and not os.environ.get("UWSGI_RELOADS") and not under_emperor():
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
