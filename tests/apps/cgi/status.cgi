#!/bin/sh
printf 'Status: 404 Nothing Here\r\nContent-Type: text/plain\r\nX-Extra: 1\r\n\r\nmissing\n'
