# frozen_string_literal: true

# uWSGI's Ruby DSL (`require 'uwsgidsl'` in config.ru or with rb-require): blocks for RPC
# functions, signal handlers, timers, file monitors and crons, on top of the UWSGI module.

def uwsgi_free_signal
  (0..255).find { |num| !UWSGI.signal_registered(num) } or
    raise UWSGI::Error, "all 256 uWSGI signals are registered"
end

def rpc(name, &block)
  UWSGI.register_rpc(name, block)
end

def signal(num, target = "", &block)
  UWSGI.register_signal(num, target, block)
end

def timer(seconds, target = "", &block)
  num = uwsgi_free_signal
  UWSGI.register_signal(num, target, block)
  UWSGI.add_timer(num, seconds)
end

def rbtimer(seconds, target = "", &block)
  num = uwsgi_free_signal
  UWSGI.register_signal(num, target, block)
  UWSGI.add_rb_timer(num, seconds)
end

def filemon(path, target = "", &block)
  num = uwsgi_free_signal
  UWSGI.register_signal(num, target, block)
  UWSGI.add_file_monitor(num, path)
end

# minute first, as uWSGI's add_cron and Python's @cron (-1 = every, -N = every N)
def cron(minute, hour, day, month, weekday, target = "", &block)
  num = uwsgi_free_signal
  UWSGI.register_signal(num, target, block)
  UWSGI.add_cron(num, minute, hour, day, month, weekday)
end
