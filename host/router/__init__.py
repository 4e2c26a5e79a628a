"""The front door: router processes that hold client connections and feed uwsgi packets to the
workers (the `--http` router here; the fastrouter and subscriptions beside it)."""
