"""The vassal zygote: one process that imports polyhost once and forks every vassal from it.

A vassal run as `python -m polyhost --ini FILE` spends most of its start-up importing polyhost
(about 0.25 s of CPU each), so 45 vassals appearing at once queued for seconds on two cores.
The zygote, a child of the Emperor started with its first vassal, has imported the instance's
modules; per vassal the Emperor sends the argv, cwd, environment and credentials (JSON) and the
channel and stdin fds (SCM_RIGHTS) over a SEQPACKET socketpair; the request is marshal (the
same interpreter at both ends). The zygote forks twice: the
grandchild drops to the vassal's credentials, waits to be reparented to the Emperor (a child
subreaper, so it waits for it as for any child: `VassalProcess`), sets its lifeline and runs the
instance exactly as `polyhost ARGS` would. The Emperor's own RSS stays small: the imports live in
the zygote, shared copy-on-write with the vassals. The Emperor's side of this module imports
only what its slim loop may (see handover.py): `_socket` and `_signal`, no json, no subprocess.
"""

from __future__ import annotations

import _signal
import _socket
import contextlib
import ctypes
import marshal
import os
import struct
import sys
import time

from polyhost.emperor.channel import EMPEROR_FD_ENV

PR_SET_CHILD_SUBREAPER = 36
#: the largest request (argv + environment) the zygote reads
MAX_REQUEST = 1 << 20
#: seconds the Emperor waits for the zygote to answer a spawn, or to start
ANSWER_TIMEOUT = 30.0
#: seconds a new vassal waits to be reparented to the Emperor
REPARENT_TIMEOUT = 5.0
#: exit statuses kept for pids nobody has asked about yet
MAX_UNCLAIMED = 256
_PID = struct.Struct("!i")
#: exit statuses of the Emperor's children, collected by `reap_children`
_exited: dict[int, int] = {}


def reap_children() -> None:
    """Wait for every child that ended: vassals, and (a subreaper's lot) any orphan of theirs."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _exited[pid] = os.waitstatus_to_exitcode(status)
        if len(_exited) > MAX_UNCLAIMED:  # orphans of vassals nobody asks about
            del _exited[next(iter(_exited))]


class VassalProcess:
    """A vassal the zygote forked, now the Emperor's child: what Popen gives, by pid."""

    __slots__ = ("pid", "returncode")

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            reap_children()
            self.returncode = _exited.pop(self.pid, None)
        return self.returncode

    def wait(self, timeout: float) -> int | None:
        limit = time.monotonic() + timeout
        while self.poll() is None and time.monotonic() < limit:
            time.sleep(0.02)
        return self.returncode


class SpawnRequest:
    """One vassal to start: what subprocess.Popen was given before the zygote. `stdin_fd`
    -1 is /dev/null; `credentials` are uid, gid and supplementary groups in tyrant mode (None:
    the Emperor's own)."""

    __slots__ = ("argv", "channel_fd", "credentials", "cwd", "emperor_pid", "env", "stdin_fd")

    def __init__(
        self,
        argv: list[str],
        cwd: str,
        env: dict[str, str],
        channel_fd: int,
        stdin_fd: int,
        emperor_pid: int,
        credentials: tuple[int, int, list[int]] | None,
    ) -> None:
        self.argv, self.cwd, self.env = argv, cwd, env
        self.channel_fd, self.stdin_fd = channel_fd, stdin_fd
        self.emperor_pid, self.credentials = emperor_pid, credentials


