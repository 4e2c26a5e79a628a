"""The router processes: the HTTP router, the fastrouter and their subscription tables."""
