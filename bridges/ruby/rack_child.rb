# frozen_string_literal: true

# The Rack child of a polyhost worker: loads one config.ru with Rack::Builder (Rack 2 and 3)
# and serves the worker's requests over the bridge protocol (bridges/PROTOCOL.md), uwsgi
# packets on the socket named by POLYHOST_BRIDGE_FD. Needs only the rack gem (no rack/handler).

require "stringio"

module PolyhostRack
  HELLO = 200
  FAIL = 201
  REQUEST = 202
  BODY = 203
  READ = 204
  START = 205
  SENDFILE = 206
  END_RESPONSE = 207
  CALL = 210
  RESULT = 211
  LOG = 212
  CONFIG = 213
  MORE = 0x80
  FAIL_RUNTIME_MISSING = 1
  CHUNK = 65_535
  READ_SIZE = 262_144
  FLUSH_AT = 262_144
  BINARY = Encoding::BINARY
  FULL_BODY_HEADER = [BODY, CHUNK, 0].pack("CvC").freeze
  NO_BODY_STATUS = [204, 304, *100..199].freeze
  FRAMING_HEADERS = %w[content-length transfer-encoding].freeze

  # Packets on the bridge socket: buffered reads, and writes collected into one syswrite.
  class Bridge
    attr_reader :out

    # the current response's START packet has been written to the worker
    attr_reader :start_sent

    def initialize(io)
      @io = io
      @rbuf = String.new(capacity: READ_SIZE, encoding: BINARY)
      @rpos = 0
      @chunk = String.new(capacity: READ_SIZE, encoding: BINARY)
      @out = String.new(capacity: 65_536, encoding: BINARY)
      @bodybuf = String.new(capacity: CHUNK, encoding: BINARY)
      @formats = Hash.new { |cache, count| cache[count] = ("va*" * count).freeze }
      @incoming = {}
    end

    # handlers for CALLs from the worker: op name -> callable(args) returning result strings
    attr_reader :incoming

    def read_packet
      loop do
        have = @rbuf.bytesize - @rpos
        if have >= 4
          mod1, size, mod2 = @rbuf.unpack("CvC", offset: @rpos)
          if have >= 4 + size
            # unpack copies: a byteslice could share @rbuf's buffer and keep it alive
            payload = @rbuf.unpack1("a#{size}", offset: @rpos + 4)
            @rpos += 4 + size
            if @rpos == @rbuf.bytesize
              @rbuf.clear
              @rpos = 0
            end
            return [mod1, payload, mod2]
          end
        end
        if @rpos.positive?
          @rbuf[0, @rpos] = "" # drop parsed bytes in place (binary: characters are bytes)
          @rpos = 0
        end
        begin
          @io.sysread(READ_SIZE, @chunk)
        rescue EOFError, Errno::ECONNRESET
          exit!(0) # the worker closed the bridge: nothing left to do
        end
        @rbuf << @chunk
      end
    end

    def read_message
      mod1, payload, mod2 = read_packet
      while mod2.anybits?(MORE)
        _, more, mod2 = read_packet
        payload << more
      end
      [mod1, payload, mod2]
    end

    # one logical message as packets (split at 64 KiB, MORE on all but the last)
    def frame(mod1, payload, mod2 = 0)
      size = payload.bytesize
      return [mod1, size, mod2].pack("CvC") << payload.b if size <= CHUNK

      data = payload.b
      out = String.new(encoding: BINARY)
      pos = 0
      while size - pos > CHUNK
        out << [mod1, CHUNK, mod2 | MORE].pack("CvC") << data.byteslice(pos, CHUNK)
        pos += CHUNK
      end
      out << [mod1, size - pos, mod2].pack("CvC") << data.byteslice(pos, size - pos)
    end

    # a uwsgi vars block or array: u16le length + bytes, repeated
    def pack_items(items)
      args = []
      items.each do |item|
        item = item.to_s
        size = item.bytesize
        raise ArgumentError, "a value of #{size} bytes does not fit the 64 KiB of a uwsgi packet" if size > CHUNK

        args << size << item
      end
      args.pack(@formats[items.size])
    end

    def unpack_items(block)
      items = []
      pos = 0
      size = block.bytesize
      while pos < size
        len = block.unpack1("v", offset: pos)
        items << block.byteslice(pos + 2, len)
        pos += 2 + len
      end
      items
    end

    def queue(mod1, payload, mod2 = 0)
      @out << frame(mod1, payload, mod2)
      @start_queued = true if mod1 == START
    end

    def begin_response
      @start_queued = false
      @start_sent = false
    end

    # forget a response not written yet (START included), to answer 500 instead
    def discard_response
      @out.clear
      @bodybuf.clear
      @start_queued = false
    end

    # queue body bytes: small pieces coalesce into one BODY packet, big ones are framed and
    # written in pieces; copies made here are freed at once, not left to the GC
    def queue_data(data)
      size = data.bytesize
      return if size.zero?

      copied = !(data.encoding == BINARY || data.ascii_only?)
      data = data.b if copied
      if @bodybuf.bytesize + size <= CHUNK
        @bodybuf << data
      else
        frame_body
        pos = 0
        while size - pos >= CHUNK
          piece = data.byteslice(pos, CHUNK)
          @out << FULL_BODY_HEADER << piece
          piece.clear
          pos += CHUNK
          write_out if @out.bytesize >= FLUSH_AT
        end
        @bodybuf << data.byteslice(pos, size - pos) if pos < size
      end
      data.clear if copied
    end

    def frame_body
      return if @bodybuf.empty?

      @out << [BODY, @bodybuf.bytesize, 0].pack("CvC") << @bodybuf
      @bodybuf.clear
    end

    # write everything queued, body included
    def flush
      frame_body
      write_out unless @out.empty?
    end

    # write the queued packets (the END of a response goes with them)
    def write_out
      write_all(@out)
      @out.clear
      @start_sent = true if @start_queued
    end

    def write_all(data)
      written = 0
      size = data.bytesize
      while written < size
        written += @io.syswrite(written.zero? ? data : data.byteslice(written, size - written))
      end
    rescue Errno::EPIPE, Errno::ECONNRESET
      exit!(0) # the worker is gone or gave up on this child
    end

    # a call into the worker (log, and the fabric: rpc, cache, signals, spooler)
    def call(op, *args)
      flush
      write_all(frame(CALL, pack_items([op, *args])))
      loop do
        mod1, payload, mod2 = read_message
        case mod1
        when RESULT
          items = unpack_items(payload)
          raise UWSGI::Error, items.first.to_s.dup.force_encoding(Encoding::UTF_8) if mod2 == 1

          return items
        when CALL
          serve_call(payload)
        else
          raise "polyhost bridge: unexpected packet type #{mod1} while waiting for the result of #{op}"
        end
      end
    end

    def serve_call(payload)
      op, *args = unpack_items(payload)
      handler = @incoming[op] or raise ArgumentError, "the Rack child has no operation '#{op}'"
      result = handler.call(*args)
      write_all(frame(RESULT, pack_items(Array(result))))
    rescue StandardError, ScriptError => e
      write_all(frame(RESULT, pack_items(["#{e.class}: #{e.message}"]), 1))
    end

    def log_line(text)
      write_all(frame(LOG, text.to_s))
    end
  end

  # rack.input for bodies pulled from the worker as the app reads: rewindable, spilled to a
  # temp file above 1 MiB so that large uploads are never held whole in memory.
  class PullInput
    SPILL_AT = 1024 * 1024
    PIECE = 65_536

    def initialize(bridge)
      @bridge = bridge
      @data = String.new(encoding: BINARY)
      @file = nil
      @size = 0
      @pos = 0
      @complete = false
    end

    def read(length = nil, buffer = nil)
      if length.nil?
        fill(Float::INFINITY)
        data = slice(@pos, @size - @pos)
      else
        raise ArgumentError, "negative length #{length} given" if length.negative?

        if length.zero?
          data = String.new(encoding: BINARY)
        else
          fill(length)
          available = @size - @pos
          if available.zero?
            buffer&.clear
            return nil
          end
          data = slice(@pos, length < available ? length : available, buffer)
        end
      end
      @pos += data.bytesize
      buffer && !data.equal?(buffer) ? buffer.replace(data) : data
    end

    def gets
      scanned = @pos
      loop do
        newline = find_newline(scanned)
        return take(newline + 1 - @pos) if newline

        scanned = @size
        if @complete
          return nil if @pos == @size

          return take(@size - @pos)
        end
        fill(@size - @pos + PIECE)
      end
    end

    def each
      while (line = gets)
        yield line
      end
      self
    end

    def rewind
      @pos = 0
    end

    private

    def take(length)
      data = slice(@pos, length)
      @pos += length
      data
    end

    def find_newline(from)
      return @data.index("\n", from) unless @file

      while from < @size
        piece = @file.pread([PIECE, @size - from].min, from)
        index = piece.index("\n")
        return from + index if index

        from += piece.bytesize
      end
      nil
    end

    # `length` bytes at `pos`, read into `buffer` when one is given
    def slice(pos, length, buffer = nil)
      return String.new(encoding: BINARY) if length <= 0
      return @data.byteslice(pos, length) unless @file

      buffer ? @file.pread(length, pos, buffer) : @file.pread(length, pos)
    end

    def fill(want)
      until @complete || @size - @pos >= want
        @bridge.flush
        @bridge.write_all([READ, 0, 0].pack("CvC"))
        mod1, piece, mod2 = @bridge.read_message
        while mod1 == CALL
          @bridge.serve_call(piece)
          mod1, piece, mod2 = @bridge.read_message
        end
        raise "polyhost bridge: unexpected packet type #{mod1} while reading the body" unless mod1 == BODY

        @complete = true if mod2.anybits?(1)
        append(piece)
        piece.clear # copied into the spool: free it now rather than at the next GC
      end
    end

    def append(piece)
      return if piece.empty?

      if !@file && @size + piece.bytesize > SPILL_AT
        require "tempfile"
        @file = Tempfile.create("polyhost-body", binmode: true)
        File.unlink(@file.path)
        @file.write(@data)
        @data = nil
      end
      @file ? @file.pwrite(piece, @size) : @data << piece
      @size += piece.bytesize
    end
  end

  # rack.errors: every write goes to the instance log right away. IO-like enough for Ruby's
  # Logger (write + close) and Rack::CommonLogger (write / <<): close is a no-op, it is in sync
  class Errors
    def initialize(bridge)
      @bridge = bridge
    end

    def <<(text)
      write(text)
      self
    end

    def close; end

    def sync
      true
    end

    def sync=(_value); end

    def closed?
      false
    end

    # any object, as its to_s (as Puma's and WEBrick's rack.errors do); nil writes nothing
    def write(text)
      text = text.to_s
      @bridge.log_line(text) unless text.empty?
      text.bytesize
    end

    def puts(*lines)
      return write("\n") if lines.empty?

      lines.flatten.each do |line|
        line = line.to_s
        write(line.end_with?("\n") ? line : "#{line}\n")
      end
      nil
    end

    def print(*parts)
      write(parts.join)
      nil
    end

    def flush
      self
    end
  end

  # the stream given to a Rack 3 body that responds to call
  class Stream
    def initialize(bridge)
      @bridge = bridge
      @closed = false
    end

    def write(data)
      raise IOError, "closed stream" if @closed

      @bridge.queue_data(data.to_s)
      @bridge.flush
      data.to_s.bytesize
    end

    def <<(data)
      write(data)
      self
    end

    def flush
      self
    end

    def read(*)
      nil
    end

    def close_read; end

    def close_write
      @closed = true
    end

    def close
      @closed = true
    end

    def closed?
      @closed
    end
  end

  # The child itself: load the app, then serve requests and calls until the worker goes away.
  class Child
    def initialize(bridge)
      @bridge = bridge
      @errors = Errors.new(bridge)
      @status_lines = Hash.new do |cache, code|
        reason = Rack::Utils::HTTP_STATUS_CODES[code] || "Unknown"
        cache[code] = "#{code} #{reason}".b.freeze
      end
      @config = {}
      @requests = 0
    end

    attr_reader :config

    def fail_load(text, mod2 = 0)
      @bridge.write_all(@bridge.frame(FAIL, text.to_s, mod2))
      exit!(1)
    end

    def read_config
      mod1, payload, = @bridge.read_message
      raise "polyhost bridge: expected CONFIG first, got packet type #{mod1}" unless mod1 == CONFIG

      @bridge.unpack_items(payload).each_slice(2) do |key, value|
        if %w[lib require].include?(key)
          (@config[key] ||= []) << value
        else
          @config[key] = value
        end
      end
    end

    def load
      read_config
      (@config["lib"] || []).reverse_each { |dir| $LOAD_PATH.unshift(dir) }
      $LOAD_PATH.push(__dir__) # uwsgidsl.rb, uWSGI's Ruby DSL
      app_file = @config["app"]
      setup_bundler(app_file)
      begin
        require "rack"
        require "rack/utils" # status reasons; it also loads URI, which Rack 2.2's Lint assumes
      rescue LoadError => e
        fail_load(e.message, FAIL_RUNTIME_MISSING)
      end
      @rack_version = Rack::VERSION if Rack::VERSION.is_a?(Array)
      begin
        # a file in the current directory is meant (`--rbrequire mytasks.rb`), as in Ruby 1.8
        # days when "." was on $LOAD_PATH; anything else is a library name
        (@config["require"] || []).each { |file| require(File.file?(file) ? File.expand_path(file) : file) }
        parsed = Rack::Builder.parse_file(app_file)
        @app = parsed.is_a?(Array) ? parsed.first : parsed # Rack 2 returns [app, options]
      rescue Exception => e # rubocop:disable Lint/RescueException -- a load error of any kind
        fail_load(e.full_message(highlight: false))
      end
      fail_load("#{app_file} did not produce a Rack app (an object responding to call)") unless @app.respond_to?(:call)
      @gc_freq = @config["gc_freq"].to_i
      UWSGI.register_defined_spooler
      $0 = "polyhost rack w#{@config['worker_id']} #{app_file}"
      @bridge.write_all(@bridge.frame(HELLO, @bridge.pack_items([
        "runtime", "rack", "version", "#{RUBY_VERSION} rack #{Rack.release}", "pid", Process.pid, "app", app_file
      ])))
    end

    # a Gemfile next to config.ru (or BUNDLE_GEMFILE) decides the gems, rack included
    def setup_bundler(app_file)
      gemfile = ENV["BUNDLE_GEMFILE"] || File.join(File.dirname(app_file), "Gemfile")
      return unless File.file?(gemfile)

      ENV["BUNDLE_GEMFILE"] = gemfile
      require "bundler/setup"
    rescue Exception => e # rubocop:disable Lint/RescueException -- Bundler reports with many kinds
      fail_load("#{gemfile}: #{e.full_message(highlight: false)}")
    end

    def serve_forever
      loop do
        mod1, payload, mod2 = @bridge.read_message
        case mod1
        when REQUEST
          handle_request(payload, mod2.anybits?(1))
          GC.start if @gc_freq.positive? && ((@requests += 1) % @gc_freq).zero?
        when CALL then @bridge.serve_call(payload)
        else raise "polyhost bridge: unexpected packet type #{mod1} between requests"
        end
      end
    end

    def build_env(vars, input)
      env = {}
      block = vars
      pos = 0
      size = block.bytesize
      while pos < size
        klen = block.unpack1("v", offset: pos)
        key = block.byteslice(pos + 2, klen)
        pos += 2 + klen
        vlen = block.unpack1("v", offset: pos)
        env[key] = block.byteslice(pos + 2, vlen)
        pos += 2 + vlen
      end
      env.delete("HTTP_CONTENT_LENGTH")
      env.delete("HTTP_CONTENT_TYPE")
      env.delete("CONTENT_LENGTH") if env["CONTENT_LENGTH"]&.empty?
      env.delete("CONTENT_TYPE") if env["CONTENT_TYPE"]&.empty?
      scheme = env["UWSGI_SCHEME"] || (/\A(?:on|1)\z/i.match?(env["HTTPS"].to_s) ? "https" : "http")
      script_name = env["SCRIPT_NAME"]
      env["SCRIPT_NAME"] = "" if script_name.nil? || script_name == "/"
      env["PATH_INFO"] ||= ""
      env["QUERY_STRING"] ||= ""
      server_name = env["SERVER_NAME"]
      if server_name.nil? || server_name.empty?
        host = env["HTTP_HOST"].to_s[/\A(\[[^\]]*\]|[^:]*)/]
        env["SERVER_NAME"] = host.nil? || host.empty? ? "localhost" : host
      end
      port = env["SERVER_PORT"]
      env["SERVER_PORT"] = scheme == "https" ? "443" : "80" if port.nil? || port.empty?
      env["SERVER_PROTOCOL"] ||= "HTTP/1.1"
      env["rack.version"] = @rack_version if @rack_version
      env["rack.url_scheme"] = scheme
      env["rack.input"] = input
      env["rack.errors"] = @errors
      env["rack.multithread"] = false
      env["rack.multiprocess"] = true
      env["rack.run_once"] = false
      env["rack.hijack?"] = false
      env
    end

    def read_inline_body
      body = String.new(encoding: BINARY)
      loop do
        mod1, piece, mod2 = @bridge.read_packet
        raise "polyhost bridge: expected the request body, got packet type #{mod1}" unless mod1 == BODY

        body << piece
        return body if mod2.anybits?(1)
      end
    end

    def handle_request(vars, inline)
      input = inline ? StringIO.new(read_inline_body) : PullInput.new(@bridge)
      env = build_env(vars, input)
      @bridge.begin_response
      body = nil
      error = nil
      begin
        status, headers, body = @app.call(env)
        parts = body.to_ary if body.respond_to?(:to_ary) && !body.respond_to?(:to_path)
        queue_start(status, headers, parts)
        parts ? parts.each { |part| @bridge.queue_data(part) } : send_body(body)
      rescue SystemExit, SignalException
        raise
      rescue Exception => e # rubocop:disable Lint/RescueException -- any app error is a 500
        error = e
      ensure
        error ||= close_body(body)
      end
      finish(error)
    end

    def close_body(body)
      body.close if body.respond_to?(:close)
      nil
    rescue StandardError => e
      e
    end

    def finish(error)
      if error
        cut = @bridge.start_sent # the app's own head went out: the worker cuts the response
        unless @bridge.start_sent
          @bridge.discard_response
          text = "Internal Server Error\n"
          queue_start(500, { "content-type" => "text/plain", "content-length" => text.bytesize.to_s })
          @bridge.queue_data(text)
        end
        end_vars = @bridge.pack_items(
          ["exception", "1", "error", error.full_message(highlight: false), *(cut ? ["cut", "1"] : [])]
        )
      end
      @bridge.frame_body
      @bridge.queue(END_RESPONSE, end_vars || "")
      @bridge.write_out
    end

    # `parts`: the body as an array, whose Content-Length is added (as Puma does) when the app
    # gave none, so that the response needs no chunked framing
    def queue_start(status, headers, parts = nil)
      code = Integer(status)
      raise ArgumentError, "invalid Rack status #{status.inspect}" unless code.between?(100, 999)

      items = ["STATUS", @status_lines[code]]
      length = parts && !NO_BODY_STATUS.include?(code) ? 0 : nil
      headers.each do |key, value|
        length = nil if length && FRAMING_HEADERS.include?(key.downcase)
        if value.is_a?(Array)
          value.each { |item| items << key << item }
        else
          value = value.to_s
          if value.include?("\n")
            value.split("\n").each { |item| items << key << item }
          else
            items << key << value
          end
        end
      end
      if length
        parts.each { |part| length += part.bytesize }
        items << "content-length" << length
      end
      @bridge.queue(START, @bridge.pack_items(items))
    end

    def send_body(body)
      if body.respond_to?(:to_path) && File.file?(path = body.to_path)
        path = File.expand_path(path)
        @bridge.queue(SENDFILE, @bridge.pack_items(["path", path, "offset", "0", "count", File.size(path)]))
      elsif body.respond_to?(:each)
        body.each do |part|
          @bridge.queue_data(part)
          @bridge.flush
        end
      elsif body.respond_to?(:call)
        @bridge.flush
        body.call(Stream.new(@bridge))
      else
        raise TypeError, "the Rack body (#{body.class}) responds to neither each nor call"
      end
    end
  end
