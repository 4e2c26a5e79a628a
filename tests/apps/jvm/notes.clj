(ns polyhost.test.notes
  "A small real Ring app on Debian's clojure jar: a notes list with a hand-written router,
  form-encoded POST bodies, redirects and 404s; no libraries beyond clojure itself."
  (:require [clojure.string :as str]
            [uwsgi])
  (:import (java.net URLDecoder)))

(defonce notes (atom []))

(defn- form-params [body]
  (into {}
        (for [pair (str/split (slurp body :encoding "UTF-8") #"&")
              :when (seq pair)
              :let [[k v] (str/split pair #"=" 2)]]
          [(URLDecoder/decode k "UTF-8") (URLDecoder/decode (or v "") "UTF-8")])))

(defn- html [status & body]
  {:status status
   :headers {"Content-Type" "text/html; charset=utf-8"}
   :body (apply str body)})

(defn- escape [text]
  (str/escape (str text) {\< "&lt;" \> "&gt;" \& "&amp;" \" "&quot;"}))

(defn- list-notes [_]
  (html 200 "<ul>"
        (apply str (for [[index note] (map-indexed vector @notes)]
                     (str "<li><a href=\"notes/" index "\">" (escape note) "</a></li>")))
        "</ul>"))

(defn- add-note [request]
  (let [text (get (form-params (:body request)) "text")]
    (if (str/blank? text)
      (html 400 "a note needs text")
      (let [index (dec (count (swap! notes conj text)))]
        {:status 303 :headers {"Location" (str (:context request "") "/notes/" index)} :body ""}))))

(defn- show-note [index]
  (if-let [note (get @notes index)]
    (html 200 "<p>" (escape note) "</p>")
    (html 404 "no note " index)))

(defn- route [request]
  (let [path (or (:path-info request) (:uri request))
        method (:request-method request)]
    (cond
      (and (= path "/notes") (= method :get)) (list-notes request)
      (and (= path "/notes") (= method :post)) (add-note request)
      (and (= method :get) (re-matches #"/notes/(\d+)" path))
      (show-note (Long/parseLong (second (re-matches #"/notes/(\d+)" path))))
      (= path "/whoami") (html 200 "worker " (uwsgi/worker_id))
      :else (html 404 "not found: " (escape path)))))

(defn handler [request]
  (route request))
