require 'sinatra'
enable :logging
get '/' do
  logger.info "serving root"
  "Hello classic"
end
get '/boom' do
  raise "kaboom"
end