end

# The UWSGI module of uWSGI's Rack plugin: local facts, and the fabric as CALLs to the worker.
module UWSGI
  class Error < StandardError; end

  SPOOL_OK = -2
  SPOOL_RETRY = -1
  SPOOL_IGNORE = 0
  SPOLL_IGNORE = 0 # uWSGI's own spelling, kept for apps that use it

  @rpc = {}
  @signals = {}

  class << self
    attr_accessor :bridge, :child

    def worker_id
      child.config["worker_id"].to_i
    end

    def masterpid
      child.config["masterpid"].to_i
    end

    def log(message)
      fabric("log", message)
      true
    end

    def rpc(node, name, *args)
      fabric("rpc", node, name, *args).first
    end

    def call(name, *args)
      fabric("call", name, *args).first
    end

    def signal(num)
      fabric("signal", num)
      true
    end

    def register_rpc(name, callable = nil, &block)
      function = callable || block or raise ArgumentError, "UWSGI.register_rpc needs a callable or a block"
      fabric("register_rpc", name)
      @rpc[name.to_s.b] = function
      true
    end

    def register_signal(num, target, callable = nil, &block)
      handler = callable || block or raise ArgumentError, "UWSGI.register_signal needs a callable or a block"
      fabric("register_signal", num, target)
      @signals[num.to_s.b] = handler
      true
    end

    def cache_get(key, cache = "")
      fabric("cache_get", key, cache).first
    end

    def cache_get!(key, cache = "")
      cache_get(key, cache) or raise Error, "key #{key} not found in the cache"
    end

    def cache_exists(key, cache = "")
      yes?(fabric("cache_exists", key, cache))
    end
    alias cache_exists? cache_exists

    def cache_del(key, cache = "")
      yes?(fabric("cache_del", key, cache))
    end

    def cache_set(key, value, expires = 0, cache = "")
      yes?(fabric("cache_set", key, value, expires, cache))
    end

    def cache_set!(key, value, expires = 0, cache = "")
      cache_set(key, value, expires, cache) or raise Error, "cannot set #{key} in the cache"
    end

    def cache_update(key, value, expires = 0, cache = "")
      yes?(fabric("cache_update", key, value, expires, cache))
    end

    def cache_update!(key, value, expires = 0, cache = "")
      cache_update(key, value, expires, cache) or raise Error, "cannot update #{key} in the cache"
    end

    def cache_clear(cache = "")
      fabric("cache_clear", cache)
      true
    end

    def spool(task)
      fabric("spool", *task.to_a.flatten.map(&:to_s)).first
    end
    alias send_to_spooler spool

    # `UWSGI.spooler = proc { |task| ... }`; a `def spooler(task)` in the module works too
    def spooler=(callable)
      @spooler = callable
      fabric("register_spooler")
    end

    def register_defined_spooler
      fabric("register_spooler") if @spooler.nil? && respond_to?(:spooler)
    end

    def cache_keys(cache = "")
      fabric("cache_keys", cache)
    end

    %w[inc dec mul div].each do |op|
      define_method("cache_#{op}") do |key, amount = "", expires = 0, cache = ""|
        fabric("cache_#{op}", key, amount, expires, cache).first.to_i
      end
    end

    def cache_num(key, cache = "")
      fabric("cache_num", key, cache).first.to_i
    end

    # uWSGI's metrics: true once a declared metric changed, nil for an unknown one
    def metric_get(name)
      fabric("metric_get", name).first.to_i
    end

    %w[set inc dec mul div].each do |op|
      define_method("metric_#{op}") do |name, value = ""|
        fabric("metric_#{op}", name, value).first == "1" ? true : nil
      end
    end

    def add_timer(num, seconds, iterations = 0)
      fabric("add_timer", num, seconds, iterations)
      true
    end

    def add_rb_timer(num, seconds, iterations = 0)
      fabric("add_rb_timer", num, seconds, iterations)
      true
    end

    def add_cron(num, minute, hour, day, month, weekday)
      fabric("add_cron", num, minute, hour, day, month, weekday)
      true
    end

    def add_file_monitor(num, path)
      fabric("add_file_monitor", num, path)
      true
    end

    def signal_wait(num = "")
      fabric("signal_wait", num).first.to_i
    end

    def signal_received
      fabric("signal_received").first.to_i
    end

    def signal_registered(num)
      yes?(fabric("signal_registered", num))
    end

    def mule_msg(message, mule = "")
      yes?(fabric("mule_msg", message, mule))
    end

    def mule_id
      fabric("process")[1].to_i
    end

    def rpc_list
      fabric("rpc_list")
    end

    # CALLs from the worker into this app
    def serve_rpc(name, *args)
      function = @rpc[name] or raise ArgumentError, "no RPC function '#{name}' registered in this Rack app"
      function.call(*args).to_s
    end

    def serve_signal(num)
      handler = @signals[num] or raise ArgumentError, "no handler for signal #{num} in this Rack app"
      handler.call(num.to_i)
      []
    end

    def serve_spooler(block)
      handler = @spooler || (respond_to?(:spooler) ? method(:spooler) : nil)
      raise ArgumentError, "no UWSGI.spooler defined in this Rack app" unless handler

      task = bridge.unpack_items(block).each_slice(2).to_h
      handler.call(task).to_s
    end

    private

    # boolean fabric answers are "1" or ""
    def yes?(result)
      result.first.to_s == "1"
    end

    def fabric(op, *args)
      bridge.call(op, *args)
    rescue Error => e
      raise Error, "UWSGI.#{op}: #{e.message}"
    end
  end
end

def polyhost_rack_main
  $stdout.sync = true
  $stderr.sync = true
  fd = ENV.delete("POLYHOST_BRIDGE_FD")
  abort "rack_child.rb is started by polyhost (POLYHOST_BRIDGE_FD is not set)" unless fd&.match?(/\A\d+\z/)

  io = IO.for_fd(Integer(fd), "r+b", autoclose: true)
  io.close_on_exec = true # programs the app runs must not hold the bridge open
  bridge = PolyhostRack::Bridge.new(io)
  child = PolyhostRack::Child.new(bridge)
  UWSGI.bridge = bridge
  UWSGI.child = child
  bridge.incoming["rpc"] = UWSGI.method(:serve_rpc)
  bridge.incoming["signal"] = UWSGI.method(:serve_signal)
  bridge.incoming["spooler"] = UWSGI.method(:serve_spooler)
  child.load
  child.serve_forever
rescue Interrupt # Ctrl-C reaches the whole process group: the worker is stopping us, quietly
  exit 0
end

polyhost_rack_main if $PROGRAM_NAME == __FILE__ # a harness that requires this file gets the classes
