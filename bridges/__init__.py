"""Language runtimes: one folder per language, with its README.

Each folder declares its runtime once, in a `polyhost.catalog.Declaration` subclass in the
folder's `__init__.py` (Python and ASGI: in wsgi.py and asgi/runtime.py): its name, modifier1
(and modifier2 values), language, the options naming its apps, the file suffixes and `mount`
target forms it claims, and the Debian/PyPI packages it needs. The folder's `Runtime` subclass
(`polyhost.dispatch.Runtime`) subclasses that declaration and serves the apps; it is imported
only when a config names one. The catalog (`polyhost.catalog`, whose BRIDGES names each
declaration) is the host's only way to them. A runtime
that can own RPC functions, signal handlers, spooler functions or mule message handlers installs
one `polyhost.fabric.hooks.RuntimeHooks` per owner when it starts in a process, and reaches the
fabric through the op table `polyhost.fabric.ops`.

Runtimes in child interpreters (Perl, Ruby) subclass `child_runtime.ChildRuntime` and speak the
bridge protocol of PROTOCOL.md through `channel`; in-process ones (Lua, JVM, Mono) take their
seat with `polyhost.fabric.inprocess.InProcessFabric`; Python is the worker's own interpreter;
PHP and CGI run one external program per thread or per request.
"""
