-- Hello world WSAPI app (the bench serves it too: the Content-Length lets uWSGI's
-- --http11-socket keep connections alive, as the WSGI bench app does).
return function(env)
  return 200, { ["Content-Type"] = "text/plain", ["Content-Length"] = "11" },
    coroutine.wrap(function()
      coroutine.yield("Hello World")
    end)
end
