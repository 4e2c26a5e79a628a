local function broken()
  error("failing while loading")
end
broken()
return function(env) end
