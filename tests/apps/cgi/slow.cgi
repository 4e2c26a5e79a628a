#!/bin/sh
# Says nothing for a long time (cgi-timeout must kill it and its children).
sleep 300 &
echo $! > "${QUERY_STRING#pidfile=}"
wait
