#!/bin/sh
echo "first problem" >&2
printf 'Content-Type: text/plain\r\n\r\nfine\n'
echo "second problem" >&2
