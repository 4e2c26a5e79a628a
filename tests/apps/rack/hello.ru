# frozen_string_literal: true

# The smallest Rack app: one array body.
run ->(env) { [200, { "content-type" => "text/plain" }, ["Hello from #{env['PATH_INFO']}"]] }
