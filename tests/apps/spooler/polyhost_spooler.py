"""A polyhost spooler process for the tests: `Spooler.loop` on DIR until STOP_FILE exists.

usage: polyhost_spooler.py DIR STOP_FILE [--harakiri SECONDS]
Tasks go to recorder.record; with --harakiri every task sleeps 60 s instead, so
spooler-harakiri has to kill the process.
"""

import os
import sys
import time

from recorder import record

from polyhost.bridges.python.spool_decorators import python_spooler_handler
from polyhost.fabric.spooler import Spooler


def sleep_forever(task: dict) -> int:
    time.sleep(60)
    return -2


def main() -> None:
    directory, stop_file = sys.argv[1], sys.argv[2]
    harakiri = int(sys.argv[4]) if sys.argv[3:4] == ["--harakiri"] else 0
    spooler = Spooler(
        directory,
        frequency=0.2,
        harakiri=harakiri,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    function = sleep_forever if harakiri else record
    print(f"spooler ready pid {os.getpid()}", file=sys.stderr, flush=True)
    spooler.loop(python_spooler_handler(function), lambda: os.path.exists(stop_file))


if __name__ == "__main__":
    main()
