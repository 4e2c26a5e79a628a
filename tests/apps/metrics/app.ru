# frozen_string_literal: true

# The Ruby corner of the metrics tests.
run lambda { |_env|
  done = UWSGI.metric_inc("hits.rb", 3)
  body = [done.inspect, UWSGI.metric_inc("nope").inspect, UWSGI.metric_get("hits.rb")].join(" ")
  [200, { "content-type" => "text/plain" }, [body]]
}
