# frozen_string_literal: true

# Hello world for the Rack benchmarks (polyhost, uWSGI's rack plugin, Puma).
BODY = "Hello World"
run ->(_env) { [200, { "content-type" => "text/plain", "content-length" => BODY.bytesize.to_s }, [BODY]] }
