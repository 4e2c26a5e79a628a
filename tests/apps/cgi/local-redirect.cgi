#!/bin/sh
printf 'Location: /cgi/env.cgi/after?from=local\r\n\r\n'
