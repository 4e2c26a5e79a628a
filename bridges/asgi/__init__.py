"""The ASGI runtime: ASGI 3 apps on an asyncio loop in each worker."""
