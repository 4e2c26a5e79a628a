import java.io.ByteArrayInputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** JWSGI conformance app for tests/test_jvm.py: one route per behaviour under test. */
public class JwsgiConformance {
    /** Set by JwsgiMain.main() when --jvm-main-class runs it. */
    public static volatile String mainRan = "no";

    static HashMap<String, Object> headers(Object... pairs) {
        HashMap<String, Object> map = new HashMap<>();
        for (int i = 0; i < pairs.length; i += 2) {
            map.put((String) pairs[i], pairs[i + 1]);
        }
        return map;
    }

    static Object[] text(int status, String body) {
        return new Object[] {status, headers("Content-Type", "text/plain; charset=utf-8"), body};
    }

    public static Object[] application(HashMap env) throws Exception {
        String path = (String) env.get("PATH_INFO");
        InputStream input = (InputStream) env.get("jwsgi.input");
        switch (path) {
            case "/env": {
                StringBuilder out = new StringBuilder();
                for (Object entry : new TreeMap<Object, Object>(env).entrySet()) {
                    Map.Entry<?, ?> item = (Map.Entry<?, ?>) entry;
                    Object value = item.getValue();
                    out.append(item.getKey()).append('=')
                        .append(value instanceof String ? value : value.getClass().getName()).append('\n');
                }
                return text(200, out.toString());
            }
            case "/string":
                return text(200, "h\u00e9llo from JWSGI");
            case "/bytes":
                byte[] all = new byte[256];
                for (int i = 0; i < 256; i++) all[i] = (byte) i;
                return new Object[] {200, headers("Content-Type", "application/octet-stream"), all};
            case "/string-array":
                return new Object[] {200, headers("Content-Type", "text/plain"), new String[] {"one ", "two ", "three"}};
            case "/iterable": {
                List<Object> chunks = new ArrayList<>();
                chunks.add("text ");
                chunks.add("bytes ".getBytes(StandardCharsets.UTF_8));
                chunks.add(42);
                return new Object[] {200, headers("Content-Type", "text/plain"), chunks};
            }
            case "/headers":
                return new Object[] {201, headers(
                    "Content-Type", "text/plain",
                    "X-Array", new String[] {"a", "b"},
                    "X-List", Arrays.asList("c", "d")), "made"};
            case "/file":
                return new Object[] {200, headers("Content-Type", "text/plain"), new File((String) env.get("QUERY_STRING"))};
            case "/stream":
                return new Object[] {200, headers("Content-Type", "text/plain"),
                    new CountingStream("streamed body".getBytes(StandardCharsets.UTF_8))};
            case "/stream-closed":
                return text(200, "closed=" + CountingStream.closed);
            case "/md5": {
                MessageDigest md5 = MessageDigest.getInstance("MD5");
                byte[] buffer = new byte[65536];
                long total = 0;
                int count;
                while ((count = input.read(buffer)) > 0) {
                    md5.update(buffer, 0, count);
                    total += count;
                }
                StringBuilder hex = new StringBuilder();
                for (byte b : md5.digest()) hex.append(String.format("%02x", b));
                return text(200, total + " " + hex);
            }
            case "/echo":
                return new Object[] {200, headers("Content-Type", "application/octet-stream"), input};
            case "/read-line": {
                uwsgi.RequestBody body = (uwsgi.RequestBody) input;
                byte[] line = new byte[100];
                int first = body.readLine(line);
                String one = new String(line, 0, first, StandardCharsets.UTF_8);
                int single = body.read();
                int second = body.readLine(line);
                String two = second < 0 ? "" : new String(line, 0, second, StandardCharsets.UTF_8);
                return text(200, "[" + one + "][" + (char) single + "][" + two + "][" + body.readLine(line) + "]");
            }
            case "/download": {
                long size = Long.parseLong((String) env.get("QUERY_STRING"));
                return new Object[] {200, headers("Content-Type", "application/octet-stream",
                    "Content-Length", Long.toString(size)), new PatternStream(size)};
            }
            case "/big-string":
                return text(200, "x".repeat(3 * 1024 * 1024));
            case "/throw":
                try {
                    Integer.parseInt("not a number");
                } catch (NumberFormatException cause) {
                    throw new IllegalStateException("boom in the JWSGI app", cause);
                }
                return null;
            case "/bad-return":
                return new Object[] {"200", null};
            case "/sleep":
                Thread.sleep(Long.parseLong((String) env.get("QUERY_STRING")));
                return text(200, "slept");
            case "/uwsgi":
                uwsgi.log("uwsgi.log from the JWSGI app");
                return text(200, "worker=" + uwsgi.worker_id() + " numproc=" + uwsgi.numproc()
                    + " version=" + uwsgi.version + " request=" + uwsgi.request_id()
                    + " masterpid=" + uwsgi.masterpid() + " main=" + mainRan
                    + " prop=" + System.getProperty("polyhost.test.prop")
                    + " opt=" + uwsgi.opt.get("jwsgi"));
            case "/thread":
                return text(200, Thread.currentThread().getName());
            default:
                return text(404, "no route " + path);
        }
    }

    /** An InputStream that records whether the server closed it. */
    static final class CountingStream extends ByteArrayInputStream {
        static volatile boolean closed;

        CountingStream(byte[] data) {
            super(data);
            closed = false;
        }

        @Override
        public void close() throws IOException {
            closed = true;
            super.close();
        }
    }

    /** `size` bytes of a repeating pattern, made as they are read. */
    static final class PatternStream extends InputStream {
        private long left;

        PatternStream(long size) {
            left = size;
        }

        @Override
        public int read() {
            return left-- > 0 ? (int) (left & 0x7f) : -1;
        }

        @Override
        public int read(byte[] into, int offset, int length) {
            if (left <= 0) return -1;
            int count = (int) Math.min(length, left);
            Arrays.fill(into, offset, offset + count, (byte) 'p');
            left -= count;
            return count;
        }
    }
}
