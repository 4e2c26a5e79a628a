"""The Emperor channel's vocabulary, shared by both ends: uWSGI's one-byte messages and the
environment names that hand a vassal its channel and its on-demand socket.

A module of constants only, so the Emperor's loop (host/emperor/handover.py: a slim
interpreter) gets them without the vassal side's imports (link.py needs polyhost.sockets).
"""

EMPEROR_FD_ENV = "UWSGI_EMPEROR_FD"
#: fd 0 duplicated here by an on-demand vassal before stdin goes to /dev/null
ON_DEMAND_ENV = "POLYHOST_ON_DEMAND_FD"

#: Emperor -> vassal
MSG_STOP, MSG_RELOAD, MSG_GRACEFUL_STOP = 0, 1, 2
#: vassal -> Emperor
MSG_SPAWNED, MSG_ACCEPTING, MSG_LOYAL, MSG_GOODBYE, MSG_HEARTBEAT = 1, 5, 17, 22, 26
