#!/bin/sh
# Dies by SIGSEGV before writing anything.
echo "about to crash" >&2
kill -SEGV $$
