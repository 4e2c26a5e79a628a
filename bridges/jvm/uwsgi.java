import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.Objects;

/**
 * polyhost's uWSGI API for JVM apps, named `uwsgi` in the default package as in uWSGI's jvm
 * plugin, and the glue polyhost's Python worker calls through JPype: JWSGI apps, request bodies
 * that read through the worker, and responses encoded for the worker in one byte array.
 *
 * <p>The fabric (rpc, cache, signals) is added to this class when polyhost builds it; until then
 * those methods are absent rather than silent no-ops.
 */
public class uwsgi {

    /** The instance's options, as uWSGI's jvm plugin fills it: String, Boolean or a List of them. */
    public static HashMap<String, Object> opt = new HashMap<>();

    /** The uWSGI version polyhost follows. */
    public static String version = "";

    private static int workerId;
    private static int masterPid;
    private static int processes;
    private static Host host;

    /** What the Python worker gives the JVM (a JPype proxy). */
    public interface Host {
        void log(String line);

        long requestId();
    }

    /** The rest of a request body, read through the Python worker. */
    public interface BodySource {
        /** Up to `size` bytes; null or an empty array at the end of the body. */
        byte[] read(int size);
    }

    /** Called once by the worker right after it starts the JVM. */
    public static void setup(Host worker, int id, int master, int numproc, String uwsgiVersion,
            HashMap<String, Object> options) {
        host = worker;
        workerId = id;
        masterPid = master;
        processes = numproc;
        version = uwsgiVersion;
        opt = options;
    }

    public static int worker_id() {
        return workerId;
    }

    public static int masterpid() {
        return masterPid;
    }

    public static int numproc() {
        return processes;
    }

    public static long request_id() {
        return host.requestId();
    }

    /** One line (or several) to the instance log. */
    public static void log(String message) {
        host.log(message);
    }

    /** The stack trace as Throwable.printStackTrace prints it, for the instance log. */
    public static String stackTrace(Throwable error) {
        StringWriter text = new StringWriter();
        error.printStackTrace(new PrintWriter(text));
        return text.toString();
    }

    /** `jwsgi.input` and Ring's `:body`: the request body, read lazily through the worker. */
    public static class RequestBody extends InputStream {
        private static final int CHUNK = 65536;
        private byte[] buffer;
        private int position;
        private int limit;
        private BodySource source;

        RequestBody(byte[] buffer, int offset, int length, BodySource source) {
            this.buffer = buffer;
            this.position = offset;
            this.limit = offset + length;
            this.source = source;
        }

        private boolean fill() {
            if (source == null) {
                return false;
            }
            byte[] chunk = source.read(CHUNK);
            if (chunk == null || chunk.length == 0) {
                source = null;
                return false;
            }
            buffer = chunk;
            position = 0;
            limit = chunk.length;
            return true;
        }

        @Override
        public int read() {
            if (position >= limit && !fill()) {
                return -1;
            }
            return buffer[position++] & 0xff;
        }

        @Override
        public int read(byte[] into, int offset, int length) {
            Objects.checkFromIndexSize(offset, length, into.length);
            if (length == 0) {
                return 0;
            }
            if (position >= limit && !fill()) {
                return -1;
            }
            int count = Math.min(length, limit - position);
            System.arraycopy(buffer, position, into, offset, count);
            position += count;
            return count;
        }

        /** uWSGI's readLine: up to into.length bytes, through the next newline; -1 at the end. */
        public int readLine(byte[] into) {
            int count = 0;
            while (count < into.length && (position < limit || fill())) {
                byte value = buffer[position++];
                into[count++] = value;
                if (value == '\n') {
                    break;
                }
            }
            return count == 0 && into.length > 0 ? -1 : count;
        }

        @Override
        public int available() {
            return limit - position;
        }
    }

    /**
     * The request as the worker sends it: the vars "KEY\0VALUE\0..." (UTF-8) in the first
     * `varsLength` bytes, then the body, whole or its first part (the rest comes from `source`).
     */
    static String[] parseVars(byte[] request, int varsLength) {
        String[] vars = new String[32];
        int count = 0;
        int start = 0;
        for (int index = 0; index <= varsLength; index++) {
            if (index == varsLength || request[index] == 0) {
                if (count == vars.length) {
                    vars = Arrays.copyOf(vars, count * 2);
                }
                vars[count++] = new String(request, start, index - start, StandardCharsets.UTF_8);
                start = index + 1;
            }
        }
        if (varsLength == 0 || count % 2 != 0) {
            throw new IllegalArgumentException("malformed request vars from the worker");
        }
        return count == vars.length ? vars : Arrays.copyOf(vars, count);
    }

    static RequestBody body(byte[] request, int varsLength, BodySource source) {
        return new RequestBody(request, varsLength, request.length - varsLength, source);
    }

