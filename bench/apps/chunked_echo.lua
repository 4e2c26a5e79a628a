-- The chunked-upload bench app in Lua: reads the body with uwsgi.chunked_read, answers its length.
return function(env)
  local total = 0
  while true do
    local chunk = uwsgi.chunked_read(10)
    if chunk == "" then break end
    total = total + #chunk
  end
  local body = tostring(total)
  return 200, { ["Content-Type"] = "text/plain", ["Content-Length"] = tostring(#body) },
    coroutine.wrap(function() coroutine.yield(body) end)
end