class Zygote:
    """The Emperor's handle on its zygote process; started on the first spawn, again if dead."""

    def __init__(self) -> None:
        self.proc: VassalProcess | None = None
        self.sock: _socket.socket | None = None
        self.ready = False

    def start(self) -> None:
        """Launch the zygote (it imports polyhost meanwhile; `spawn` waits for its "ready")."""
        if self.sock is not None and self.proc is not None and self.proc.poll() is None:
            return
        self.close()
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        fd = theirs.fileno()
        argv = [sys.executable, "-m", "polyhost.emperor.zygote", str(fd), str(os.getpid())]
        try:
            os.set_inheritable(fd, True)  # the one fd it gets besides stdio (as pass_fds)
            pid = os.posix_spawn(
                sys.executable,
                argv,
                os.environ,
                file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)],
            )
        finally:
            theirs.close()
        self.proc = VassalProcess(pid)  # reaped by reap_children
        ours.settimeout(ANSWER_TIMEOUT)
        self.sock = ours
        self.ready = False

    def _ready(self) -> _socket.socket:
        self.start()
        assert self.sock is not None
        if not self.ready:
            if self.sock.recv(16) != b"ready":
                self.close()
                raise OSError("the vassal zygote did not start (see its traceback above)")
            self.ready = True
        return self.sock

    def spawn(self, request: SpawnRequest) -> VassalProcess:
        """Fork a vassal; OSError when the zygote cannot (it is restarted on the next spawn)."""
        sock = self._ready()
        body = marshal.dumps(
            {
                "argv": request.argv,
                "cwd": request.cwd,
                "env": request.env,
                "emperor_pid": request.emperor_pid,
                "credentials": request.credentials,
                "stdin": request.stdin_fd >= 0,
            }
        )
        fds = [request.channel_fd] + ([request.stdin_fd] if request.stdin_fd >= 0 else [])
        rights = struct.pack(f"{len(fds)}i", *fds)
        try:
            sock.sendmsg([body], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
            answer = sock.recv(_PID.size)
        except OSError:
            self.close()
            raise
        if len(answer) != _PID.size:
            self.close()
            raise OSError("the vassal zygote died")
        (pid,) = _PID.unpack(answer)
        if pid <= 0:
            raise OSError(-pid, f"the vassal zygote cannot fork: {os.strerror(-pid)}")
        return VassalProcess(pid)

    def close(self) -> None:
        """EOF ends the zygote; it is waited for (killed after a few seconds)."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            if self.proc.wait(5) is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, _signal.SIGKILL)
                self.proc.wait(5)
            self.proc = None


# -- the zygote process --------------------------------------------------------------------------
def serve(sock: _socket.socket, emperor_pid: int) -> None:
    """Answer spawn requests until the Emperor closes its end (or dies: SIGKILL)."""
    import gc
    import importlib
    import signal
    import socket

    from polyhost.lifeline import die_with_parent

    die_with_parent(emperor_pid)
    # the imports every vassal shares; setproctitle before any environment change, which
    # would hide the memory it writes titles to
    import setproctitle  # noqa: F401
    import yaml  # noqa: F401  (config.loaders imports it on a yaml vassal's first read)

    import polyhost.cli
    import polyhost.master
    from polyhost.catalog import CATALOG

    for declared in CATALOG.runtimes():  # every bridge's serving code, shared by all vassals
        runtime = declared.runtime()
        for module in runtime.shared_modules:
            importlib.import_module(module)
    from polyhost.config import load_config

    # a config parsed once here leaves the parser's lazily built state (compiled patterns,
    # option lookups) in the frozen heap: no vassal builds it again
    load_config(["--master", "--http-socket", "127.0.0.1:0", "--chmod-socket", "660"])
    # what the zygote built is every vassal's for good: frozen, a vassal master's gc.collect()
    # neither walks it (CPU) nor writes to its pages (copy-on-write)
    gc.collect()
    gc.freeze()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the Emperor stops its vassals, then us
    sock.send(b"ready")
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, MAX_REQUEST, 2)
        except OSError:
            return
        if not msg:
            return
        try:
            pid = _fork_vassal(marshal.loads(msg), fds, sock, polyhost.cli.main)
        except OSError as exc:
            pid = -(exc.errno or 1)
        finally:
            for fd in fds:
                os.close(fd)
        sock.send(_PID.pack(pid))


def _fork_vassal(request: dict, fds: list[int], sock: _socket.socket, main: object) -> int:
    """Fork twice so the vassal is orphaned to the Emperor; its pid."""
    r, w = os.pipe()
    middle = os.fork()
    if middle == 0:
        code = 1
        try:
            os.close(r)
            vassal = os.fork()
            if vassal == 0:
                os.close(w)
                _become_vassal(request, fds, sock, main)
            os.write(w, _PID.pack(vassal))
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        answer = pipe.read(_PID.size)
    os.waitpid(middle, 0)
    if len(answer) != _PID.size:
        raise OSError(1, "the vassal fork failed")
    return _PID.unpack(answer)[0]


def _become_vassal(request: dict, fds: list[int], sock: _socket.socket, main: object) -> None:
    """In the grandchild: credentials, lifeline, fds, environment, then the instance."""
    import signal

    code = 1
    try:
        sock.close()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if request["credentials"]:
            uid, gid, groups = request["credentials"]
            os.setgroups(groups)
            os.setgid(gid)
            os.setuid(uid)
        emperor = request["emperor_pid"]
        limit = time.monotonic() + REPARENT_TIMEOUT
        while os.getppid() != emperor and time.monotonic() < limit:
            time.sleep(0.001)
        from polyhost.lifeline import die_with_parent

        die_with_parent(emperor)  # after the credentials change, which would clear it
        channel = fds[0]
        os.set_inheritable(channel, True)
        if request["stdin"]:
            os.dup2(fds[1], 0)
            os.close(fds[1])
        else:
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.close(devnull)
        os.chdir(request["cwd"])
        import setproctitle

        setproctitle.setproctitle(" ".join(request["argv"]))  # as ps showed an exec'd vassal
        env = dict(request["env"])
        env[EMPEROR_FD_ENV] = str(channel)
        os.environ.clear()
        os.environ.update(env)
        argv = request["argv"]
        import polyhost

        sys.argv = [os.path.join(os.path.dirname(polyhost.__file__), "__main__.py"), *argv[3:]]
        code = main(argv[3:])  # type: ignore[operator]
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    import socket

    serve(socket.socket(fileno=int(sys.argv[1])), int(sys.argv[2]))
