"""`basicauth:REALM,USER:PASS` and `basicauth:REALM,HTPASSWD_FILE` (router_basicauth), with
`basicauth-next` (on a wrong password go on with the next rule instead of answering 401).

A good password sets REMOTE_USER for the app; a request that already has a REMOTE_USER is let
through, as uWSGI does. htpasswd lines are checked as uWSGI checks them (`crypt()` DES and
`{SHA}`) and beyond it with glibc's `$1$`/`$5$`/`$6$`, Apache's `$apr1$` (passlib) and bcrypt
`$2y$`/`$2b$` (the bcrypt package). The file is read again when it changes.

The hash libraries load when the first htpasswd rule is built (at start, before the fork):
passlib and bcrypt are ~2.5 MiB of every worker that has no such rule.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from polyhost.log import log, printable
from polyhost.routing.actions import Action, Builder
from polyhost.routing.conditions import RuleError
from polyhost.routing.context import BREAK, NEXT, Answer, RouteContext


@cache
def _hashes() -> tuple[Any, tuple[tuple[str, Any], ...], Any]:
    """bcrypt, the passlib schemes by prefix, and DES crypt: imported on first use."""
    import bcrypt
    from passlib.hash import apr_md5_crypt, des_crypt, md5_crypt, sha256_crypt, sha512_crypt

    schemes = (
        ("$apr1$", apr_md5_crypt),
        ("$1$", md5_crypt),
        ("$5$", sha256_crypt),
        ("$6$", sha512_crypt),
    )
    return bcrypt, schemes, des_crypt


def check_password(password: bytes, stored: str) -> bool:
    """Whether `password` matches one htpasswd hash."""
    try:
        if stored.startswith("{SHA}"):
            digest = base64.b64encode(hashlib.sha1(password).digest()).decode()
            return hmac.compare_digest(digest, stored[5:])
        bcrypt, schemes, des_crypt = _hashes()
        if stored.startswith(("$2y$", "$2b$", "$2a$")):
            return bool(bcrypt.checkpw(password, stored.replace("$2y$", "$2b$", 1).encode()))
        for prefix, scheme in schemes:
            if stored.startswith(prefix):
                return bool(scheme.verify(password, stored))
        if len(stored) >= 13:
            return bool(des_crypt.verify(password, stored[:13]))
    except (ValueError, TypeError):
        return False
    return False


@dataclass
class Htpasswd:
    """An htpasswd file, reloaded when its mtime or size change."""

    path: str
    _stamp: tuple[int, int] = (0, -1)
    _users: dict[str, str] = field(default_factory=dict)

    def user(self, name: str) -> str | None:
        try:
            st = os.stat(self.path)
        except OSError as exc:
            log(f"[uwsgi-basicauth] cannot read {self.path}: {exc.strerror}")
            return None
        if (st.st_mtime_ns, st.st_size) != self._stamp:
            users = {}
            with open(self.path, encoding="latin-1") as file:
                for line in file:
                    user, colon, stored = line.rstrip("\r\n").partition(":")
                    if colon and user not in users:
                        users[user] = stored
            self._users, self._stamp = users, (st.st_mtime_ns, st.st_size)
        return self._users.get(name)


def _credentials(ctx: RouteContext) -> tuple[str, bytes] | None:
    header = ctx.vars.get("HTTP_AUTHORIZATION", "")
    if len(header) <= 7 or not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(b":")
    if not colon:
        return None
    return user.decode("latin-1"), password


def _basicauth(go_on: bool) -> Builder:
    def build(arg: str) -> Action:
        realm, comma, secret = arg.partition(",")
        if not comma or not secret:
            raise RuleError(f"basicauth needs REALM,USER:PASS or REALM,HTPASSWD_FILE, got {arg!r}")
        if '"' in realm or any(not c.isprintable() for c in realm):
            raise RuleError(f"the realm {realm!r} cannot hold quotes or control characters")
        inline_user, colon, inline_password = secret.partition(":")
        htpasswd = None if colon else Htpasswd(secret)
        if htpasswd is not None:
            _hashes()  # loaded now, in the master, not by each worker's first request
        body = b"Unauthorized"
        headers = [
            ("WWW-Authenticate", f'Basic realm="{realm}"'),
            ("Content-Length", str(len(body))),
        ]

        def authenticate(ctx: RouteContext) -> int:
            if ctx.vars.get("REMOTE_USER"):
                return NEXT
            given = _credentials(ctx)
            if given is not None:
                user, password = given
                if htpasswd is None:
                    good = user == inline_user and hmac.compare_digest(
                        password, inline_password.encode("latin-1")
                    )
                else:
                    stored = htpasswd.user(user)
                    good = stored is not None and check_password(password, stored)
                if good:
                    ctx.vars["REMOTE_USER"] = user
                    return NEXT
                log(f"[uwsgi-basicauth] wrong credentials for user {printable(user)!r}")
                if go_on:
                    return NEXT
            ctx.answer = Answer("401 Authorization Required", list(headers), body)
            return BREAK

        return authenticate

    return build


AUTH_ACTIONS = {"basicauth": _basicauth(False), "basicauth-next": _basicauth(True)}
