"""The gRPC gateway (`--rpc-grpc ADDR`): polyhost_rpc.proto's Rpc service, in its own process.

Each gRPC call is forwarded as a uwsgi RPC call (modifier1 173) to the instance's workers over a
private unix socket, so a function registered by any runtime (Python, Perl, Ruby, Lua, JVM ...)
is reachable from gRPC clients in any language without loading a runtime here.
"""

from __future__ import annotations

import signal
import threading
from concurrent import futures

import grpc

from polyhost.log import log
from polyhost.rpc import polyhost_rpc_pb2 as pb
from polyhost.rpc.registry import RpcError, RpcLimitError
from polyhost.rpc.remote import NoReply, call_remote

SERVICE = "polyhost.rpc.Rpc"


def _status_of(exc: RpcError) -> grpc.StatusCode:
    """The gRPC status of a failed call: no reply (missing or failed function), over a limit,
    or the instance not reached."""
    if isinstance(exc, NoReply):
        return grpc.StatusCode.NOT_FOUND
    if isinstance(exc, RpcLimitError):
        return grpc.StatusCode.INVALID_ARGUMENT
    return grpc.StatusCode.UNAVAILABLE


class Gateway:
    def __init__(self, backend: str) -> None:
        self.backend = backend

    def call(self, request: pb.CallRequest, context: grpc.ServicerContext) -> pb.CallReply:
        try:
            result = call_remote(self.backend, request.name.encode(), list(request.args))
        except RpcError as exc:
            context.abort(_status_of(exc), f"{request.name}: {exc}")
        return pb.CallReply(result=result)

    def list(self, request: pb.ListRequest, context: grpc.ServicerContext) -> pb.ListReply:
        try:
            names = call_remote(self.backend, b"__polyhost_rpc_list__", [])
        except RpcError as exc:
            context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        return pb.ListReply(names=[n for n in names.decode().split("\n") if n])

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "Call": grpc.unary_unary_rpc_method_handler(
                    self.call,
                    request_deserializer=pb.CallRequest.FromString,
                    response_serializer=pb.CallReply.SerializeToString,
                ),
                "List": grpc.unary_unary_rpc_method_handler(
                    self.list,
                    request_deserializer=pb.ListRequest.FromString,
                    response_serializer=pb.ListReply.SerializeToString,
                ),
            },
        )


def serve(address: str, backend: str, threads: int = 8) -> int:
    """Run the gateway until SIGTERM/SIGINT/SIGHUP (the master's stop and reload)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=threads))
    server.add_generic_rpc_handlers((Gateway(backend).handler(),))
    if server.add_insecure_port(address) == 0:
        log(f"rpc-grpc: cannot listen on {address}")
        return 1
    server.start()
    log(f"rpc-grpc gateway listening on {address}")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=5).wait(10)
    return 0
