# frozen_string_literal: true

# The Ruby corner of the cross-language fabric tests (mounted at /rb).
require "uwsgidsl"

MARKERS = ENV.fetch("MARKER_DIR")

def mark(name)
  File.write(File.join(MARKERS, name), Process.pid.to_s)
end

rpc("rb_echo") { |arg| "rb:#{arg}" }
rpc("rb_relay") { |nxt, *rest| "rb>#{UWSGI.call(nxt, *rest)}" }
signal(42, "workers") { |num| mark("rb-sig#{num}-w#{UWSGI.worker_id}") }
UWSGI.spooler = lambda do |task|
  next UWSGI::SPOOL_IGNORE unless task["handler"] == "rb"

  mark("rb-spooled-#{task['name']}")
  UWSGI::SPOOL_OK
end

run(lambda do |env|
  query = Rack::Utils.parse_query(env["QUERY_STRING"])
  body =
    case env["PATH_INFO"]
    when "/call" then UWSGI.call(query["fn"], *query.fetch("args", "").split(","))
    when "/cache_set" then UWSGI.cache_update(query["k"], query["v"], 0, "shared").to_s
    when "/cache_get" then UWSGI.cache_get(query["k"], "shared") || "MISS"
    when "/cache_inc" then UWSGI.cache_inc(query["k"], 1, 0, "shared").to_s
    when "/signal" then UWSGI.signal(query["num"].to_i) && "raised"
    when "/spool" then UWSGI.spool("handler" => query["handler"], "name" => query["name"])
    else "ruby"
    end
  [200, { "content-type" => "text/plain" }, [body]]
end)
