"""The gRPC gateway: registered RPC functions called by a real gRPC client."""

from __future__ import annotations

import os
from pathlib import Path

import grpc
import pytest

from polyhost.rpc import polyhost_rpc_pb2 as pb

from conftest import APPS, free_port


def test_grpc_gateway_calls_registered_functions(polyhost, tmp_path: Path) -> None:
    os.environ["MARKER_DIR"] = str(tmp_path)
    port, grpc_port = free_port(), free_port()
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--processes",
            "2",
            "--wsgi-file",
            str(APPS / "fabric" / "pyfabric.py"),
            "--rpc-grpc",
            f"127.0.0.1:{grpc_port}",
        ],
        port=port,
    )
    inst.wait_log(f"rpc-grpc gateway listening on 127.0.0.1:{grpc_port}")
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        call = channel.unary_unary(
            "/polyhost.rpc.Rpc/Call",
            request_serializer=pb.CallRequest.SerializeToString,
            response_deserializer=pb.CallReply.FromString,
        )
        listing = channel.unary_unary(
            "/polyhost.rpc.Rpc/List",
            request_serializer=pb.ListRequest.SerializeToString,
            response_deserializer=pb.ListReply.FromString,
        )
        reply = call(pb.CallRequest(name="hello", args=[b"grpc"]), timeout=10)
        assert reply.result.startswith(b"hello grpc from worker ")
        assert call(pb.CallRequest(name="big", args=[b"100000"]), timeout=10).result == (
            b"x" * 100_000
        )
        assert sorted(listing(pb.ListRequest(), timeout=10).names) == ["big", "fails", "hello"]
        with pytest.raises(grpc.RpcError) as error:
            call(pb.CallRequest(name="nothere"), timeout=10)
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
        # as over uWSGI's RPC, a function that raised gives no reply: told apart from a missing one
        # only in the instance's log
        with pytest.raises(grpc.RpcError) as error:
            call(pb.CallRequest(name="fails"), timeout=10)
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
        assert "the function failed or does not exist there" in (error.value.details() or "")
        # arguments over uwsgi RPC's 64 KiB packet are the client's error
        with pytest.raises(grpc.RpcError) as error:
            call(pb.CallRequest(name="hello", args=[b"x" * 70_000]), timeout=10)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (Path(__file__).parent.parent / "rpc" / "polyhost_rpc.proto").exists()
