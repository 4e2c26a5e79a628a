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
 * <p>The fabric (RPC, cache, signals, mule messages) goes through the worker's Host proxy to
 * polyhost's operation table (host/fabric/ops.py): the same calls every other language makes.
 * A failed operation throws {@link FabricException} with the reason.
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

        /** A fabric operation by name (host/fabric/ops.py): bytes in, bytes out. */
        byte[][] fabric(String op, byte[][] args);

        void registerRpc(String name, RpcBytesFunction function);

        void registerSignal(int num, String target, SignalHandler handler);
    }

    /** uWSGI's RPC function: strings in (UTF-8), a string out (null is an empty reply). */
    public interface RpcFunction {
        String function(String... args);
    }

    /** An RPC function on the raw bytes: the arguments as sent, the reply bytes (null: empty). */
    public interface RpcBytesFunction {
        byte[] function(byte[]... args);
    }

    /** uWSGI's signal handler: runs in this worker when the signal reaches it. */
    public interface SignalHandler {
        void function(int signum);
    }

    /** A fabric operation failed (no such RPC function, no cache, bad signal...): why. */
    public static class FabricException extends RuntimeException {
        public FabricException(String message) {
            super(message);
        }
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

    // -- the fabric -------------------------------------------------------------------------

    private static final byte[][] NO_BYTES = new byte[0][];

    static byte[] utf8(String text) {
        return text == null ? new byte[0] : text.getBytes(StandardCharsets.UTF_8);
    }

    static String text(byte[] data) {
        return new String(data, StandardCharsets.UTF_8);
    }

    /** Arguments of an operation: String as UTF-8, byte[] as is, numbers in decimal, null empty. */
    static byte[][] encode(Object... args) {
        byte[][] encoded = new byte[args.length][];
        for (int index = 0; index < args.length; index++) {
            Object arg = args[index];
            encoded[index] = arg instanceof byte[] ? (byte[]) arg
                    : arg == null ? new byte[0] : utf8(arg.toString());
        }
        return encoded;
    }

    static String[] texts(byte[][] data) {
        String[] strings = new String[data.length];
        for (int index = 0; index < data.length; index++) {
            strings[index] = text(data[index]);
        }
        return strings;
    }

    private static byte[][] op(String name, Object... args) {
        byte[][] result = host.fabric(name, encode(args));
        return result == null ? NO_BYTES : result;
    }

    private static boolean yes(String name, Object... args) {
        byte[][] result = op(name, args);
        return result.length > 0 && result[0].length > 0;
    }

    private static long number(String name, Object... args) {
        return Long.parseLong(text(op(name, args)[0]));
    }

    /** `name` is served by `function` (uWSGI's form: strings in, a string out). */
    public static boolean register_rpc(String name, RpcFunction function) {
        Objects.requireNonNull(function, "register_rpc needs a function");
        host.registerRpc(name, args -> utf8(function.function(texts(args))));
        return true;
    }

    /** `name` is served by `function`, which gets and gives bytes unchanged. */
    public static boolean register_rpc_bytes(String name, RpcBytesFunction function) {
        Objects.requireNonNull(function, "register_rpc_bytes needs a function");
        host.registerRpc(name, function);
        return true;
    }

    /** uWSGI's rpc: node ("" for this instance, or "host:port"), function name, arguments. */
    public static String rpc(String... args) {
        if (args.length < 2) {
            throw new IllegalArgumentException(
                    "uwsgi.rpc needs a node (\"\" for local), a function name and its arguments");
        }
        return text(op("rpc", (Object[]) args)[0]);
    }

    /** A call of `name` (or `name@host:port`) with string arguments; the reply as a string. */
    public static String call(String name, String... args) {
        Object[] all = new Object[args.length + 1];
        all[0] = name;
        System.arraycopy(args, 0, all, 1, args.length);
        return text(op("call", all)[0]);
    }

    /** A call with byte arguments; the reply bytes unchanged. */
    public static byte[] call_bytes(String name, byte[]... args) {
        Object[] all = new Object[args.length + 1];
        all[0] = name;
        System.arraycopy(args, 0, all, 1, args.length);
        return op("call", all)[0];
    }

    /** The RPC functions registered in this instance. */
    public static String[] rpc_list() {
        return texts(op("rpc_list"));
    }

    public static byte[] cache_get(String key) {
        return cache_get(key, null);
    }

    /** The value, or null when the key is absent (or expired). */
    public static byte[] cache_get(String key, String cache) {
        byte[][] found = op("cache_get", key, cache);
        return found.length == 0 ? null : found[0];
    }

    public static boolean cache_set(String key, byte[] value) {
        return cache_set(key, value, 0, null);
    }

    public static boolean cache_set(String key, byte[] value, long expires) {
        return cache_set(key, value, expires, null);
    }

    /** Store only if absent (uWSGI's set); false when the key exists or the cache is full. */
    public static boolean cache_set(String key, byte[] value, long expires, String cache) {
        return yes("cache_set", key, value, expires, cache);
    }

    public static boolean cache_update(String key, byte[] value) {
        return cache_update(key, value, 0, null);
    }

    public static boolean cache_update(String key, byte[] value, long expires) {
        return cache_update(key, value, expires, null);
    }

    /** Store, replacing any value; `expires` in seconds (0: never). */
    public static boolean cache_update(String key, byte[] value, long expires, String cache) {
        return yes("cache_update", key, value, expires, cache);
    }

    public static boolean cache_del(String key) {
        return cache_del(key, null);
    }

    public static boolean cache_del(String key, String cache) {
        return yes("cache_del", key, cache);
    }

    public static boolean cache_exists(String key) {
        return cache_exists(key, null);
    }

    public static boolean cache_exists(String key, String cache) {
        return yes("cache_exists", key, cache);
    }

    public static boolean cache_clear() {
        return cache_clear(null);
    }

    public static boolean cache_clear(String cache) {
        return yes("cache_clear", cache);
    }

    public static String[] cache_keys() {
        return cache_keys(null);
    }

    public static String[] cache_keys(String cache) {
        return texts(op("cache_keys", cache));
    }

    public static long cache_inc(String key) {
        return cache_inc(key, 1, 0, null);
    }

    public static long cache_inc(String key, long amount) {
        return cache_inc(key, amount, 0, null);
    }

    /** Add `amount` to the 64-bit number stored at `key` (absent: 0); the new value. */
    public static long cache_inc(String key, long amount, long expires, String cache) {
        return number("cache_inc", key, amount, expires, cache);
    }

    public static long cache_dec(String key) {
        return cache_dec(key, 1, 0, null);
    }

    public static long cache_dec(String key, long amount) {
        return cache_dec(key, amount, 0, null);
    }

    public static long cache_dec(String key, long amount, long expires, String cache) {
        return number("cache_dec", key, amount, expires, cache);
    }

    public static long cache_mul(String key, long amount) {
        return cache_mul(key, amount, 0, null);
    }

    public static long cache_mul(String key, long amount, long expires, String cache) {
        return number("cache_mul", key, amount, expires, cache);
    }

    public static long cache_div(String key, long amount) {
        return cache_div(key, amount, 0, null);
    }

    public static long cache_div(String key, long amount, long expires, String cache) {
        return number("cache_div", key, amount, expires, cache);
    }

    /** `handler` runs when signal `num` (0..255) reaches this process; `who` is its target. */
    public static boolean register_signal(int num, String who, SignalHandler handler) {
        Objects.requireNonNull(handler, "register_signal needs a handler");
        host.registerSignal(num, who == null ? "" : who, handler);
        return true;
    }

    /** Raise signal `num`: the master sends it to the target its handler registered. */
    public static void signal(int num) {
        op("signal", num);
    }

    public static boolean signal_registered(int num) {
        return yes("signal_registered", num);
    }

    public static boolean add_timer(int num, int seconds) {
        return add_timer(num, seconds, 0);
    }

    /** Raise `num` every `seconds`, `iterations` times (0: forever). */
    public static boolean add_timer(int num, int seconds, int iterations) {
        return yes("add_timer", num, seconds, iterations);
    }

    public static boolean add_rb_timer(int num, int seconds) {
        return add_rb_timer(num, seconds, 0);
    }

    public static boolean add_rb_timer(int num, int seconds, int iterations) {
        return yes("add_rb_timer", num, seconds, iterations);
    }

    /** Raise `num` when the time matches (-1: any; -N: every N), as uWSGI's add_cron. */
    public static boolean add_cron(int num, int minute, int hour, int day, int month, int weekday) {
        return yes("add_cron", num, minute, hour, day, month, weekday);
    }

    /** Raise `num` when the file or directory at `path` changes. */
    public static boolean add_file_monitor(int num, String path) {
        return yes("add_file_monitor", num, path);
    }

    public static boolean mule_msg(String message) {
        return yes("mule_msg", message, null);
    }

    public static boolean mule_msg(String message, int mule) {
        return yes("mule_msg", message, mule);
    }

    /** A message to a mule: `target` "" (any), a mule number, or a farm name. */
    public static boolean mule_msg(byte[] message, String target) {
        return yes("mule_msg", message, target);
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
