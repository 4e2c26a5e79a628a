"""Ruby/Rack: a Ruby child program per worker thread, and its Python-side adapter."""
