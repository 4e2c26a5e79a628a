-- polyhost's WSAPI glue, loaded into every Lua state the Lua runtime creates.
--
-- bind(app, source, sink) gives the state's serve(env) and next_chunk(): the Python side calls
-- serve once per request, then next_chunk until the body ends. Both run the app under xpcall
-- with debug.traceback, so a Lua error reaches the log with its traceback. install_fabric puts
-- the fabric (rpc, cache, signals) into the state's `uwsgi` table.

local traceback, xpcall, error = debug.traceback, xpcall, error
local type, tostring, tonumber, select = type, tostring, tonumber, select
local pairs, ipairs, setmetatable, concat = pairs, ipairs, setmetatable, table.concat
local pcall, unpack = pcall, unpack
local find, sub = string.find, string.sub

-- CGI variables WSAPI apps read without checking (uWSGI sets CONTENT_TYPE the same way)
local DEFAULTS = { CONTENT_TYPE = "", SCRIPT_NAME = "", PATH_INFO = "", QUERY_STRING = "" }

-- wsapi_env.input: read(n) gives up to n bytes (nil at the end), read("*l") a line without
-- its end of line (nil at the end), read("*a") the rest ("" at the end); read() is read("*a")
-- as in uWSGI. `source` is the Python side: read(n) and readline() on the current request body.
local Input = {}
Input.__index = Input

function Input:read(what)
  local source = self.source
  if what == nil or what == "*a" then
    return source.read(-1)
  end
  if what == "*l" or what == "*L" then
    local line = source.readline()
    if line == "" then
      return nil
    end
    if what == "*l" and sub(line, -1) == "\n" then
      line = sub(line, 1, -2)
    end
    return line
  end
  local size = tonumber(what)
  if size == nil then
    error("wsapi_env.input:read: bad format " .. tostring(what), 2)
  end
  local data = source.read(size)
  if data == "" and size > 0 then
    return nil
  end
  return data
end

-- wsapi_env.error: write(...) sends text to the instance log (whole lines)
local Errors = {}
Errors.__index = Errors

function Errors:write(...)
  local sink = self.sink
  for index = 1, select("#", ...) do
    sink(tostring((select(index, ...))))
  end
  return self
end

function Errors:flush()
  return self
end

local function finished()
  return nil
end

-- the body as an iterator function, or nil and why not
local function body_iterator(body)
  local kind = type(body)
  if kind == "function" then
    return body
  end
  if kind == "string" then
    local done = false
    return function()
      if done then
        return nil
      end
      done = true
      return body
    end
  end
  if kind == "table" then
    local index = 0
    return function()
      index = index + 1
      return body[index]
    end
  end
  if body == nil then
    return finished
  end
  return nil, "the WSAPI app returned a " .. kind
    .. " as its body (a function, string or table is needed)"
end

-- one step of the body iterator: true, chunk (nil at the end) or false, traceback
local function step(body)
  local ok, chunk = xpcall(body, traceback)
  if not ok then
    return false, chunk
  end
  local kind = type(chunk)
  if kind == "string" or chunk == nil then
    return true, chunk
  end
  if kind == "number" then
    return true, tostring(chunk)
  end
  return false, "the WSAPI body iterator returned a " .. kind .. " (strings are needed)"
end

-- the headers table as "name\0value\0...", or nil and why not
local function flatten_headers(headers)
  if headers == nil then
    return ""
  end
  if type(headers) ~= "table" then
    return nil, "the WSAPI app returned a " .. type(headers) .. " as its headers (a table is needed)"
  end
  local parts, count = {}, 0
  for name, value in pairs(headers) do
    name = tostring(name)
    local many = type(value) == "table"
    local index = 1
    local item = many and value[1] or value
    while item ~= nil do
      item = tostring(item)
      if find(name, "\0", 1, true) or find(item, "\0", 1, true) then
        return nil, "the WSAPI app's response header " .. name .. " contains a NUL byte"
      end
      parts[count + 1], parts[count + 2] = name, item
      count = count + 2
      index = index + 1
      item = many and value[index] or nil
    end
  end
  return concat(parts, "\0")
end

local glue = {}

