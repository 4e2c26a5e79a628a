"""Compile the runtime's C# sources (cs/*.cs) with Mono's `mcs`, once, into a cache directory.

The assemblies land in `$XDG_CACHE_HOME/polyhost/mono/<hash of the sources>/` (default
`~/.cache/...`; a private directory under the temp dir when that is not writable). Concurrent
starts share one build through a file lock; an assembly appears only complete (renamed into place).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from polyhost.dispatch import AppLoadError

SOURCES = Path(__file__).resolve().parent / "cs"


@dataclass(frozen=True)
class Assembly:
    """One assembly polyhost builds: its file name, its source, what it references."""

    name: str
    source: str
    references: tuple[str, ...] = ()


#: build order: each assembly references only those before it (and Mono's own)
UWSGI_API = Assembly("uwsgi.dll", "uwsgi_api.cs")
BRIDGE = Assembly("polyhost-mono.dll", "bridge.cs", ("uwsgi.dll",))
ASPNET = Assembly(
    "polyhost-aspnet.dll", "aspnet_host.cs", ("uwsgi.dll", "polyhost-mono.dll", "System.Web.dll")
)


def find_mcs() -> str:
    mcs = shutil.which("mcs")
    if mcs is None:
        raise AppLoadError(
            "the Mono C# compiler `mcs` is not installed: apt-get install mono-mcs mono-devel"
        )
    return mcs


def cache_dir(mcs: str) -> Path:
    """The directory for this set of sources (and this compiler)."""
    import hashlib  # here, not at the top: libcrypto would cost every process 4 MB of RSS

    digest = hashlib.sha256()
    for path in sorted(SOURCES.glob("*.cs")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(str(os.stat(mcs).st_mtime_ns).encode())
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "polyhost" / "mono"
    try:
        base.mkdir(parents=True, exist_ok=True)
        if not os.access(base, os.W_OK):
            raise PermissionError(base)
    except OSError:
        base = Path(tempfile.gettempdir()) / f"polyhost-mono-{os.getuid()}"
        base.mkdir(mode=0o700, exist_ok=True)
    return base / digest.hexdigest()[:16]


def build(assemblies: list[Assembly]) -> Path:
    """Compile what is missing of `assemblies` (in order); returns the directory holding them."""
    mcs = find_mcs()
    target = cache_dir(mcs)
    target.mkdir(parents=True, exist_ok=True)
    if all((target / a.name).exists() for a in assemblies):
        return target
    with open(target / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for assembly in assemblies:
            if not (target / assembly.name).exists():
                _compile(mcs, assembly, target)
    return target


def _compile(mcs: str, assembly: Assembly, target: Path) -> None:
    # the file name is the assembly's name: build it under its own name in a private directory
    scratch = Path(tempfile.mkdtemp(prefix=".build-", dir=target))
    partial = scratch / assembly.name
    references = [
        f"-r:{target / ref}" if (target / ref).exists() else f"-r:{ref}"
        for ref in assembly.references
    ]
    command = [
        mcs,
        "-target:library",
        "-optimize+",
        "-nologo",
        f"-out:{partial}",
        *references,
        str(SOURCES / assembly.source),
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            hint = ""
            if "System.Web" in output:
                hint = " (ASP.NET needs System.Web: apt-get install libmono-system-web4.0-cil)"
            raise AppLoadError(
                f"compiling {SOURCES / assembly.source} with mcs failed{hint}:\n{output}"
            )
        os.replace(partial, target / assembly.name)
    except subprocess.TimeoutExpired as exc:
        raise AppLoadError(f"compiling {assembly.source} with mcs took over 120 s") from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    # `python -m polyhost.bridges.mono.build`: build everything, print where uwsgi.dll is (to
    # compile an application's own assemblies against it: mcs -r:<dir>/uwsgi.dll ...)
    print(build([UWSGI_API, BRIDGE, ASPNET]))
