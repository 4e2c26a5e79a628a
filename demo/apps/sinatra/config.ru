# frozen_string_literal: true

# The demo's Sinatra app: the shared visit counter, and Django's `shout` over RPC.
require "sinatra/base"

class DemoSinatra < Sinatra::Base
  set :environment, :production
  set :host_authorization, { permitted_hosts: [] } if settings.respond_to?(:host_authorization)

  get "/" do
    content_type "text/plain"
    visits = UWSGI.cache_inc("visits", 1, 0, "demo")
    shout = UWSGI.call("shout", "sinatra calls django")
    "Hello from Sinatra, worker #{UWSGI.worker_id}: visit #{visits}, #{shout}\n"
  end
end

run DemoSinatra
