"""The JVM: JWSGI and Clojure/Ring apps in each worker's JVM through JPype, and the Java glue."""
