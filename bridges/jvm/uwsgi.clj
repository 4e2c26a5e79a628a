(ns uwsgi
  "polyhost's uWSGI API for Clojure: the static members of the Java class `uwsgi` under the
  same names, so code written for uWSGI's jvm plugin (`(uwsgi/worker_id)`) reads the same
  whether or not this namespace is loaded. The fabric (rpc, cache, signals) joins later.")

(import 'uwsgi)

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
