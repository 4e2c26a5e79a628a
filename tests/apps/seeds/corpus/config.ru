# the Rack quickstart's Sinatra config.ru
require 'sinatra'
get '/hi' do
  "Hello World"
end
run Sinatra::Application
