#!/bin/sh
# Streams the request body back.
printf 'Content-Type: application/octet-stream\r\n\r\n'
exec cat
