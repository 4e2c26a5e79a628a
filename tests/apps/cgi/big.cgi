#!/bin/sh
# Writes $QUERY_STRING mebibytes of zeros (mb=N).
mb=${QUERY_STRING#mb=}
printf 'Content-Type: application/octet-stream\r\n\r\n'
exec head -c $((mb * 1048576)) /dev/zero
