"""Perl/PSGI: a Perl child program per worker thread, and its Python-side adapter."""
