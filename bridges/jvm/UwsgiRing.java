import clojure.lang.ITransientMap;
import clojure.lang.Keyword;
import clojure.lang.Namespace;
import clojure.lang.PersistentHashMap;
import clojure.lang.RT;
import clojure.lang.Symbol;
import clojure.lang.Var;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The Ring side of polyhost's JVM runtime: builds the Ring request map from the worker's vars
 * (keywords interned once), calls the handler var and encodes its response map for the worker.
 * Compiled against Debian's clojure jar only when a Ring app is configured.
 */
public final class UwsgiRing {
    private static final Keyword SERVER_PORT = Keyword.intern("server-port");
    private static final Keyword SERVER_NAME = Keyword.intern("server-name");
    private static final Keyword REMOTE_ADDR = Keyword.intern("remote-addr");
    private static final Keyword URI = Keyword.intern("uri");
    private static final Keyword QUERY_STRING = Keyword.intern("query-string");
    private static final Keyword SCHEME = Keyword.intern("scheme");
    private static final Keyword REQUEST_METHOD = Keyword.intern("request-method");
    private static final Keyword PROTOCOL = Keyword.intern("protocol");
    private static final Keyword HEADERS = Keyword.intern("headers");
    private static final Keyword CONTENT_TYPE = Keyword.intern("content-type");
    private static final Keyword CONTENT_LENGTH = Keyword.intern("content-length");
    private static final Keyword CHARACTER_ENCODING = Keyword.intern("character-encoding");
    private static final Keyword SSL_CLIENT_CERT = Keyword.intern("ssl-client-cert");
    private static final Keyword BODY = Keyword.intern("body");
    private static final Keyword CONTEXT = Keyword.intern("context");
    private static final Keyword PATH_INFO = Keyword.intern("path-info");
    private static final Keyword STATUS = Keyword.intern("status");
    private static final Keyword HTTP = Keyword.intern("http");
    private static final Keyword HTTPS = Keyword.intern("https");
    private static final Var REQUIRE = RT.var("clojure.core", "require");
    /** Keywords of request methods and Ring names of request headers, made once each. */
    private static final Map<String, Object> NAMES = new ConcurrentHashMap<>();
    private static final int NAMES_MAX = 2048;

    private final Var handler;
    private final String name;

    private UwsgiRing(Var handler, String name) {
        this.handler = handler;
        this.name = name;
    }

    /** The Ring app `namespace:function` (or `namespace/function`), requiring the namespace. */
    public static UwsgiRing forVar(String spec) {
        int split = spec.indexOf('/');
        if (split < 0) {
            split = spec.lastIndexOf(':');
        }
        if (split <= 0 || split == spec.length() - 1) {
            throw new IllegalArgumentException(
                    "a Ring app is namespace:function (or namespace/function), got " + spec);
        }
        Symbol namespace = Symbol.intern(spec.substring(0, split));
        Symbol function = Symbol.intern(spec.substring(split + 1));
        if (Namespace.find(namespace) == null) {
            REQUIRE.invoke(namespace);
        }
        Var var = Namespace.find(namespace).findInternedVar(function);
        if (var == null) {
            throw new IllegalArgumentException("namespace " + namespace + " has no var " + function);
        }
        return new UwsgiRing(var, namespace + "/" + function);
    }

    private static Object cached(String key, java.util.function.Function<String, Object> make) {
        Object value = NAMES.get(key);
        if (value == null) {
            value = make.apply(key);
            if (NAMES.size() < NAMES_MAX) {
                NAMES.put(key, value);
            }
        }
        return value;
    }

    private static String headerName(String var) {
        return (String) cached(var, key -> key.substring(5).toLowerCase(Locale.ROOT).replace('_', '-'));
    }

    private static Keyword method(String method) {
        return (Keyword) cached(method, key -> Keyword.intern(key.toLowerCase(Locale.ROOT)));
    }

    private static String charset(String contentType) {
        int at = contentType.toLowerCase(Locale.ROOT).indexOf("charset=");
        if (at < 0) {
            return null;
        }
        String value = contentType.substring(at + 8);
        int end = value.indexOf(';');
        return (end < 0 ? value : value.substring(0, end)).trim().replace("\"", "");
    }

    private static Long number(String value) {
        try {
            return Long.valueOf(value.trim());
        } catch (NumberFormatException error) {
            return null;
        }
    }

