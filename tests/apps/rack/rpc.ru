# frozen_string_literal: true

# Registers an RPC function at load time and calls it back through the worker per request.
UWSGI.register_rpc("double") do |value|
  UWSGI.log("double(#{value}) in #{Process.pid}")
  (value.to_i * 2).to_s
end

run ->(env) { [200, { "content-type" => "text/plain" }, ["double=#{UWSGI.call('double', env['QUERY_STRING'])}"]] }
