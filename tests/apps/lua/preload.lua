-- A --lua-load file: runs in every Lua state before the app.
LOADED_BEFORE_APP = "yes"