-- The request functions of one Lua state, which serves one request at a time:
-- serve(env) runs the app and gives true, status, "name\0value\0...", the first chunk (nil
-- when there is none), or false and the error with its traceback; next_chunk() then gives
-- true and each further chunk until nil, or false and the error.
function glue.bind(app, source, sink)
  local input = setmetatable({ source = source }, Input)
  local errors = setmetatable({ sink = sink }, Errors)
  local current_env, body = nil, finished

  local function run_app()
    return app(current_env)
  end

  local function serve(env)
    for name, value in pairs(DEFAULTS) do
      if env[name] == nil then
        env[name] = value
      end
    end
    env.input, env.error = input, errors
    current_env = env
    local ok, status, headers, result = xpcall(run_app, traceback)
    current_env = nil
    if not ok then
      return false, status
    end
    local kind = type(status)
    if kind ~= "number" and kind ~= "string" then
      return false, "the WSAPI app returned a " .. kind .. " as its status"
    end
    local flat, header_error = flatten_headers(headers)
    if flat == nil then
      return false, header_error
    end
    local iterator, body_error = body_iterator(result)
    if iterator == nil then
      return false, body_error
    end
    body = iterator
    local step_ok, chunk = step(iterator)
    if not step_ok or chunk == nil then
      body = finished
    end
    if not step_ok then
      return false, chunk
    end
    return true, tostring(status), flat, chunk
  end

  local function next_chunk()
    local ok, chunk = step(body)
    if not ok or chunk == nil then
      body = finished
    end
    return ok, chunk
  end

  return serve, next_chunk
end

-- The WSAPI entry point of a loaded app file: the function it returned, or its `run`.
function glue.entry_point(loaded)
  if type(loaded) == "table" then
    loaded = loaded.run
  end
  if type(loaded) ~= "function" then
    return nil
  end
  return loaded
end

-- Load a file under xpcall: true, its first result or false, the error with a traceback.
function glue.run_file(path)
  local chunk, message = loadfile(path)
  if not chunk then
    return false, message
  end
  return xpcall(chunk, traceback)
end

-- The fabric ------------------------------------------------------------------------------------

-- an error value (any type) with the traceback where it was raised
local function error_traceback(message)
  return traceback(tostring(message), 2)
end

-- fn under xpcall with its arguments: true and its first result, or false and the traceback
local function protected_call(fn, ...)
  local count, args = select("#", ...), { ... }
  return xpcall(function()
    return fn(unpack(args, 1, count))
  end, error_traceback)
end

-- A Lua RPC function as the Python side calls it: true and the reply (a string; a number or
-- boolean through tostring, nil as ""), or false and the error with its traceback.
local function rpc_function(name, fn)
  return function(...)
    local ok, reply = protected_call(fn, ...)
    if not ok then
      return false, reply
    end
    local kind = type(reply)
    if kind == "string" then
      return true, reply
    end
    if reply == nil then
      return true, ""
    end
    if kind == "number" or kind == "boolean" then
      return true, tostring(reply)
    end
    return false, "the Lua RPC function " .. tostring(name) .. " returned a " .. kind
      .. " (a string, number or nil is needed)"
  end
end

-- A Lua signal handler as the Python side calls it: true, or false and the traceback.
local function signal_handler(fn)
  return function(num)
    local ok, message = protected_call(fn, num)
    if not ok then
      return false, message
    end
    return true
  end
end

local function check_function(fn, where)
  if type(fn) ~= "function" then
    error(where .. " needs a Lua function, got a " .. type(fn), 3)
  end
end

-- A Python function of the fabric: its failure (a Python exception) becomes a Lua error with
-- the message, raised at the line that called the uwsgi function.
local function raising(fn)
  return function(...)
    local ok, result = pcall(fn, ...)
    if not ok then
      error(tostring(result), 2)
    end
    return result
  end
end

-- Put the fabric functions `api` (the Python side, host/fabric/inprocess.py) into `uwsgi`;
-- register_rpc and register_signal take Lua functions, run protected when called.
function glue.install_fabric(uwsgi, api)
  for name, fn in pairs(api) do
    uwsgi[name] = raising(fn)
  end
  local register_rpc, register_signal = api.register_rpc, api.register_signal
  function uwsgi.register_rpc(name, fn)
    check_function(fn, "uwsgi.register_rpc")
    local ok, result = pcall(register_rpc, name, rpc_function(name, fn))
    if not ok then
      error(tostring(result), 2)
    end
    return result
  end
  function uwsgi.register_signal(num, target, fn)
    check_function(fn, "uwsgi.register_signal")
    local ok, result = pcall(register_signal, num, target, signal_handler(fn))
    if not ok then
      error(tostring(result), 2)
    end
    return result
  end
end

return glue
