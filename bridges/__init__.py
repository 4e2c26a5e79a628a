"""Language runtimes: one folder per language, each declaring its Runtime class, which the
catalog (`polyhost.catalog`) lists."""
