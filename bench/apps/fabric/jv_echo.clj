(ns polyhost.bench.jv-echo
  "Registers the RPC function jv_echo for bench/fabric_calls.py's Python->JVM loop."
  (:require [uwsgi]))

(uwsgi/register_rpc "jv_echo" (fn [arg] arg))

(defn handler [_] {:status 200 :headers {"Content-Type" "text/plain"} :body "jvm"})
