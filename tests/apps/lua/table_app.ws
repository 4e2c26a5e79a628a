-- A WSAPI app file returning a table with `run`, as wsapi.xavante / orbit apps do.
local app = {}

function app.run(env)
  return 200, { ["Content-Type"] = "text/plain" }, coroutine.wrap(function()
    coroutine.yield("run from a table at " .. env.SCRIPT_NAME .. "|" .. env.PATH_INFO)
  end)
end

return app
