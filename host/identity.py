"""Who a process is: its title in ps and the user and group it runs as.

Small on purpose: the Emperor needs both and must not import the master, its workers and
runtimes to get them (that costs its idle RSS; see bench/RESULTS.md, issue 14).
"""

from __future__ import annotations

import os

from polyhost.log import log

TYPE_CHECKING = False  # typing costs the slim Emperor 1 MiB (emperor/handover.py)

if TYPE_CHECKING:
    from polyhost.config import Config


class IdentityError(Exception):
    """A uid/gid cannot be honoured; the message is for the operator."""


def set_process_title(config: Config, role: str) -> None:
    """procname / procname-prefix / auto-procname, as uWSGI names its processes in ps."""
    name = config.get("procname")
    prefix = config.get("procname-prefix") or ""
    if name:
        title = f"{prefix}{name}"
    elif config.get("auto-procname") or prefix:
        title = f"{prefix}polyhost {role}"
    else:
        return
    import setproctitle

    setproctitle.setproctitle(title)


def drop_privileges(config: Config) -> None:
    """`gid` then `uid` when root; without root a uid/gid naming someone else is refused."""
    gid, uid = config.get("gid"), config.get("uid")
    if os.getuid() != 0:
        _refuse_other_user(uid, gid)
        return
    switch_user(uid, gid)
    if not uid:
        log("*** WARNING: you are running polyhost as root !!! (use the uid option) ***")


def switch_user(uid: object, gid: object) -> None:
    """As root: become `gid` (without root's supplementary groups), then `uid` (names or
    numbers; either may be empty)."""
    if gid:
        import grp

        os.setgroups([])  # no root supplementary groups left behind
        os.setgid(int(gid) if str(gid).isdigit() else grp.getgrnam(str(gid)).gr_gid)
    if uid:
        import pwd

        os.setuid(int(uid) if str(uid).isdigit() else pwd.getpwnam(str(uid)).pw_uid)


def _refuse_other_user(uid: object, gid: object) -> None:
    """Not root (e.g. a tyrant vassal): a uid/gid naming someone else cannot be honoured."""
    import grp
    import pwd

    for option, value, current, lookup in (
        ("uid", uid, os.getuid(), lambda v: pwd.getpwnam(v).pw_uid),
        ("gid", gid, os.getgid(), lambda v: grp.getgrnam(v).gr_gid),
    ):
        if not value:
            continue
        text = str(value)
        try:
            wanted = int(text) if text.isdigit() else lookup(text)
        except KeyError:
            raise IdentityError(f"{option} = {text}: no such user or group") from None
        if wanted != current:
            raise IdentityError(
                f"{option} = {text}: this instance runs as {option} {current} without root "
                f"privileges and cannot switch to {wanted} (a tyrant vassal runs as the owner "
                "of its file; remove the option or chown the file)"
            )
