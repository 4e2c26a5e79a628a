-- The Lua corner of the cross-language fabric tests (mounted at /lua).

local markers = os.getenv("MARKER_DIR")

local function mark(name)
  local file = assert(io.open(markers .. "/" .. name, "w"))
  file:write(tostring(uwsgi.worker_id()))
  file:close()
end

local function query(env)
  local values = {}
  for key, value in string.gmatch(env.QUERY_STRING, "([^&=]+)=([^&]*)") do
    values[key] = value:gsub("%%(%x%x)", function(hex)
      return string.char(tonumber(hex, 16))
    end)
  end
  return values
end

local function split(text)
  local items = {}
  for item in string.gmatch(text or "", "[^,]+") do
    items[#items + 1] = item
  end
  return items
end

uwsgi.register_rpc("lua_echo", function(arg)
  return "lua:" .. arg
end)
uwsgi.register_rpc("lua_relay", function(next_name, ...)
  return "lua>" .. uwsgi.call(next_name, ...)
end)
uwsgi.register_rpc("lua_fail", function()
  error("lua_fail always fails")
end)
uwsgi.register_signal(43, "workers", function(num)
  mark("lua-sig" .. num .. "-w" .. uwsgi.worker_id())
end)
uwsgi.register_signal(45, "workers", function(num)
  error("the lua handler of signal " .. num .. " fails")
end)

local routes = {}

function routes.call(q)
  return uwsgi.call(q.fn, unpack(split(q.args)))
end

function routes.cache_set(q)
  return tostring(uwsgi.cache_update(q.k, q.v, 0, "shared"))
end

function routes.cache_get(q)
  return uwsgi.cache_get(q.k, "shared") or "MISS"
end

function routes.cache_inc(q)
  return tostring(uwsgi.cache_inc(q.k, 1, 0, "shared"))
end

function routes.signal(q)
  uwsgi.signal(tonumber(q.num))
  return "raised"
end

-- the rest of the API in one go: every answer joined with spaces
function routes.api()
  local keys = uwsgi.cache_keys("shared")
  local ok, message = pcall(uwsgi.call, "nope")
  return table.concat({
    tostring(uwsgi.cache_set("lua-api", "v1", 0, "shared")),
    tostring(uwsgi.cache_set("lua-api", "v2", 0, "shared")),
    uwsgi.cache_get("lua-api", "shared"),
    tostring(uwsgi.cache_exists("lua-api", "shared")),
    tostring(uwsgi.cache_dec("lua-n", 5, 0, "shared")),
    tostring(uwsgi.cache_del("lua-api", "shared")),
    tostring(uwsgi.cache_get("lua-api", "shared")),
    type(keys),
    uwsgi.rpc("", "lua_echo", 42),
    tostring(uwsgi.signal_registered(43)),
    tostring(uwsgi.signal_registered(99)),
    tostring(ok),
    message,
  }, " ")
end

return function(env)
  local route = routes[string.sub(env.PATH_INFO, 2)]
  local body = route and route(query(env)) or "lua"
  return 200, { ["Content-Type"] = "text/plain" }, body
end
