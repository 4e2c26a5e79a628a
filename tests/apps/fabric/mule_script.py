"""A programmed mule: every message it gets becomes a marker file."""

import os

import uwsgi

MARKERS = os.environ["MARKER_DIR"]

while True:
    message = uwsgi.mule_get_msg()
    with open(os.path.join(MARKERS, "mule-" + message.decode()), "w") as marker:
        marker.write(str(uwsgi.mule_id()))
