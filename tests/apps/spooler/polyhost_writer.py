"""Spools tasks with big bodies into DIR, one after another, until killed (the crash test).

usage: polyhost_writer.py DIR BODY_BYTES
Task n has the var b'n' = n and a body of BODY_BYTES bytes, all b'x'.
"""

import sys
from itertools import count

from polyhost.fabric.spooler import spool


def main() -> None:
    directory, size = sys.argv[1], int(sys.argv[2])
    body = b"x" * size
    for n in count():
        spool([directory], {b"n": b"%d" % n}, body=body)


if __name__ == "__main__":
    main()
