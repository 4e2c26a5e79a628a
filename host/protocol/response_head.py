"""What any runtime's response head must be before a byte of it reaches the wire, for every
responder (HTTP, uwsgi, FastCGI): a status of three digits and an optional reason phrase (a bare
"200" gets its standard phrase, as uWSGI, gunicorn and Unit send it), header names that are
RFC 9110 tokens and values that are Latin-1 text without CR, LF or NUL. Anything else is a
BadResponse naming what was wrong, which the runtime turns into a 500 with the reason in the
log: a status or header can never smuggle a second header or a second response."""

from __future__ import annotations

import re

from polyhost.request import REASONS

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_REASON = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f]*")
#: statuses already checked, as sent (a handful per app: the check runs once each)
_STATUSES: dict[str, tuple[int, str]] = {}


class BadResponse(ValueError):
    """The app's status or headers cannot be sent as they are."""


def checked_status(status: object) -> tuple[int, str]:
    """(code, status line text "CODE REASON") of an app's status."""
    if type(status) is str:
        known = _STATUSES.get(status)
        if known is not None:
            return known
    if not isinstance(status, str):
        raise BadResponse(f"the status must be a str such as '200 OK', not {status!r}")
    code_text, sep, reason = status.partition(" ")
    if len(code_text) != 3 or not code_text.isdigit() or not code_text.isascii():
        raise BadResponse(f"the status {status!r} does not start with a 3-digit code")
    if not _REASON.fullmatch(reason) or (not reason.isascii() and not _latin1(reason)):
        raise BadResponse(f"the status {status!r} has control characters in its reason phrase")
    code = int(code_text)
    if code < 100:
        raise BadResponse(f"the status {status!r} is under 100")
    checked = (code, status if sep and reason else f"{code} {REASONS.get(code, '')}".rstrip())
    if len(_STATUSES) < 256:
        _STATUSES[status] = checked
    return checked


def checked_header(name: object, value: object) -> str:
    """The header line "Name: value" of one of the app's headers."""
    if type(name) is not str or not _TOKEN.fullmatch(name):
        raise BadResponse(f"the header name {name!r} is not a token (RFC 9110)")
    if type(value) is not str:
        raise BadResponse(
            f"the value of header {name!r} must be a str, not {type(value).__name__} {value!r}"
        )
    if "\n" in value or "\r" in value or "\0" in value:
        raise BadResponse(f"the value of header {name!r} contains CR, LF or NUL: {value!r}")
    if not value.isascii() and not _latin1(value):
        raise BadResponse(f"the value of header {name!r} is not Latin-1 text: {value!r}")
    return f"{name}: {value}"


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True
