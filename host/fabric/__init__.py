"""The fabric every runtime shares: cache, signals, spooler, mules (RPC lives in polyhost.rpc).

`ops` is the one language-neutral table of fabric operations: Python's `uwsgi` module, the
in-process runtimes (Lua, JVM, Mono) and the child runtimes (Perl, Ruby, PHP, over the bridge's
CALL packets) all go through it, so every language gets the same semantics.
"""
