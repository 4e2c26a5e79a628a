(ns polyhost.test.fabric-matrix
  "The Clojure corner of the cross-language fabric tests (mounted at /clj)."
  (:require [clojure.string :as string]
            [uwsgi])
  (:import (java.net URLDecoder)))

(def markers (System/getenv "MARKER_DIR"))

(defn mark [name]
  (spit (str markers "/" name) (str (uwsgi/worker_id))))

(uwsgi/register_rpc "clj_echo" (fn [arg] (str "clj:" arg)))
(uwsgi/register_rpc "clj_relay"
                    (fn [next-name & rest] (str "clj>" (apply uwsgi/call next-name rest))))
(uwsgi/register_rpc "clj_bytes" (fn [& _] (byte-array [(byte 0) (byte -1) (byte 65)])))
(uwsgi/register_rpc "clj_fail" (fn [& _] (throw (IllegalStateException. "clj_fail always fails"))))
(uwsgi/register_signal 44 "workers" (fn [num] (mark (str "clj-sig" num "-w" (uwsgi/worker_id)))))
(uwsgi/register_signal 46 "workers"
                       (fn [num]
                         (throw (ex-info (str "the clj handler of signal " num " fails") {}))))

(defn query [request]
  (into {} (for [pair (string/split (or (:query-string request) "") #"&")
                 :let [[k v] (string/split pair #"=" 2)]
                 :when (seq k)]
             [k (URLDecoder/decode (or v "") "UTF-8")])))

(defn args [q]
  (if (string/blank? (q "args")) [] (string/split (q "args") #",")))

(defn api
  "The rest of the API in one go: every answer joined with spaces."
  []
  (string/join " " [(uwsgi/cache_set "clj-api" "v1" 0 "shared")
                    (uwsgi/cache_set "clj-api" "v2" 0 "shared")
                    (String. ^bytes (uwsgi/cache_get "clj-api" "shared") "UTF-8")
                    (uwsgi/cache_exists "clj-api" "shared")
                    (uwsgi/cache_dec "clj-n" 5 0 "shared")
                    (uwsgi/cache_del "clj-api" "shared")
                    (pr-str (uwsgi/cache_get "clj-api" "shared"))
                    (vector? (uwsgi/cache_keys "shared"))
                    (uwsgi/rpc (into-array ["" "clj_echo" "arr"]))
                    (uwsgi/rpc "" "clj_echo" 42)
                    (uwsgi/signal_registered 44)
                    (uwsgi/signal_registered 99)
                    (try (uwsgi/call "nope") (catch uwsgi$FabricException e (.getMessage e)))]))

(defn handler [request]
  (let [q (query request)
        body (case (or (:path-info request) (:uri request))
               "/call" (apply uwsgi/call (q "fn") (args q))
               "/call_bytes" (apply uwsgi/call_bytes (q "fn") (args q))
               "/cache_set" (str (uwsgi/cache_update (q "k") (q "v") 0 "shared"))
               "/cache_get" (or (uwsgi/cache_get (q "k") "shared") "MISS")
               "/cache_inc" (str (uwsgi/cache_inc (q "k") 1 0 "shared"))
               "/signal" (do (uwsgi/signal (Integer/parseInt (q "num"))) "raised")
               "/api" (api)
               "clojure")]
    {:status 200 :headers {"Content-Type" "text/plain"} :body body}))
