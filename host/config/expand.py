"""Value expansion, as uWSGI does it: magic variables (%n, %d, %k ...) in config files,
$(ENV) references, and %(placeholder) references with uWSGI's small arithmetic."""

from __future__ import annotations

import grp
import os
import pwd
import re
import socket
import sys
import time
from collections.abc import Callable, Iterator, Mapping

from polyhost import UWSGI_COMPAT_VERSION

_ENV_REFERENCE = re.compile(r"\$\(([^()]*)\)")
_NUMBER = re.compile(r"\d+")
_OPERATORS = {"+", "-", "*", "/"}
# magic variables that also exist in upper case, meaning "of the first config file loaded"
_FIRST_FILE_VARS = "odspcenxij"


def _djb33x_hex(text: str) -> str:
    """uWSGI's %j: the djb33x hash of the path, as the hex of its little-endian bytes."""
    digest = 5381
    for byte in os.fsencode(text):
        signed = byte - 256 if byte > 127 else byte  # uWSGI hashes C chars, which are signed
        digest = (((digest << 5) + digest) ^ signed) & 0xFFFFFFFF
    return digest.to_bytes(4, "little").hex().upper()


class MagicVars:
    """The magic variable tables of one configuration load."""

    def __init__(self) -> None:
        uid, gid = os.getuid(), os.getgid()
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:
            user = str(uid)
        try:
            group = grp.getgrgid(gid).gr_name
        except KeyError:
            group = str(gid)
        now = time.time()
        binary = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else sys.executable
        self._common = {
            "k": str(os.cpu_count() or 1),
            "h": socket.gethostname(),
            "u": str(uid),
            "U": user,
            "g": str(gid),
            "G": group,
            "t": str(int(now)),
            "T": str(int(now * 1_000_000)),
            "V": UWSGI_COMPAT_VERSION,
            "v": os.getcwd(),
            "b": binary,
            "[": "\033",
        }
        self._first_file: dict[str, str] | None = None

    def for_file(self, path: str, section: str | None) -> dict[str, str]:
        """The table for a config file (`section` only when given explicitly as FILE:SECTION)."""
        full = os.path.abspath(path) if os.path.islink(path) else os.path.realpath(path)
        directory = os.path.dirname(full)
        filename = os.path.basename(full)
        stem, dot, extension = filename.rpartition(".")
        table = dict(self._common)
        table.update(
            o=path,
            p=full,
            s=filename,
            d=directory.rstrip("/") + "/",
            c=os.path.basename(directory),
            n=stem if dot else filename,
            e=extension if dot else "",
            x=section or "",
            j=_djb33x_hex(full),
            i=str(os.lstat(full).st_ino) if os.path.lexists(full) else "",
        )
        components = [part for part in directory.split("/") if part]
        for index in range(10):
            table[str(index)] = components[index] if index < len(components) else ""
        if self._first_file is None:
            self._first_file = {name.upper(): table[name] for name in _FIRST_FILE_VARS}
        table.update(self._first_file)
        return table

    def for_stdin(self) -> dict[str, str]:
        """The table for a config read from standard input: no file, so no file variables."""
        return dict(self._common)


def expand_magic(value: str, table: Mapping[str, str]) -> str:
    """Replace %X magic variables. `%%` is a percent sign, `%(` starts a placeholder and is kept,
    and an unknown %X stays as written (uWSGI would drop it, which breaks strftime formats)."""
    out: list[str] = []
    index = 0
    while index < len(value):
        char = value[index]
        if char == "%" and index + 1 < len(value):
            following = value[index + 1]
            if following == "%":
                out.append("%")
            elif following == "(":
                out.append("%(")
            elif following in table:
                out.append(table[following])
            else:
                out.append(char + following)
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def expand_env(value: str, environ: Mapping[str, str]) -> tuple[str, list[str]]:
    """Replace $(NAME) with the environment variable; return the value and the names not set
    (left in the value as written, like uWSGI)."""
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in environ:
            return environ[name]
        missing.append(name)
        return match.group(0)

    return _ENV_REFERENCE.sub(replace, value), missing


def iter_placeholders(value: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, content) of each %(...) in `value`, parentheses nested."""
    position = 0
    while (start := value.find("%(", position)) != -1:
        depth = 0
        index = start + 2
        while index < len(value):
            if value[index] == "(":
                depth += 1
            elif value[index] == ")":
                if depth == 0:
                    break
                depth -= 1
            index += 1
        if index >= len(value):
            return
        yield start, index + 1, value[start + 2 : index]
        position = index + 1


def referenced_names(value: str) -> set[str]:
    """The keys a value refers to through %(name) or inside a %(math expression)."""
    names: set[str] = set()
    for _start, _end, content in iter_placeholders(value):
        for token in content.split():
            if (
                token not in _OPERATORS
                and token not in ("++", "--")
                and not _NUMBER.fullmatch(token)
            ):
                names.add(token)
    return names


Lookup = Callable[[str], "str | None"]


def _as_integer(text: str) -> int:
    if not re.fullmatch(r"\s*[-+]?\d+\s*", text):
        raise ValueError(f"'{text}' is not an integer")
    return int(text)


def _apply(operator: str, left: int, right: int) -> int:
    if operator == "+":
        return left + right
    if operator == "-":
        return left - right
    if operator == "*":
        return left * right
    if right == 0:
        raise ValueError("division by zero")
    quotient = abs(left) // abs(right)  # C division truncates toward zero
    return quotient if (left < 0) == (right < 0) else -quotient


def evaluate(expression: str, lookup: Lookup) -> str:
    """uWSGI's placeholder arithmetic (1.9.20), e.g. `%(%k * 2)` or `%(workers + 1)`.

    Tokens are separated by spaces: numbers and key names are values, `+ - * /` apply to the
    next value, `++`/`--` increment or decrement, and values with no operator between them are
    concatenated. Unlike uWSGI, an undefined name, a non-number or a division by zero is an
    error (ValueError) instead of a silent 0.
    """
    current: str | None = None
    operator: str | None = None
    for token in expression.split():
        if token in _OPERATORS:
            operator = token
            continue
        if token in ("++", "--"):
            base = _as_integer(current) if current is not None else 0
            current = str(base + 1 if token == "++" else base - 1)
            operator = None
            continue
        if _NUMBER.fullmatch(token):
            value = token
        else:
            found = lookup(token)
            if found is None:
                raise ValueError(f"'{token}' is not defined")
            value = found
        if operator is None:
            current = value if current is None else current + value
        else:
            left = _as_integer(current) if current is not None else 0
            current = str(_apply(operator, left, _as_integer(value)))
        operator = None
    return current or ""


def expand_placeholders(value: str, lookup: Lookup) -> tuple[str, list[str]]:
    """Replace %(name) and %(expression) references; return the value and the names that are not
    defined (left as written, like uWSGI: log formats use %(var) at run time). `%(_)` is the
    loop/test variable of for/if blocks and is never looked up here. Raises ValueError for a
    bad expression."""
    unresolved: list[str] = []
    out: list[str] = []
    position = 0
    for start, end, content in iter_placeholders(value):
        out.append(value[position:start])
        position = end
        name = content.strip()
        if name == "_":
            out.append(value[start:end])
        elif any(space in content for space in " \t"):
            out.append(evaluate(content, lookup))
        elif (found := lookup(name)) is not None:
            out.append(found)
        else:
            unresolved.append(name)
            out.append(value[start:end])
    out.append(value[position:])
    return "".join(out), unresolved
