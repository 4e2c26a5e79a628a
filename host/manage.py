"""The management commands users run against a running instance, which act and exit without
starting one (uWSGI's "immediate" options): `--stop PIDFILE` (SIGINT to the master),
`--reload PIDFILE` (SIGHUP: graceful reload), `--brutal-reload PIDFILE` (SIGURG: brutal reload;
uWSGI 2.0 has no such option and reloads brutally on SIGTERM, which stops polyhost as
`die-on-term` is on by default, spec/operations.md), `--connect-and-read ADDR` (print what a socket
sends until it closes, such as the stats server's JSON) and `--extract SOURCE` (print a file or
an http(s) URL, as the config loaders read them)."""

from __future__ import annotations

import os
import signal
import socket
import sys

from polyhost.config.sources import SourceError, read_source
from polyhost.stats import parse_address

#: what `polyhost --brutal-reload PIDFILE` sends: a brutal reload whatever die-on-term says
#: (SIGTERM, uWSGI 2.0's, stops polyhost by default); no socket of ours has an owner set, so
#: out-of-band TCP data never raises it
BRUTAL_RELOAD_SIGNAL = signal.SIGURG

#: option -> the signal it sends to the pid in the file it names
PIDFILE_SIGNALS = {
    "stop": signal.SIGINT,
    "reload": signal.SIGHUP,
    "brutal-reload": BRUTAL_RELOAD_SIGNAL,
}
#: seconds --connect-and-read waits to connect, and then for each piece of data
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
#: a pid file holds a number; more than this is not a pid file
PIDFILE_MAX = 64


def signal_pidfile(option: str, path: str) -> int:
    """Send the option's signal to the pid in `path`; the exit code (0 when sent)."""
    try:
        with open(path, "rb") as pidfile:
            text = pidfile.read(PIDFILE_MAX + 1).decode("ascii", "replace").strip()
    except OSError as exc:
        print(f"polyhost --{option}: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 1
    if not text.isdigit() or len(text) > PIDFILE_MAX or int(text) <= 0:
        print(f"polyhost --{option}: {path} holds no pid: invalid pidfile", file=sys.stderr)
        return 1
    pid, sig = int(text), PIDFILE_SIGNALS[option]
    try:
        os.kill(pid, sig)
    except OSError as exc:
        print(
            f"polyhost --{option}: cannot send {sig.name} to pid {pid} (from {path}):"
            f" {exc.strerror}; is the instance running?",
            file=sys.stderr,
        )
        return 1
    return 0


def connect_and_read(address: str) -> int:
    """Connect to `address` (HOST:PORT, :PORT for this host, a unix path or @abstract, as
    the stats option takes them) and copy what it sends to stdout until it closes; the exit
    code. (uWSGI 2.0.21 prints it to the log, when its non-blocking connect succeeds.)"""
    try:
        sock = _connect(address)
    except (OSError, ValueError) as exc:
        print(f"polyhost --connect-and-read: cannot connect to {address}: {exc}", file=sys.stderr)
        return 1
    out = sys.stdout.buffer
    with sock:
        sock.settimeout(READ_TIMEOUT)
        try:
            while data := sock.recv(65536):
                out.write(data)
                out.flush()
        except TimeoutError:
            print(
                f"polyhost --connect-and-read: {address} sent nothing for {READ_TIMEOUT:g}s",
                file=sys.stderr,
            )
            return 1
        except OSError as exc:
            print(f"polyhost --connect-and-read: reading {address}: {exc}", file=sys.stderr)
            return 1
    return 0


def extract(source: str) -> int:
    """Copy `source` (a file, `-`, an http(s) URL) to stdout; the exit code."""
    try:
        data = read_source(source)
    except SourceError as exc:
        print(f"polyhost --extract: {source}: {exc}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


def _connect(address: str) -> socket.socket:
    family, sockaddr = parse_address(address)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(CONNECT_TIMEOUT)
    try:
        sock.connect(sockaddr)
    except OSError:
        sock.close()
        raise
    return sock
