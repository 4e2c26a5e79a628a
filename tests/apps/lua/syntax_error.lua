return function(env)
  return 200, {}, "unclosed
end
