"""Internal routing: uWSGI's `route*` rules, compiled at start-up and applied per request.

`rules` parses the options into chains and runs them, `template` the route variables in
arguments, `conditions` the `route-if` tests, `actions`/`auth`/`cache`/`forward` the actions,
`respond` the response side, `serve` what a worker calls (and `decide`, the engine alone).
"""
