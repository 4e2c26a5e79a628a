# Rack apps that run under Puma although they bend the spec (tests/test_forgiving.py): each is
# served, never a 500.
run lambda { |env|
  case env["PATH_INFO"]
  when "/errors"
    errors = env["rack.errors"]
    errors.write(42)
    errors.write(nil)
    errors.puts(:a_symbol, 3.5)
    errors.print("printed ", nil, 7, "\n")
    [200, { "content-type" => "text/plain" }, ["logged"]]
  when "/string-status"
    ["201", { "content-type" => "text/plain" }, ["created"]]
  when "/array-header"
    [200, { "content-type" => "text/plain", "set-cookie" => ["a=1", "b=2"] }, ["cookies"]]
  when "/integer-header"
    [200, { "content-type" => "text/plain", "x-count" => 5 }, ["five"]]
  else
    [200, { "content-type" => "text/plain" }, ["ok"]]
  end
}