    // -- responses --------------------------------------------------------------------------

    /** Response kinds in the first byte of a head: body inline, body in chunks, body is a file. */
    static final byte INLINE = 0;
    static final byte CHUNKS = 1;
    static final byte FILE = 2;
    /** Bodies up to this size travel with the head in one array; bigger ones in chunks. */
    static final int INLINE_MAX = 1 << 20;
    static final int CHUNK_SIZE = 65536;

    /** A byte array under construction: [kind][u32 head length]["status\0name\0value..."]. */
    static final class Blob {
        byte[] data = new byte[512];
        int size = 5;
        boolean first = true;

        void ensure(int more) {
            if (size + more > data.length) {
                data = Arrays.copyOf(data, Math.max(data.length * 2, size + more));
            }
        }

        void field(String text) {
            if (text.indexOf('\0') >= 0) {
                throw new IllegalArgumentException("response header text contains a NUL: " + text);
            }
            int length = text.length();
            ensure(length + 1);
            if (!first) {
                data[size++] = 0;
            }
            first = false;
            for (int index = 0; index < length; index++) {
                char c = text.charAt(index);
                if (c >= 0x80) {
                    byte[] utf8 = text.substring(index).getBytes(StandardCharsets.UTF_8);
                    ensure(utf8.length);
                    System.arraycopy(utf8, 0, data, size, utf8.length);
                    size += utf8.length;
                    return;
                }
                data[size++] = (byte) c;
            }
        }

        byte[] finish(byte kind, byte[] payload, int payloadLength) {
            int headLength = size - 5;
            data[0] = kind;
            data[1] = (byte) (headLength >>> 24);
            data[2] = (byte) (headLength >>> 16);
            data[3] = (byte) (headLength >>> 8);
            data[4] = (byte) headLength;
            byte[] result = Arrays.copyOf(data, size + payloadLength);
            if (payloadLength > 0) {
                System.arraycopy(payload, 0, result, size, payloadLength);
            }
            return result;
        }
    }

    /** A response whose body comes in chunks (next() until null) or from a file. */
    public static final class ResponseStream {
        /** [kind][u32 head length][head][file path for FILE] */
        public final byte[] head;
        private final Iterator<?> chunks;
        private final InputStream input;
        private final byte[] whole;
        private int offset;

        ResponseStream(byte[] head, Iterator<?> chunks, InputStream input, byte[] whole) {
            this.head = head;
            this.chunks = chunks;
            this.input = input;
            this.whole = whole;
        }

        /** The next piece of the body, or null at its end. */
        public byte[] next() throws IOException {
            if (whole != null) {
                if (offset >= whole.length) {
                    return null;
                }
                int end = Math.min(whole.length, offset + CHUNK_SIZE);
                byte[] piece = Arrays.copyOfRange(whole, offset, end);
                offset = end;
                return piece;
            }
            if (input != null) {
                byte[] piece = new byte[CHUNK_SIZE];
                int count = input.readNBytes(piece, 0, CHUNK_SIZE);
                if (count <= 0) {
                    return null;
                }
                return count == CHUNK_SIZE ? piece : Arrays.copyOf(piece, count);
            }
            while (chunks != null && chunks.hasNext()) {
                Object item = chunks.next();
                if (item == null) {
                    continue;
                }
                byte[] piece = item instanceof byte[] ? (byte[]) item
                        : item.toString().getBytes(StandardCharsets.UTF_8);
                if (piece.length > 0) {
                    return piece;
                }
            }
            return null;
        }

        /** Close the body (an InputStream body is closed as Ring and JWSGI servers do). */
        public void close() throws IOException {
            if (input != null) {
                input.close();
            }
            if (chunks instanceof AutoCloseable) {
                try {
                    ((AutoCloseable) chunks).close();
                } catch (IOException | RuntimeException error) {
                    throw error;
                } catch (Exception error) {
                    throw new IOException(error);
                }
            }
        }
    }

    private static boolean noBody(int status) {
        return status < 200 || status == 204 || status == 304;
    }

