"""`py-autoreload N` (development only): a thread in each worker looks at the file of every loaded
Python module every N seconds and, when one changed, asks the master for a graceful reload
(SIGHUP), as uWSGI's python plugin does. `py-auto-reload-ignore MODULE` leaves a module out.

Files are compared by modification time in nanoseconds and size (uWSGI compares whole seconds
and misses an edit within the second it was loaded)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Collection


class AutoReloader:
    """The watching thread of one worker: the first scan records, later scans compare."""

    def __init__(
        self, interval: float, ignore: Collection[str], log: Callable[[str], None], master: int
    ) -> None:
        self.interval = interval
        self.ignore = frozenset(ignore)
        self.log = log
        self.master = master
        self.seen: dict[str, tuple[int, int]] = {}

    def start(self, worker_id: int) -> None:
        if worker_id == 1:
            self.log(f"Python auto-reloader enabled (every {self.interval:g}s, pid {os.getpid()})")
        self.changed()  # the files as they are now, before the worker takes a request
        threading.Thread(target=self._run, name="uWSGIAutoReloader", daemon=True).start()

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            filename = self.changed()
            if filename:
                self.log(f"[uwsgi-python-reloader] module/file {filename} has been modified")
                os.kill(self.master, signal.SIGHUP)
                return

    def changed(self) -> str:
        """The first module file that changed since the last scan ("" if none); records new
        ones."""
        for name, module in list(sys.modules.items()):
            filename = getattr(module, "__file__", None)
            if name in self.ignore or not isinstance(filename, str):
                continue
            if filename.endswith((".pyc", ".pyo", ".pyd")):
                filename = filename[:-1]
            try:
                info = os.stat(filename)
            except OSError:
                continue
            now = (info.st_mtime_ns, info.st_size)
            before = self.seen.setdefault(filename, now)
            if before != now:
                return filename
        return ""
