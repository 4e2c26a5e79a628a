(ns polyhost.test.ring-conformance
  "Ring conformance app for tests/test_jvm.py: one route per behaviour under test."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [uwsgi]))

(defn- describe [value]
  (cond (nil? value) "nil"
        (keyword? value) (str value)
        (string? value) (pr-str value)
        :else (str (.getName (class value)) " " (pr-str value))))

(defn- request-dump [request]
  (str/join "\n"
            (for [k [:server-port :server-name :remote-addr :uri :query-string :scheme
                     :request-method :protocol :content-type :content-length
                     :character-encoding :ssl-client-cert :context :path-info]]
              (str k "=" (describe (get request k ::absent))))))

(defn handler [request]
  (case (:uri request)
    "/request" {:status 200 :headers {"Content-Type" "text/plain"}
                :body (str (request-dump request) "\n:headers=" (pr-str (into (sorted-map) (:headers request)))
                           "\n:body=" (.getName (class (:body request))))}
    "/mounted/request" {:status 200 :body (request-dump request)}
    "/string" {:status 200 :headers {"Content-Type" "text/plain; charset=utf-8"} :body "h\u00e9llo from Ring"}
    "/seq" {:status 200 :headers {"Content-Type" "text/plain"} :body (map str ["one " "two " "three"])}
    "/file" {:status 200 :headers {"Content-Type" "text/plain"} :body (io/file (:query-string request))}
    "/input-stream" {:status 200 :headers {"Content-Type" "text/plain"}
                     :body (java.io.ByteArrayInputStream. (.getBytes "from an input stream"))}
    "/nil" {:status 204 :headers {} :body nil}
    "/bytes" {:status 200 :headers {"Content-Type" "application/octet-stream"} :body (byte-array (range 10))}
    "/headers" {:status 202 :headers {"X-Many" ["a" "b"] "Content-Type" "text/plain"} :body "many"}
    "/no-status" {:headers {"Content-Type" "text/plain"} :body "status defaults to 200"}
    "/echo" {:status 200 :headers {"Content-Type" "application/octet-stream"} :body (:body request)}
    "/slurp" {:status 200 :headers {"Content-Type" "text/plain"} :body (str "got " (slurp (:body request)))}
    "/throw" (throw (ex-info "boom in the Ring handler" {:uri (:uri request)}))
    "/not-a-map" "just a string"
    "/uwsgi" (do (uwsgi/log "uwsgi/log from the Ring app")
                 {:status 200
                  :body (str "worker=" (uwsgi/worker_id) " version=" uwsgi/version
                             " numproc=" (uwsgi/numproc) " request=" (uwsgi/request_id))})
    {:status 404 :headers {"Content-Type" "text/plain"} :body (str "no route " (:uri request))}))
