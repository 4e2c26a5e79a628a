"""The listen queue of a listening socket: connections the kernel accepted that no worker took.

uWSGI reads it on Linux with TCP_INFO (for a listening socket `tcpi_unacked` is the accept
queue length and `tcpi_sacked` its maximum) and feeds it to the stats (`listen_queue`, each
socket's `queue`/`max_queue`), the backlog cheaper algorithms and the metrics. Unix sockets have
no such counter here and read as 0.
"""

from __future__ import annotations

import socket
import struct

#: struct tcp_info: 8 one-byte fields, then u32 rto, ato, snd_mss, rcv_mss, unacked, sacked
_TCP_INFO = struct.Struct("=8x4xIIIII")
_TCP_INFO_SIZE = 104


def queue_of(sock: socket.socket) -> tuple[int, int]:
    """(waiting connections, maximum) of a listening TCP socket; (0, 0) for other sockets."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return (0, 0)
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_SIZE)
    except OSError:
        return (0, 0)
    if len(raw) < _TCP_INFO.size:
        return (0, 0)
    _ato, _snd_mss, _rcv_mss, unacked, sacked = _TCP_INFO.unpack_from(raw)
    return (int(unacked), int(sacked))
