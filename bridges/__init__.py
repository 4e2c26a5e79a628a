"""Language runtimes: one folder per language, each registering itself for a modifier1."""
