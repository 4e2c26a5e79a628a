-- The Lua corner of the metrics tests.
return function(env)
  local done = uwsgi.metric_inc("hits.lua", 4)
  local body = tostring(done) .. " " .. tostring(uwsgi.metric_inc("nope")) .. " "
    .. tostring(uwsgi.metric_get("hits.lua"))
  return 200, { ["Content-Type"] = "text/plain" }, body
end
