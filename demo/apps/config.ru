# frozen_string_literal: true

# The demo's Ruby/Rack app: the shared visit counter, and Python's `shout` over RPC.
run(lambda do |_env|
  visits = UWSGI.cache_inc("visits", 1, 0, "demo")
  shout = UWSGI.call("shout", "ruby calls python")
  [200, { "content-type" => "text/plain" },
   ["Hello from Ruby, worker #{UWSGI.worker_id}: visit #{visits}, #{shout}\n"]]
end)
