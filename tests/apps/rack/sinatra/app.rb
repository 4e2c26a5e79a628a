# frozen_string_literal: true

require "sinatra/base"

# A small Sinatra app: routes, params, a POST body and a streaming route.
class PolyhostSinatraApp < Sinatra::Base
  set :environment, :production
  set :host_authorization, { permitted_hosts: [] } if settings.respond_to?(:host_authorization)

  get "/" do
    "Sinatra on polyhost"
  end

  get "/hello/:name" do
    "Hello #{params[:name]}#{params[:suffix]}"
  end

  post "/echo" do
    request.body.rewind
    content_type :json
    %({"form":"#{params[:field]}","size":#{request.body.read.bytesize}})
  end

  post "/raw" do
    "got #{request.body.read}"
  end

  get "/stream" do
    stream do |out|
      out << "first\n"
      out << "second\n"
    end
  end

  get "/fail" do
    raise "sinatra route failed"
  end
end
