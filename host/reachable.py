"""What the user of `uid`/`gid` cannot reach, found before the master drops to it: the Python
standard library and interpreter (a venv or pyenv under /root), polyhost itself, chdir and the
app files. A forked child takes the new ids and tries each path (ACLs count as the kernel
counts them), so the start stops with a list instead of each request failing after the drop."""

from __future__ import annotations

import grp
import os
import pwd
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from polyhost.config import Config


def refusal(config: Config, app_targets: list[str], who: str = "the workers") -> str:
    """The start-up error when the `uid` user cannot reach what `who` need, else ""."""
    uid, gid = config.get("uid"), config.get("gid")
    if os.getuid() != 0 or not uid:
        return ""
    try:
        uid_number = int(uid) if str(uid).isdigit() else pwd.getpwnam(str(uid)).pw_uid
        gid_number = (
            (int(gid) if str(gid).isdigit() else grp.getgrnam(str(gid)).gr_gid)
            if gid
            else os.getgid()
        )
    except KeyError:
        return ""  # drop_privileges names the unknown user or group
    paths = needed_paths(config.get("chdir"), app_targets)
    return explain(str(uid), uid_number, gid_number, paths, who, gid_text=str(gid or gid_number))


def explain(
    user: str, uid: int, gid: int, paths: dict[str, str], who: str, gid_text: str = ""
) -> str:
    """`uid USER cannot read PATH: what it is` for each of `paths` uid:gid cannot reach, under
    a line saying whose start it stops and above what to do; "" when it can reach them all."""
    missing = unreachable(uid, gid, paths)
    if not missing:
        return ""
    return "\n".join(
        [
            f"uid {user} (gid {gid_text or gid}) cannot reach what {who} need after the"
            " privilege drop:",
            *(f"  uid {user} cannot read {path}: {paths[path]}" for path in missing),
            f"  give {user} access (e.g. setfacl -m u:{user}:x on each directory above it),"
            " or install polyhost and its Python where it can read",
        ]
    )


def unreachable(uid: int, gid: int, paths: dict[str, str]) -> list[str]:
    """Those of `paths` that uid:gid cannot read (a directory: cannot enter). Run as root."""
    wanted = [path for path in paths if path and os.path.exists(path)]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: become the user, try, report, exit
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            failed = [path for path in wanted if not _reachable(path)]
            os.write(write_end, "\0".join(failed).encode("utf-8", "surrogateescape"))
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        data = b""
        while chunk := os.read(read_end, 65536):
            data += chunk
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    return data.decode("utf-8", "surrogateescape").split("\0") if data else []


def _reachable(path: str) -> bool:
    mode = os.R_OK | os.X_OK if os.path.isdir(path) else os.R_OK
    return os.access(path, mode)


def needed_paths(chdir: str | None, app_targets: list[str]) -> dict[str, str]:
    """The paths a worker (or a vassal: chdir None, no apps) needs after the drop -> what each
    is."""
    import polyhost

    paths = {
        os.path.dirname(os.__file__): "the Python standard library",
        os.path.realpath(sys.executable): "the Python interpreter (run again on reload)",
        os.path.dirname(polyhost.__file__): "polyhost",
    }
    if chdir:
        paths[os.path.abspath(chdir)] = "chdir"
    for target in app_targets:
        path = os.path.abspath(target)
        if not os.path.exists(path) and "=" in target:  # a mount: MOUNTPOINT=PATH (--cgi ...)
            path = os.path.abspath(target.partition("=")[2])
        paths.setdefault(path, "the app")
    return paths
