"""Loaded by real uWSGI (`--spooler-import`): makes recorder.record its spooler function."""

import uwsgi
from recorder import record

uwsgi.spooler = record