    /** Serve one request (laid out as uwsgi.parseVars describes). */
    public Object call(byte[] request, int varsLength, uwsgi.BodySource source) {
        String[] vars = uwsgi.parseVars(request, varsLength);
        ITransientMap headers = PersistentHashMap.EMPTY.asTransient();
        String requestMethod = "GET";
        String requestUri = null;
        String scriptName = "";
        String pathInfo = "";
        String query = null;
        String serverName = null;
        String serverPort = null;
        String remoteAddr = null;
        String protocol = "HTTP/1.1";
        String contentType = null;
        String contentLength = null;
        String scheme = null;
        boolean httpsOn = false;
        for (int index = 0; index < vars.length; index += 2) {
            String key = vars[index];
            String value = vars[index + 1];
            if (key.startsWith("HTTP_")) {
                headers = headers.assoc(headerName(key), value);
                continue;
            }
            switch (key) {
                case "REQUEST_METHOD": requestMethod = value; break;
                case "REQUEST_URI": requestUri = value; break;
                case "SCRIPT_NAME": scriptName = value; break;
                case "PATH_INFO": pathInfo = value; break;
                case "QUERY_STRING": query = value; break;
                case "SERVER_NAME": serverName = value; break;
                case "SERVER_PORT": serverPort = value; break;
                case "REMOTE_ADDR": remoteAddr = value; break;
                case "SERVER_PROTOCOL": protocol = value; break;
                case "UWSGI_SCHEME": scheme = value.toLowerCase(Locale.ROOT); break;
                case "HTTPS": httpsOn = value.equalsIgnoreCase("on") || value.equals("1"); break;
                case "CONTENT_TYPE":
                    contentType = value;
                    headers = headers.assoc("content-type", value);
                    break;
                case "CONTENT_LENGTH":
                    contentLength = value;
                    headers = headers.assoc("content-length", value);
                    break;
                default: break;
            }
        }
        boolean https = scheme != null ? scheme.equals("https") : httpsOn;
        String uri = scriptName + pathInfo;
        if (requestUri != null && requestUri.startsWith("/")) {
            int mark = requestUri.indexOf('?');
            uri = mark < 0 ? requestUri : requestUri.substring(0, mark);
        }
        Long port = serverPort == null ? null : number(serverPort);
        ITransientMap map = PersistentHashMap.EMPTY.asTransient();
        map = map.assoc(SERVER_PORT, port == null ? Integer.valueOf(https ? 443 : 80)
                        : Integer.valueOf(port.intValue()))
                .assoc(SERVER_NAME, serverName)
                .assoc(REMOTE_ADDR, remoteAddr)
                .assoc(URI, uri)
                .assoc(QUERY_STRING, query == null || query.isEmpty() ? null : query)
                .assoc(SCHEME, https ? HTTPS : HTTP)
                .assoc(REQUEST_METHOD, method(requestMethod))
                .assoc(PROTOCOL, protocol)
                .assoc(HEADERS, headers.persistent())
                .assoc(CONTENT_TYPE, contentType)
                .assoc(CONTENT_LENGTH, contentLength == null ? null : number(contentLength))
                .assoc(CHARACTER_ENCODING, contentType == null ? null : charset(contentType))
                .assoc(SSL_CLIENT_CERT, null)
                .assoc(BODY, uwsgi.body(request, varsLength, source));
        if (!scriptName.isEmpty()) {
            map = map.assoc(CONTEXT, scriptName)
                    .assoc(PATH_INFO, uri.startsWith(scriptName) ? uri.substring(scriptName.length())
                            : pathInfo);
        }
        Object response = handler.invoke(map.persistent());
        if (!(response instanceof Map)) {
            throw new IllegalStateException("Ring handler " + name + " returned "
                    + uwsgi.describe(response) + ", not a response map");
        }
        Object status = RT.get(response, STATUS);
        if (status != null && !(status instanceof Number)) {
            throw new IllegalStateException("Ring handler " + name + " returned :status as "
                    + uwsgi.describe(status) + ", not a number");
        }
        Object responseHeaders = RT.get(response, HEADERS);
        if (responseHeaders != null && !(responseHeaders instanceof Map)) {
            throw new IllegalStateException("Ring handler " + name + " returned :headers as "
                    + uwsgi.describe(responseHeaders) + ", not a map");
        }
        return uwsgi.respond(status == null ? 200 : ((Number) status).intValue(),
                (Map<?, ?>) responseHeaders, RT.get(response, BODY));
    }
}
