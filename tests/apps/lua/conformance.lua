-- WSAPI conformance app for tests/test_lua.py: one route per behaviour under test.
local state_id = tostring({}):match("0x%x+") or tostring({})

local function text(status, body, headers)
  headers = headers or {}
  headers["Content-Type"] = headers["Content-Type"] or "text/plain"
  return status, headers, coroutine.wrap(function() coroutine.yield(body) end)
end

local routes = {}

routes["/env"] = function(env)
  local keys = {}
  for key, value in pairs(env) do
    if type(value) == "string" then
      keys[#keys + 1] = key
    end
  end
  table.sort(keys)
  local lines = {}
  for _, key in ipairs(keys) do
    lines[#lines + 1] = key .. "=" .. env[key]
  end
  lines[#lines + 1] = "input=" .. type(env.input.read)
  lines[#lines + 1] = "error=" .. type(env.error.write)
  return text(200, table.concat(lines, "\n") .. "\n")
end

routes["/echo"] = function(env)
  -- streams the body back in the pieces read(n) gives
  return 200, { ["Content-Type"] = "application/octet-stream" }, coroutine.wrap(function()
    while true do
      local piece = env.input:read(65536)
      if piece == nil then
        return
      end
      coroutine.yield(piece)
    end
  end)
end

routes["/read-formats"] = function(env)
  local first = env.input:read("*l")
  local second = env.input:read("*l")
  local four = env.input:read(4)
  local rest = env.input:read("*a")
  local after = env.input:read(10)
  local after_all = env.input:read()
  return text(200, string.format("first=[%s] second=[%s] four=[%s] rest=[%s] after=%s all=[%s]",
    first, second, four, rest, tostring(after), after_all))
end

routes["/error"] = function(env)
  local function inner()
    error("boom in the lua app")
  end
  inner()
end

routes["/body-error"] = function(env)
  return 200, { ["Content-Type"] = "text/plain" }, coroutine.wrap(function()
    coroutine.yield("partial\n")
    error("boom in the body iterator")
  end)
end

routes["/headers"] = function(env)
  return "201 Made", { ["Content-Type"] = "text/plain", ["X-Multi"] = { "a", "b" } },
    coroutine.wrap(function() coroutine.yield("made") end)
end

routes["/status-number"] = function(env)
  return 404, { ["Content-Type"] = "text/plain" }, function() return nil end
end

routes["/string-body"] = function(env)
  return 200, { ["Content-Type"] = "text/plain" }, "a plain string body"
end

routes["/table-body"] = function(env)
  return 200, { ["Content-Type"] = "text/plain" }, { "one ", "two ", "three" }
end

routes["/bytes"] = function(env)
  local all = {}
  for i = 0, 255 do
    all[#all + 1] = string.char(i)
  end
  return text(200, table.concat(all))
end

routes["/download"] = function(env)
  local size = tonumber(env.QUERY_STRING)
  local block = string.rep("x", 65536)
  return 200, { ["Content-Type"] = "application/octet-stream", ["Content-Length"] = tostring(size) },
    coroutine.wrap(function()
      local left = size
      while left > 0 do
        local piece = left >= #block and block or block:sub(1, left)
        left = left - #piece
        coroutine.yield(piece)
      end
    end)
end

routes["/uwsgi"] = function(env)
  uwsgi.log("uwsgi.log from the lua app")
  env.error:write("a line for the log\n", "and a second ", "one\n")
  local opt = uwsgi.opt["lua"]
  return text(200, string.format("worker=%d version=%s numproc=%d request=%d opt=%s loaded=%s",
    uwsgi.worker_id(), uwsgi.version, uwsgi.numproc, uwsgi.request_id(), tostring(opt),
    tostring(LOADED_BEFORE_APP)))
end

routes["/state"] = function(env)
  return text(200, state_id)
end

routes["/bad-body"] = function(env)
  return 200, {}, 42
end

routes["/nul-header"] = function(env)
  return 200, { ["X-Bad"] = "a\0b" }, "body"
end

return function(env)
  local route = routes[env.PATH_INFO]
  if route == nil then
    return text(404, "no route " .. env.PATH_INFO .. "\n")
  end
  return route(env)
end
