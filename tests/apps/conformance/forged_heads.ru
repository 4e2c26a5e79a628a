# Rack responses that must never reach the wire as sent (tests/test_response_checks.py): each
# is a 500 with the reason in the log, and the child serves the next request.
class FailsMidway
  def each
    yield "first part "
    raise "the body iterator failed"
  end
end

run lambda { |env|
  case env["PATH_INFO"]
  when "/crlf-status" then ["200 OK\r\nSet-Cookie: x=1", { "x-b" => "b" }, ["smuggled"]]
  when "/lf-header" then [200, { "x-a" => "a\nset-cookie: y=2" }, ["smuggled"]]
  when "/cr-header" then [200, { "x-a" => "a\rset-cookie: y=2" }, ["smuggled"]]
  when "/crlf-name" then [200, { "set-cookie: z=3\r\nx" => "v" }, ["smuggled"]]
  when "/fails-midway" then [200, { "content-type" => "text/plain" }, FailsMidway.new]
  else [200, { "content-type" => "text/plain" }, ["ok"]]
  end
}
