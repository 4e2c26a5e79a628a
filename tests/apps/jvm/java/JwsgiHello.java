import java.util.HashMap;

/**
 * Hello world JWSGI app (the bench serves it too: the Content-Length lets uWSGI's
 * --http11-socket keep connections alive).
 */
public class JwsgiHello {
    public static Object[] application(HashMap env) {
        HashMap<String, Object> headers = new HashMap<>();
        headers.put("Content-Type", "text/plain");
        headers.put("Content-Length", "11");
        return new Object[] {200, headers, "Hello World"};
    }
}
