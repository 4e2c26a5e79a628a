(ns uwsgi
  "polyhost's uWSGI API for Clojure: the static members of the Java class `uwsgi` under the
  same names, so code written for uWSGI's jvm plugin (`(uwsgi/worker_id)`,
  `(uwsgi/rpc (into-array [\"\" \"reverse\" arg]))`) reads the same whether or not this
  namespace is loaded. Strings go in (UTF-8; a cache value may also be a byte array); RPC
  replies and cache keys come out as strings, cache values as byte arrays (as in uWSGI).
  A failed operation throws uwsgi$FabricException with the reason.")

(import 'uwsgi 'uwsgi$RpcBytesFunction 'uwsgi$SignalHandler)

(defn worker_id
  "The id of the worker serving this request (1..N)."
  [] (. uwsgi worker_id))

(defn masterpid
  "The pid of the master process."
  [] (. uwsgi masterpid))

(defn numproc
  "How many workers the instance has."
  [] (. uwsgi numproc))

(defn request_id
  "The number of the current request in this worker."
  [] (. uwsgi request_id))

(defn log
  "Write to the instance log (the arguments joined as by `str`)."
  [& parts] (. uwsgi (log ^String (apply str parts))))

(def version
  "The uWSGI version polyhost follows."
  (. uwsgi version))

(def opt
  "The instance's options: a map of option name to a string, true, or a vector of them."
  (into {} (map (fn [[k v]] [k (if (instance? java.util.List v) (vec v) v)]))
        (. uwsgi opt)))

;; -- the fabric ------------------------------------------------------------------------------

(defn- utf8 ^bytes [value]
  (cond (bytes? value) value
        (nil? value) (byte-array 0)
        :else (.getBytes (str value) "UTF-8")))

(defn- text [^bytes data] (String. data "UTF-8"))

(defn- strings
  "Call arguments: given one by one, or as one array or sequence (uWSGI's `into-array` form)."
  [args]
  (let [[single] args]
    (map str (if (and (= 1 (count args))
                      (or (some-> single class .isArray) (sequential? single)))
               (seq single)
               args))))

(defn register_rpc
  "Serve the RPC function `name` with the Clojure fn `f`: it gets the arguments as strings and
  returns a string, a byte array, nil (an empty reply) or anything else (sent as by `str`)."
  [name f]
  (. uwsgi (register_rpc_bytes
            (str name)
            (reify uwsgi$RpcBytesFunction
              (function [_ args] (utf8 (apply f (map text args))))))))

(defn rpc
  "uWSGI's rpc: node (\"\" for this instance, or \"host:port\"), function name, arguments, one
  by one or as one array; the reply as a string."
  [& args]
  (. uwsgi (rpc ^"[Ljava.lang.String;" (into-array String (strings args)))))

(defn call
  "Call `name` (or `name@host:port`) with the arguments; the reply as a string."
  [name & args]
  (. uwsgi (call ^String (str name) ^"[Ljava.lang.String;" (into-array String (strings args)))))

(defn call_bytes
  "Call `name` (or `name@host:port`) with string or byte-array arguments; the reply bytes."
  [name & args]
  (. uwsgi (call_bytes ^String (str name)
                      ^"[[B" (into-array (Class/forName "[B") (map utf8 args)))))

(defn rpc_list
  "The names of the RPC functions registered in this instance."
  [] (vec (. uwsgi rpc_list)))

(defn cache_get
  "The value at `key` as a byte array, or nil when absent."
  ([key] (cache_get key nil))
  ([key cache] (. uwsgi (cache_get ^String (str key) ^String cache))))

(defn cache_set
  "Store `value` (a string or byte array) if `key` is absent; true when stored."
  ([key value] (cache_set key value 0 nil))
  ([key value expires] (cache_set key value expires nil))
  ([key value expires cache]
   (. uwsgi (cache_set ^String (str key) (utf8 value) (long expires) ^String cache))))

(defn cache_update
  "Store `value` (a string or byte array) at `key`, replacing any value; true when stored."
  ([key value] (cache_update key value 0 nil))
  ([key value expires] (cache_update key value expires nil))
  ([key value expires cache]
   (. uwsgi (cache_update ^String (str key) (utf8 value) (long expires) ^String cache))))

(defn cache_del
  "Remove `key`; true when it was there."
  ([key] (cache_del key nil))
  ([key cache] (. uwsgi (cache_del ^String (str key) ^String cache))))

(defn cache_exists
  "True when `key` holds a value."
  ([key] (cache_exists key nil))
  ([key cache] (. uwsgi (cache_exists ^String (str key) ^String cache))))

(defn cache_clear
  "Remove every key of the cache."
  ([] (cache_clear nil))
  ([cache] (. uwsgi (cache_clear ^String cache))))

(defn cache_keys
  "The keys of the cache, as strings."
  ([] (cache_keys nil))
  ([cache] (vec (. uwsgi (cache_keys ^String cache)))))

(defmacro ^:private cache-math [name method default doc]
  `(defn ~name ~doc
     ([key#] (~name key# ~default 0 nil))
     ([key# amount#] (~name key# amount# 0 nil))
     ([key# amount# expires#] (~name key# amount# expires# nil))
     ([key# amount# expires# cache#]
      (. uwsgi (~method ^String (str key#) (long amount#) (long expires#) ^String cache#)))))

(cache-math cache_inc cache_inc 1 "Add `amount` (1) to the number at `key`; the new value.")
(cache-math cache_dec cache_dec 1 "Subtract `amount` (1) from the number at `key`; the new value.")
(cache-math cache_mul cache_mul 2 "Multiply the number at `key` by `amount` (2); the new value.")
(cache-math cache_div cache_div 2 "Divide the number at `key` by `amount` (2); the new value.")

(defn register_signal
  "Run the fn `f` (given the signal number) when signal `num` reaches this process; `who` is
  uWSGI's target: \"worker\", \"workers\", \"workerN\", \"mule\", \"mules\", \"spooler\"..."
  [num who f]
  (. uwsgi (register_signal (int num) ^String (str who)
                            (reify uwsgi$SignalHandler (function [_ signum] (f signum))))))

(defn signal
  "Raise signal `num`."
  [num] (. uwsgi (signal (int num))))

(defn signal_registered
  "True when this process has a handler for signal `num`."
  [num] (. uwsgi (signal_registered (int num))))

(defn add_timer
  "Raise `num` every `seconds` (`iterations` times; 0 is forever)."
  ([num seconds] (add_timer num seconds 0))
  ([num seconds iterations] (. uwsgi (add_timer (int num) (int seconds) (int iterations)))))

(defn add_rb_timer
  "As add_timer, on uWSGI's red-black timer."
  ([num seconds] (add_rb_timer num seconds 0))
  ([num seconds iterations] (. uwsgi (add_rb_timer (int num) (int seconds) (int iterations)))))

(defn add_cron
  "Raise `num` when the time matches (-1 any, -N every N)."
  [num minute hour day month weekday]
  (. uwsgi (add_cron (int num) (int minute) (int hour) (int day) (int month) (int weekday))))

(defn add_file_monitor
  "Raise `num` when the file or directory at `path` changes."
  [num path] (. uwsgi (add_file_monitor (int num) ^String (str path))))

(defn mule_msg
  "Send `message` (a string or byte array) to a mule: any, number N, or the farm named."
  ([message] (mule_msg message ""))
  ([message target] (. uwsgi (mule_msg (utf8 message) ^String (str target)))))
