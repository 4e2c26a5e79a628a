(ns demo.hello
  "The demo's Clojure Ring app: the shared visit counter, and Django's `shout` over RPC."
  (:require [uwsgi]))

(defn handler [_]
  (let [visits (uwsgi/cache_inc "visits" 1 0 "demo")
        shout (uwsgi/call "shout" "clojure calls django")]
    {:status 200
     :headers {"Content-Type" "text/plain"}
     :body (str "Hello from Clojure, worker " (uwsgi/worker_id) ": visit " visits ", " shout "\n")}))
