"""Mono/.NET: ASP.NET applications and .NET handlers in-process through pythonnet."""
