(ns polyhost.test.hello
  "Hello world Ring handler (the bench serves it too: the Content-Length lets uWSGI's
  --http11-socket keep connections alive).")

(defn handler [_]
  {:status 200 :headers {"Content-Type" "text/plain" "Content-Length" "11"} :body "Hello World"})
