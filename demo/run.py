"""Run the polyglot demo: start polyhost with demo/polyhost.ini, show a few requests, serve on.

`./dev demo` runs this; `--once` stops after the sample requests (used by the tests).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"polyhost exited with code {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"polyhost did not listen on {port} within {timeout}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--once", action="store_true", help="exit after the sample requests")
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", 8080)))
    args = parser.parse_args()
    port = args.port or free_port()
    env = dict(os.environ, DEMO_PORT=str(port), DEMO_STATS_PORT=str(free_port()))
    proc = subprocess.Popen(
        [sys.executable, "-m", "polyhost", str(HERE / "polyhost.ini")],
        env=env,
        start_new_session=True,
    )
    try:
        wait_port(port, proc)
        for path in ("/", "/sinatra/", "/perl/", "/clojure/"):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as reply:
                print(f"GET {path} -> {reply.status}: {reply.read().decode().strip()}")
        with socket.create_connection(("127.0.0.1", int(env["DEMO_STATS_PORT"])), 5) as sock:
            data = b"".join(iter(lambda: sock.recv(65536), b""))
        stats = json.loads(data)
        apps = [(a["mountpoint"] or "/", a["modifier1"]) for a in stats["workers"][0]["apps"]]
        print(f"stats: {len(stats['workers'])} workers, apps (mountpoint, modifier1): {apps}")
        if args.once:
            return 0
        print(f"polyhost serves http://127.0.0.1:{port}/ -- Ctrl-C stops it")
        proc.wait()
        return proc.returncode
    except KeyboardInterrupt:
        return 0
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(30)


if __name__ == "__main__":
    raise SystemExit(main())