    /**
     * Encode a response for the worker: a byte[] when the body fits inline, else a
     * ResponseStream. Header values may be a String, a String[] or any Iterable (one header line
     * each); the body a String, byte[], String[], File, InputStream, Iterable or null.
     */
    public static Object respond(int status, Map<?, ?> headers, Object body) {
        if (status < 100 || status > 999) {
            throw new IllegalArgumentException("invalid response status " + status);
        }
        Blob blob = new Blob();
        blob.field(Integer.toString(status));
        boolean hasLength = false;
        if (headers != null) {
            for (Map.Entry<?, ?> header : headers.entrySet()) {
                String name = String.valueOf(header.getKey());
                hasLength |= name.equalsIgnoreCase("content-length");
                Object value = header.getValue();
                if (value instanceof String) {
                    blob.field(name);
                    blob.field((String) value);
                } else if (value instanceof Object[]) {
                    for (Object item : (Object[]) value) {
                        blob.field(name);
                        blob.field(String.valueOf(item));
                    }
                } else if (value instanceof Iterable) {
                    for (Object item : (Iterable<?>) value) {
                        blob.field(name);
                        blob.field(String.valueOf(item));
                    }
                } else if (value != null) {
                    blob.field(name);
                    blob.field(value.toString());
                }
            }
        }
        byte[] bytes = null;
        if (body instanceof String) {
            bytes = ((String) body).getBytes(StandardCharsets.UTF_8);
        } else if (body instanceof byte[]) {
            bytes = (byte[]) body;
        } else if (body instanceof String[]) {
            bytes = String.join("", (String[]) body).getBytes(StandardCharsets.UTF_8);
        } else if (body == null) {
            bytes = new byte[0];
        }
        if (bytes != null) {
            if (!hasLength && !noBody(status)) {
                blob.field("Content-Length");
                blob.field(Integer.toString(bytes.length));
            }
            if (bytes.length <= INLINE_MAX) {
                return blob.finish(INLINE, bytes, bytes.length);
            }
            return new ResponseStream(blob.finish(CHUNKS, null, 0), null, null, bytes);
        }
        if (body instanceof File) {
            byte[] path = ((File) body).getAbsolutePath().getBytes(StandardCharsets.UTF_8);
            return new ResponseStream(blob.finish(FILE, path, path.length), null, null, null);
        }
        if (body instanceof InputStream) {
            return new ResponseStream(blob.finish(CHUNKS, null, 0), null, (InputStream) body, null);
        }
        if (body instanceof Iterable) {
            Iterator<?> chunks = ((Iterable<?>) body).iterator();
            return new ResponseStream(blob.finish(CHUNKS, null, 0), chunks, null, null);
        }
        throw new IllegalArgumentException("unsupported response body type " + body.getClass().getName()
                + " (use a String, byte[], String[], File, InputStream or an Iterable of them)");
    }

    static String describe(Object value) {
        return value == null ? "null" : "a " + value.getClass().getName();
    }

    /** A JWSGI app: `Class:method` (method `application` by default), as uWSGI's jwsgi plugin. */
    public static final class Jwsgi {
        private final Method method;
        private final Object instance;
        private final String name;

        public Jwsgi(String spec) throws ReflectiveOperationException {
            int colon = spec.lastIndexOf(':');
            String className = (colon < 0 ? spec : spec.substring(0, colon)).replace('/', '.');
            String methodName = colon < 0 ? "application" : spec.substring(colon + 1);
            Class<?> appClass = Class.forName(className);
            try {
                method = appClass.getMethod(methodName, HashMap.class);
            } catch (NoSuchMethodException error) {
                throw new NoSuchMethodException("JWSGI class " + className + " has no public method "
                        + methodName + "(java.util.HashMap) returning Object[]");
            }
            if (!Object[].class.equals(method.getReturnType())) {
                throw new NoSuchMethodException("JWSGI method " + className + "." + methodName
                        + " returns " + method.getReturnType().getName() + ", not Object[]");
            }
            instance = Modifier.isStatic(method.getModifiers()) ? null
                    : appClass.getDeclaredConstructor().newInstance();
            name = className + ":" + methodName;
        }

        /** Serve one request (see parseVars for its layout). */
        public Object call(byte[] request, int varsLength, BodySource source) throws Throwable {
            String[] vars = parseVars(request, varsLength);
            HashMap<String, Object> env = new HashMap<>(vars.length);
            for (int index = 0; index < vars.length; index += 2) {
                env.put(vars[index], vars[index + 1]);
            }
            env.put("jwsgi.input", body(request, varsLength, source));
            Object result;
            try {
                result = method.invoke(instance, env);
            } catch (InvocationTargetException error) {
                throw error.getCause();
            }
            if (!(result instanceof Object[]) || ((Object[]) result).length != 3) {
                String got = result instanceof Object[]
                        ? "an Object[] of " + ((Object[]) result).length + " items" : describe(result);
                throw new IllegalStateException("JWSGI app " + name + " returned " + got
                        + ", not Object[]{status, headers, body}");
            }
            Object[] response = (Object[]) result;
            if (!(response[0] instanceof Number)) {
                throw new IllegalStateException("JWSGI app " + name + " returned the status as "
                        + describe(response[0]) + ", not a number");
            }
            if (response[1] != null && !(response[1] instanceof Map)) {
                throw new IllegalStateException("JWSGI app " + name + " returned the headers as "
                        + describe(response[1]) + ", not a HashMap");
            }
            return respond(((Number) response[0]).intValue(), (Map<?, ?>) response[1], response[2]);
        }
    }
}
