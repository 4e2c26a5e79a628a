# frozen_string_literal: true

# One Rack app exercising the env, every body kind and rack.input, wrapped in Rack::Lint
# (paths under /raw/ skip Lint: Rack 2.2's Lint hides to_path and refuses call bodies).
require "digest/md5"

TEXT = { "content-type" => "text/plain" }.freeze
RACK3 = Rack.release.to_i >= 3 # Rack 3: array header values, rack.input need not rewind

# a body that only responds to each and close, and says when it is closed
class EachBody
  def initialize(parts, errors)
    @parts = parts
    @errors = errors
  end

  def each(&block)
    @parts.each(&block)
  end

  def close
    @errors.puts "EachBody closed"
  end
end

# a body of `size` bytes yielded in 64 KiB pieces, never held whole
class ChunkStream
  def initialize(size)
    @size = size
  end

  def each
    left = @size
    piece = "x" * 65_536
    while left.positive?
      yield left >= piece.bytesize ? piece : piece.byteslice(0, left)
      left -= piece.bytesize
    end
  end
end

# a file body: each reads it, to_path lets the server send it
class FileBody
  def initialize(path, errors)
    @path = path
    @errors = errors
  end

  def to_path
    @path
  end

  def each
    File.open(@path, "rb") { |file| yield file.read }
  end

  def close
    @errors.puts "FileBody closed"
  end
end

# a Rack 3 streaming body
class CallBody
  def call(stream)
    3.times { |i| stream.write("part #{i}\n") }
  ensure
    stream.close
  end
end

ROUTES = {
  "/env" => lambda do |env|
    lines = env.sort_by(&:first).map do |key, value|
      shown = value.is_a?(String) ? value : (value.is_a?(Array) ? value.join(".") : value.class.to_s)
      shown = value.to_s if [true, false].include?(value)
      "#{key}=#{shown}"
    end
    [200, TEXT.dup, [lines.join("\n") << "\n"]]
  end,
  "/array" => lambda do |_env|
    multi = RACK3 ? %w[a b] : "a\nb"
    [200, { "content-type" => "text/plain", "x-multi" => multi, "x-empty" => "" }, ["Hello", ", ", "world"]]
  end,
  "/each" => ->(env) { [200, TEXT.dup, EachBody.new(["one ", "two ", "three"], env["rack.errors"])] },
  "/raw/to_path" => ->(env) { [200, TEXT.dup, FileBody.new(__FILE__, env["rack.errors"])] },
  "/raw/call" => ->(_env) { [200, TEXT.dup, CallBody.new] },
  "/raw/array" => ->(_env) { [200, TEXT.dup, ["Hello", ", ", "world"]] },
  "/raw/array-with-length" => ->(_env) { [200, TEXT.merge("content-length" => "5"), ["Hello"]] },
  "/raw/not-modified" => ->(_env) { [304, {}, []] },
  "/raise" => ->(_env) { raise ArgumentError, "boom in the app" },
  "/raise-in-each" => lambda do |_env|
    body = Enumerator.new do |out|
      out << "partial\n"
      raise "boom while streaming"
    end
    [200, TEXT.dup, body]
  end,
  "/input" => lambda do |env|
    input = env["rack.input"]
    report = []
    report << "read3=#{input.read(3)}"
    report << "gets=#{input.gets.inspect}"
    report << "rest=#{input.read.inspect}"
    report << "at_end_gets=#{input.gets.inspect}"
    report << "at_end_read=#{input.read(1).inspect}"
    report << "read0=#{input.read(0).inspect}"
    next [200, TEXT.dup, [report.join("\n") << "\n"]] unless input.respond_to?(:rewind)

    input.rewind
    buffer = +"old content"
    input.read(nil, buffer)
    report << "buffer=#{buffer.inspect}"
    input.rewind
    lines = []
    input.each { |line| lines << line }
    report << "each=#{lines.inspect}"
    [200, TEXT.dup, [report.join("\n") << "\n"]]
  end,
  "/upload" => lambda do |env|
    input = env["rack.input"]
    md5 = Digest::MD5.new
    total = 0
    buffer = +""
    while input.read(65_536, buffer)
      md5 << buffer
      total += buffer.bytesize
    end
    input.rewind
    head = input.read(10)
    [200, TEXT.dup, ["#{total} #{md5.hexdigest} #{head.unpack1('H*')}"]]
  end,
  "/download" => ->(env) { size = env["QUERY_STRING"].to_i; [200, TEXT.merge("content-length" => size.to_s), ChunkStream.new(size)] },
  "/errors" => lambda do |env|
    env["rack.errors"].puts("a line for the log")
    env["rack.errors"].write("written\n")
    env["rack.errors"].flush
    [200, TEXT.dup, ["ok"]]
  end,
  "/pid" => ->(_env) { [200, TEXT.dup, [Process.pid.to_s]] },
  "/sleep" => lambda do |_env|
    warn "sleeping in #{Process.pid}"
    sleep 60
    [200, TEXT.dup, ["woke"]]
  end,
  "/spawn-and-sleep" => lambda do |_env|
    pid = spawn("sleep", "30")
    warn "spawned #{pid}, sleeping in #{Process.pid}"
    sleep 60
    [200, TEXT.dup, ["woke"]]
  end,
  "/uwsgi" => lambda do |_env|
    UWSGI.log("UWSGI.log from the app")
    cache = begin
      UWSGI.cache_get("key")
      "no error"
    rescue UWSGI::Error => e
      e.message
    end
    [200, TEXT.dup, ["worker=#{UWSGI.worker_id}\ncache=#{cache}"]]
  end
}.freeze

APP = lambda do |env|
  route = ROUTES[env["PATH_INFO"]]
  route ? route.call(env) : [404, TEXT.dup, ["no route #{env['PATH_INFO']}"]]
end

LINTED = Rack::Lint.new(APP)

run ->(env) { env["PATH_INFO"].start_with?("/raw/") ? APP.call(env) : LINTED.call(env) }
