"""The fabric loops of bench/fabric_calls.py for two versions of polyhost's code, alternating.

Each round runs polyhost with a base ref's version of FILES (checked out into the work tree
for that server only), polyhost with HEAD's, and real uWSGI, so the three see the same load;
the report gives each version's median calls/s, its median ratio to uWSGI's in the same round
and every round's calls/s. HEAD's files are restored at the end (also on failure); the files
must have no uncommitted changes.

    .venv/bin/python bench/fabric_ab.py --base main --files a.py,b.pl [--calls N] [--rounds R]
        [--loops rpc_py_py,rpc_pl_py]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fabric_calls import LOOPS, REPO, run_server


def git(*args: str) -> bytes:
    return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True).stdout


def use(ref: str, files: list[str]) -> None:
    """The work tree's FILES as they are in `ref` (HEAD: as committed)."""
    if ref == "HEAD":
        git("checkout", "HEAD", "--", *files)
        return
    for name in files:
        (REPO / name).write_bytes(git("show", f"{ref}:{name}"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the git ref to compare HEAD with")
    parser.add_argument("--files", required=True, help="comma-separated files that differ")
    parser.add_argument("--calls", type=int, default=100000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--loops", default="rpc_py_py,rpc_pl_py")
    args = parser.parse_args()
    files = args.files.split(",")
    if git("status", "--porcelain", "--", *files).strip():
        raise SystemExit(f"commit or stash the changes to {args.files} first")
    wanted = set(args.loops.split(","))
    loops = [(loop, mod) for loop, mod in LOOPS if loop in wanted]
    names = [args.base, "HEAD", "uWSGI"]
    results: dict[str, dict[str, list[float]]] = {name: {} for name in names}
    try:
        for _ in range(args.rounds):
            for name in names:
                if name != "uWSGI":
                    use(name, files)
                server = "uWSGI" if name == "uWSGI" else "polyhost"
                for loop, value in run_server(server, args.calls, loops, []).items():
                    results[name].setdefault(loop, []).append(value)
    finally:
        use("HEAD", files)
    print(f"# {args.base} against HEAD ({args.calls} calls per loop, {args.rounds} rounds)\n")
    print("| loop | version | calls/s (median) | ratio to uWSGI (min-max) | per round |")
    print("|---|---|---:|---:|---|")
    for loop, _ in loops:
        theirs = results["uWSGI"][loop]
        for name in names:
            ours = results[name][loop]
            ratios = [mine / other for mine, other in zip(ours, theirs, strict=True)]
            rounds = " / ".join(f"{value / 1000:.1f}k" for value in ours)
            print(
                f"| {loop} | {name} | {statistics.median(ours):,.0f} |"
                f" {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) |"
                f" {rounds} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
