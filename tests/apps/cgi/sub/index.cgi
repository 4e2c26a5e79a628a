#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\nsub index %s\n' "$SCRIPT_NAME"
