"""A throw-away runtime for the catalog test: one Runtime class, one `CATALOG.register` call.

Run as a script it is `polyhost` with the echo runtime added: `mount /x=FILE.echo` serves the
file's bytes followed by the request's PATH_INFO, and loading it registers the RPC function
`echo_reverse` (its arguments in reverse order), callable from every language of the instance.
"""

from __future__ import annotations

import sys
from pathlib import Path

from polyhost.catalog import CATALOG
from polyhost.dispatch import App, Runtime
from polyhost.fabric import ops
from polyhost.fabric.hooks import HOOKS, RuntimeHooks
from polyhost.request import Request, Responder


class EchoRuntime(Runtime, RuntimeHooks):
    """Serves the text of a `.echo` file; it is also the fabric's way into the runtime."""

    name = "echo"
    language = "Echo"
    modifier1 = 42
    suffixes = (".echo",)

    def load(self, first_id: int) -> list[App]:
        HOOKS.install(self.name, self)
        ops.call(self.name, "register_rpc", [b"echo_reverse"])
        return [
            App(
                first_id + i,
                self,
                spec.mountpoint,
                spec.target,
                self.modifier1,
                handle=Path(spec.target).read_bytes(),
            )
            for i, spec in enumerate(self.specs)
        ]

    def call_rpc(self, handle: object, args: list[bytes]) -> bytes:
        """`echo_reverse`: the arguments in reverse order."""
        return b" ".join(reversed(args))

    def handle(self, app: App, request: Request, responder: Responder) -> None:
        body = app.handle + request.vars.get("PATH_INFO", "").encode()  # type: ignore[operator]
        responder.start(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
        )
        responder.write(body)


if __name__ == "__main__":
    CATALOG.register(EchoRuntime)
    from polyhost.cli import main

    sys.exit(main())
