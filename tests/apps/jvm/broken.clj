(ns polyhost.test.broken)

(defn handler [request]
  (undefined-function request))
