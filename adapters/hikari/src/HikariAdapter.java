import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.io.BufferedReader;
import java.io.File;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.StringReader;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.jar.Attributes;
import java.util.jar.JarFile;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

/**
 * repro adapter: HikariCP over MariaDB Connector/J, speaking the JSON-lines protocol of
 * docs/adapters.md on stdin/stdout. Every request runs on its own thread (arm on the reading one, see
 * main); stdout lines are written
 * whole under a lock. HikariCP and Connector/J log through slf4j → slf4j-jdk14 → java.util.logging,
 * where a handler turns records at or above app.eventLevel into {"event":"pool-log",...} lines.
 * JSON is Gson's (Debian's gson.jar): requests are read into JsonObjects, answers and events are built as
 * maps of String, Boolean, Integer/Long, Double, List, Map and null and written by GSON.
 */
public final class HikariAdapter {
    private static final OutputStream OUT = new FileOutputStream(FileDescriptor.out);
    /** Writes every key, null ones too ("code":null); no HTML escaping ("(conn=5)", not "(conn\u003d5)"). */
    private static final Gson GSON = new GsonBuilder().serializeNulls().disableHtmlEscaping().create();
    private static final String MARIADB_OPTIONS = "org.mariadb.jdbc.util.DefaultOptions";
    private static final String MARIADB_HAMODE = "org.mariadb.jdbc.internal.util.constant.HaMode";

    /**
     * HikariCP options this adapter accepts (if the loaded HikariCP has the setter): key, type, description.
     * A "%d" in a description is replaced by the loaded HikariCP's default (the getter on a new HikariConfig).
     */
    private static final String[][] HIKARI_OPTIONS = {
        {"maxLifetime", "long", "maximum life of a pooled connection in ms, 0 = infinite; HikariCP resets values below 30000 to the default with a warning (default: %d)"},
        {"idleTimeout", "long", "ms a connection may sit idle before it is retired, only when minimumIdle < maximumPoolSize; 0 = never; values below 10000 are reset to the default (default: %d)"},
        {"connectionTimeout", "long", "ms getConnection() waits for a connection, 0 = infinite, minimum 250 (default: %d)"},
        {"validationTimeout", "long", "ms allowed for the aliveness check done before handing out a connection idle > 500 ms, minimum 250 (default: %d)"},
        {"keepaliveTime", "long", "ms between keepalive checks (isValid() or connectionTestQuery) of idle connections, 0 = off; HikariCP disables values below 30000 or >= maxLifetime with a warning (default: %d)"},
        {"minimumIdle", "int", "minimum idle connections HikariCP keeps open (default: maximumPoolSize, i.e. poolSize)"},
        {"connectionTestQuery", "string", "aliveness check query instead of JDBC4 Connection.isValid() (default: none, isValid())"},
        {"leakDetectionThreshold", "long", "ms a connection may be out of the pool before a leak warning, 0 = off; below 2000 or above maxLifetime disables it (default: %d)"},
    };
    /**
     * Connector/J 3.x reads these undocumented properties from the properties its Configuration does not map (they
     * are in no option list it exposes), each in some 3.x releases (found in the 3.2.0 to 3.5.9 sources): accepted
     * as dataSource.* names and passed on unchecked.
     */
    private static final String[] MARIADB3_UNMAPPED = {
        "canUseServerTimeout", "deniedListTimeout", "deprecateEof", "disableSessionTracking", "disableSslContextCache",
        "enableBulkUnitResult", "enableSkipMeta", "extendedTypeInfo", "forceTransactionEnd", "getExportedKeysUsingIs",
        "getImportedKeysUsingIs", "importedKeysWithConstraintNames", "interactiveClient", "permitNoResults", "pwdKey",
        "resultSetMetaDataUnsignedCompatibility", "testMinRemovalDelay", "userKey", "waitReconnectTimeout",
    };
    private static final String MARIADB3_CONFIGURATION = "org.mariadb.jdbc.Configuration";
    private static final String MARIADB3_ALIASES = "org.mariadb.jdbc.util.options.OptionAliases";
    /** REPRO_LIBRARY_PATH: the user's jars run (alone) instead of Debian's; null when unset or empty. */
    private static final String LIBRARY_PATH = emptyToNull(System.getenv("REPRO_LIBRARY_PATH"));
    private static final String EVENT_LEVEL = "app.eventLevel";
    private static final String FOLLOW_UP = "app.followUp";
    private static final long CLOSE_WAIT_MS = 5000;

    private static final List<Thread> requests = new java.util.concurrent.CopyOnWriteArrayList<>();
    private static volatile HikariDataSource ds;
    private static volatile Connection held;
    private static volatile String followUp; // app.followUp, null when not set
    private static final Object ARM_LOCK = new Object();
    private static Batch armed; // guarded by ARM_LOCK
    /** The application's timer for arm: one daemon thread, started by the first schedule. */
    private static final ScheduledExecutorService TIMER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "arm-timer");
        t.setDaemon(true);
        return t;
    });
    private static volatile Level eventLevel = Level.WARNING;
    // Strong references: java.util.logging forgets the level of a logger nobody references.
    private static final Logger HIKARI_LOG = Logger.getLogger("com.zaxxer.hikari");
    private static final Logger MARIADB_LOG = Logger.getLogger("org.mariadb.jdbc");

    /** A request the adapter rejects before touching the pool: answered as {"usage":true,...}. */
    private static final class Usage extends Exception {
        Usage(String message) {
            super(message);
        }
    }

    /** A driver/pool error together with the phase it happened in. */
    private static final class Failure extends Exception {
        final Throwable error;
        final String phase;

        Failure(Throwable error, String phase) {
            this.error = error;
            this.phase = phase;
        }
    }

    /** The operations of one arm: one result per operation, complete when done reaches zero. */
    private static final class Batch {
        final Object[] results;
        final CountDownLatch done = new CountDownLatch(1);

        Batch(int count) {
            results = new Object[count];
        }
    }

    public static void main(String[] args) throws Exception {
        System.setOut(System.err); // nothing but protocol lines may reach the real stdout
        // HikariLauncher.main has checked that the libraries are there (this class cannot even be loaded without them).
        setUpLogging();
        checkLogBinding();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) continue;
            JsonElement parsed;
            try {
                parsed = parse(line);
            } catch (IOException | RuntimeException e) {
                System.err.println("hikari adapter: ignoring request line: invalid JSON: " + e.getMessage());
                continue;
            }
            if (!parsed.isJsonObject()) {
                System.err.println("hikari adapter: ignoring request line that is not an object");
                continue;
            }
            JsonObject req = parsed.getAsJsonObject();
            if ("arm".equals(stringOrNull(req.get("op")))) {
                // Answered here, before the next line is read: it only registers the batch and starts its
                // timer (or its first operation), and a collect right behind it must find it.
                handle(req);
                continue;
            }
            Thread t = new Thread(() -> handle(req), "request-" + text(req.get("id")));
            t.setDaemon(true);
            requests.add(t);
            t.start();
        }
        // stdin EOF: let requests still running answer for up to 0.5 s (a line piped in just before EOF
        // gets its answer), close the pool if it closes within 0.5 s, exit 0 regardless.
        long deadline = System.nanoTime() + 500_000_000L;
        for (Thread t : requests) {
            long left = (deadline - System.nanoTime()) / 1_000_000L;
            if (left <= 0) break;
            t.join(left);
        }
        Thread closer = new Thread(() -> {
            HikariDataSource d = ds;
            if (d != null) d.close();
        }, "close-on-eof");
        closer.setDaemon(true);
        closer.start();
        closer.join(500);
        System.exit(0);
    }

    /**
     * With REPRO_LIBRARY_PATH, slf4j comes from there or Debian: pool-log events need it to log into
     * java.util.logging (slf4j-jdk14 of the same slf4j line). Says so on stderr otherwise; the adapter still runs.
     */
    private static void checkLogBinding() {
        if (LIBRARY_PATH == null) return;
        try {
            String factory = org.slf4j.LoggerFactory.getILoggerFactory().getClass().getName();
            if (!factory.contains("JDK14")) {
                System.err.println("hikari adapter: slf4j logs through " + factory + ", not java.util.logging, so HikariCP's and"
                    + " Connector/J's log gives no pool-log events: put the slf4j-jdk14 jar matching REPRO_LIBRARY_PATH's slf4j-api beside it");
            }
        } catch (Throwable t) {
            System.err.println("hikari adapter: cannot initialise slf4j: " + t);
        }
    }

    private static String emptyToNull(String s) {
        return s == null || s.isEmpty() ? null : s;
    }

    // ---- protocol plumbing -------------------------------------------------------------------

    /**
     * One request line as strict JSON (RFC 8259): JsonParser.parseString would read it leniently (unquoted
     * names and strings, comments, NaN), and such a line is not a request.
     */
    private static JsonElement parse(String line) throws IOException {
        JsonReader reader = new JsonReader(new StringReader(line)); // strict: not setLenient(true)
        JsonElement value = GSON.getAdapter(JsonElement.class).read(reader);
        if (reader.peek() != JsonToken.END_DOCUMENT) throw new IOException("trailing characters");
        return value;
    }

    static void emit(Map<String, Object> message) {
        byte[] bytes = (GSON.toJson(message) + "\n").getBytes(StandardCharsets.UTF_8);
        synchronized (OUT) {
            try {
                OUT.write(bytes);
                OUT.flush();
            } catch (Exception e) {
                System.err.println("hikari adapter: cannot write stdout: " + e);
            }
        }
    }

    private static Map<String, Object> answer(Object id, boolean ok) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", id);
        m.put("ok", ok);
        return m;
    }

    private static void handle(JsonObject req) {
        JsonElement id = req.get("id"); // echoed as written (null when absent)
        Map<String, Object> resp = answer(id, true);
        try {
            String op = text(req.get("op"));
            switch (op) {
                case "hello": hello(resp); break;
                case "open": open(req, resp); break;
                case "warm": resp.put("threadIds", warm(intField(req, "count"))); break;
                case "run": resp.putAll(runOnce(stringField(req, "sql"), isTrue(req.get("held")))); break;
                case "hold": resp.put("threadId", hold()); break;
                case "busy": resp.put("results", busy(intField(req, "count"), stringField(req, "sql"))); break;
                case "arm": arm(req); break;
                case "collect": resp.put("results", collect()); break;
                case "close": close(); break;
                default: throw new Usage("unknown op '" + op + "': known ops are hello, open, warm, run, hold, busy, arm, collect, close");
            }
        } catch (Usage u) {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("usage", true);
            e.put("message", u.getMessage());
            resp = answer(id, false);
            resp.put("error", e);
        } catch (Failure f) {
            resp = answer(id, false);
            resp.put("error", errorObject(f.error, f.phase));
        } catch (Throwable t) { // a bug or an unexpected runtime error: still one answer
            resp = answer(id, false);
            resp.put("error", errorObject(t, null));
        }
        emit(resp);
        requests.remove(Thread.currentThread());
    }

    /** The error as the caller saw it, verbatim (docs/adapters.md "run"). */
    private static Map<String, Object> errorObject(Throwable t, String phase) {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("class", t.getClass().getName());
        e.put("code", null);
        e.put("errno", t instanceof SQLException ? (Object) ((SQLException) t).getErrorCode() : null);
        e.put("sqlState", t instanceof SQLException ? ((SQLException) t).getSQLState() : null);
        e.put("message", t.getMessage());
        e.put("fatal", null);
        e.put("phase", phase);
        Throwable cause = t.getCause();
        if (cause != null) e.put("cause", cause.getMessage() != null ? cause.getMessage() : cause.getClass().getName());
        return e;
    }

    private static int intField(JsonObject req, String key) throws Usage {
        Long v = integer(req.get(key));
        if (v == null) throw new Usage("'" + key + "' must be an integer");
        return (int) (long) v;
    }

    private static String stringField(JsonObject req, String key) throws Usage {
        String v = stringOrNull(req.get(key));
        if (v == null) throw new Usage("'" + key + "' must be a string");
        return v;
    }

    /** A JSON integer (no fraction, no exponent) that fits a long; null for anything else or absent. */
    private static Long integer(JsonElement e) {
        if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) return null;
        String t = e.getAsString(); // the number as the request wrote it
        if (t.indexOf('.') >= 0 || t.indexOf('e') >= 0 || t.indexOf('E') >= 0) return null;
        try {
            return Long.parseLong(t);
        } catch (NumberFormatException tooBig) {
            return null;
        }
    }

    /** A JSON string's value; null for anything else or absent. */
    private static String stringOrNull(JsonElement e) {
        return e != null && e.isJsonPrimitive() && e.getAsJsonPrimitive().isString() ? e.getAsString() : null;
    }

    private static boolean isTrue(JsonElement e) {
        return e != null && e.isJsonPrimitive() && e.getAsJsonPrimitive().isBoolean() && e.getAsBoolean();
    }

    /**
     * A value as text, where any JSON value is taken (option values, initSql entries): a string as is, null or
     * absent as "null", an integer as a long, another number as a double, true/false, an object or array as JSON.
     */
    private static String text(JsonElement e) {
        if (e == null || e.isJsonNull()) return "null";
        if (!e.isJsonPrimitive()) return e.toString();
        JsonPrimitive p = e.getAsJsonPrimitive();
        if (!p.isNumber()) return p.getAsString();
        Long l = integer(p);
        return l != null ? l.toString() : String.valueOf(p.getAsDouble());
    }

    private static HikariDataSource pool() throws Usage {
        HikariDataSource d = ds;
        if (d == null) throw new Usage("no pool: send open first");
        return d;
    }

    // ---- operations --------------------------------------------------------------------------

    private static void hello(Map<String, Object> resp) {
        resp.put("protocol", 1);
        resp.put("driver", "MariaDB Connector/J");
        resp.put("driverVersion", jarVersion(org.mariadb.jdbc.Driver.class));
        resp.put("pool", "HikariCP");
        resp.put("poolVersion", jarVersion(HikariDataSource.class));
        resp.put("runtime", "java");
        resp.put("runtimeVersion", System.getProperty("java.version"));
        Map<String, Object> options = new LinkedHashMap<>();
        for (String[] o : HIKARI_OPTIONS) if (setter(o) != null) options.put(o[0], description(o));
        options.put(EVENT_LEVEL, "lowest HikariCP/Connector/J log level sent as pool-log events (ERROR, WARN, INFO, DEBUG, TRACE); lower records go to stderr (default: WARN)");
        options.put(FOLLOW_UP, "SQL executed on the same Connection right after a failed query, before close() gives it back, e.g. ROLLBACK (default: none)");
        Map<String, String> driverOptions = driverOptions();
        if (driverOptions == null) {
            options.put("dataSource.<name>", "a Connector/J property passed to the driver (default: the driver's)");
        } else {
            for (Map.Entry<String, String> e : driverOptions.entrySet()) options.put("dataSource." + e.getKey(), e.getValue());
        }
        resp.put("options", options);
    }

    private static void open(JsonObject req, Map<String, Object> resp) throws Usage {
        if (ds != null) throw new Usage("a pool is already open: send close first");
        String host = stringField(req, "host");
        int port = intField(req, "port");
        String database = stringOrNull(req.get("database"));
        HikariDataSource d = new HikariDataSource(); // no-arg: the pool starts on the first getConnection()
        d.setJdbcUrl("jdbc:mariadb://" + host + ":" + port + "/" + (database != null ? database : ""));
        d.setUsername(stringField(req, "user"));
        JsonElement password = req.get("password");
        if (password != null && !password.isJsonNull()) d.setPassword(text(password));

        Map<String, String> opts = new TreeMap<>();
        if (req.get("options") != null && req.get("options").isJsonObject()) {
            for (Map.Entry<String, JsonElement> e : req.getAsJsonObject("options").entrySet()) opts.put(e.getKey(), text(e.getValue()));
        }
        Properties driverProps = new Properties();
        Level level = Level.WARNING;
        String follow = null;
        try {
            d.setMaximumPoolSize(intField(req, "poolSize"));
            for (Map.Entry<String, String> e : opts.entrySet()) {
                String key = e.getKey();
                String value = e.getValue();
                String[] hikari = null;
                for (String[] o : HIKARI_OPTIONS) if (o[0].equals(key) && setter(o) != null) hikari = o;
                if (hikari != null) {
                    setOption(d, hikari, value);
                } else if (key.equals(EVENT_LEVEL)) {
                    level = parseLevel(value);
                } else if (key.equals(FOLLOW_UP)) {
                    follow = value.isEmpty() ? null : value;
                } else if (key.startsWith("dataSource.")) {
                    driverProps.setProperty(key.substring("dataSource.".length()), value);
                } else {
                    throw new Usage("unknown option '" + key + "': known options are " + knownKeys());
                }
            }
            checkDriverProperties(driverProps);
            for (String name : driverProps.stringPropertyNames()) d.addDataSourceProperty(name, driverProps.getProperty(name));

            List<String> initSql = new ArrayList<>();
            if (req.get("initSql") != null && req.get("initSql").isJsonArray()) for (JsonElement s : req.getAsJsonArray("initSql")) initSql.add(text(s));
            if (initSql.size() == 1) {
                d.setConnectionInitSql(initSql.get(0));
            } else if (initSql.size() > 1) {
                // HikariCP's connectionInitSql is one statement; several need the driver's multi-query mode.
                if (!"true".equalsIgnoreCase(driverProps.getProperty("allowMultiQueries"))) {
                    throw new Usage("HikariCP runs one connectionInitSql statement, got " + initSql.size()
                        + ": combine them into one (SET SESSION a=1, b=2) or set option dataSource.allowMultiQueries=true");
                }
                d.setConnectionInitSql(String.join("; ", initSql));
            }
            setEventLevel(level);
            // HikariCP checks and corrects its settings here, logging a warning (→ pool-log event) for each
            // value it resets; the same check runs again, silently, when the pool starts. Its DEBUG
            // configuration dump is held back here so that it appears once, when the pool starts.
            Logger config = Logger.getLogger(HikariConfig.class.getName());
            config.setLevel(Level.INFO);
            try {
                d.validate();
            } finally {
                config.setLevel(null);
            }
        } catch (IllegalArgumentException e) { // HikariCP's setters and validate() reject bad values this way
            throw new Usage(e.getMessage());
        }
        followUp = follow;
        ds = d;
        Map<String, Object> effective = new LinkedHashMap<>();
        effective.put("maximumPoolSize", d.getMaximumPoolSize());
        effective.put("minimumIdle", d.getMinimumIdle());
        effective.put("maxLifetime", d.getMaxLifetime());
        effective.put("idleTimeout", d.getIdleTimeout());
        effective.put("connectionTimeout", d.getConnectionTimeout());
        effective.put("validationTimeout", d.getValidationTimeout());
        effective.put("leakDetectionThreshold", d.getLeakDetectionThreshold());
        Object keepalive = getter(d, "keepaliveTime"); // HikariCP >= 4.0.0 only
        if (keepalive != null) effective.put("keepaliveTime", keepalive);
        effective.put("connectionTestQuery", d.getConnectionTestQuery());
        effective.put("connectionInitSql", d.getConnectionInitSql());
        resp.put("pool", d.getPoolName());
        resp.put("effective", effective);
    }

    private static List<Object> warm(int count) throws Usage, Failure {
        HikariDataSource d = pool();
        List<Connection> conns = new ArrayList<>();
        try {
            for (int k = 0; k < count; k++) {
                try {
                    conns.add(d.getConnection());
                } catch (Exception e) {
                    throw new Failure(e, "acquire");
                }
            }
            List<Object> ids = new ArrayList<>();
            for (Connection c : conns) ids.add(connectionId(c));
            return ids;
        } finally {
            for (Connection c : conns) {
                try {
                    c.close();
                } catch (SQLException ignored) {
                    // returning to HikariCP does not fail; nothing to report
                }
            }
        }
    }

    private static long connectionId(Connection c) throws Failure {
        try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("SELECT CONNECTION_ID()")) {
            r.next();
            return r.getLong(1);
        } catch (Exception e) {
            throw new Failure(e, "query");
        }
    }

    private static long hold() throws Usage, Failure {
        Connection c;
        try {
            c = pool().getConnection();
        } catch (Usage u) {
            throw u;
        } catch (Exception e) {
            throw new Failure(e, "acquire");
        }
        held = c; // kept, never closed (a later hold replaces the reference; the old one stays borrowed)
        return connectionId(c);
    }

    /**
     * The server thread id of the connection under HikariCP's proxy, read from Connector/J without a query
     * (3.x {@code Connection.getThreadId()}, 2.x {@code MariaDbConnection.getServerThreadId()}); null when unknown.
     */
    private static Long serverThread(Connection c) {
        String[][] ways = {{"org.mariadb.jdbc.Connection", "getThreadId"},
            {"org.mariadb.jdbc.MariaDbConnection", "getServerThreadId"}};
        for (String[] way : ways) {
            try {
                Class<?> type = Class.forName(way[0], false, c.getClass().getClassLoader());
                if (!c.isWrapperFor(type)) continue;
                Object id = type.getMethod(way[1]).invoke(c.unwrap(type));
                if (id instanceof Number) return ((Number) id).longValue();
            } catch (Exception | LinkageError e) {
                // not this Connector/J: try the next way
            }
        }
        return null;
    }

    /** One operation as an application writes it; the answer fields of a `run` without id. */
    private static Map<String, Object> runOnce(String sql, boolean useHeld) throws Usage {
        HikariDataSource d = useHeld ? null : pool();
        Connection h = held;
        if (useHeld && h == null) throw new Usage("no held connection: send hold first");
        String follow = followUp;
        Map<String, Object> followed = null;
        long t0 = System.nanoTime();
        String phase = "acquire";
        Throwable error = null;
        Long thread = null; // the connection that served it: a lane in the timeline
        try {
            if (useHeld) {
                phase = "query";
                thread = serverThread(h);
                try (Statement s = h.createStatement(); ResultSet r = s.executeQuery(sql)) {
                    while (r.next()) { }
                } catch (Exception e) {
                    if (follow != null) followed = followUp(h, follow); // the held connection stays held
                    throw e;
                }
            } else {
                try (Connection c = d.getConnection()) {
                    phase = "query";
                    thread = serverThread(c);
                    try (Statement s = c.createStatement(); ResultSet r = s.executeQuery(sql)) {
                        while (r.next()) { }
                    } catch (Exception e) {
                        if (follow != null) followed = followUp(c, follow); // before close() gives it back
                        throw e;
                    }
                }
            }
        } catch (Exception e) {
            error = e;
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("ok", error == null);
        m.put("ms", Math.round((System.nanoTime() - t0) / 1e3) / 1e3);
        if (error != null) m.put("error", errorObject(error, phase));
        if (followed != null) m.put("followUp", followed);
        if (thread != null) m.put("threadId", thread);
        return m;
    }

    /** app.followUp: the application's error path sends one more statement on the same connection. */
    private static Map<String, Object> followUp(Connection c, String sql) {
        Map<String, Object> m = new LinkedHashMap<>();
        try (Statement s = c.createStatement()) {
            if (s.execute(sql)) {
                try (ResultSet r = s.getResultSet()) {
                    while (r.next()) { }
                }
            }
            m.put("ok", true);
        } catch (Exception e) {
            m.put("ok", false);
            m.put("error", errorObject(e, "follow-up"));
        }
        return m;
    }

    private static List<Object> busy(int count, String sql) throws Usage, InterruptedException {
        pool();
        Object[] results = new Object[count];
        Thread[] threads = new Thread[count];
        for (int k = 0; k < count; k++) {
            final int slot = k;
            threads[k] = new Thread(() -> {
                try {
                    results[slot] = runOnce(sql, false);
                } catch (Usage u) {
                    results[slot] = null; // cannot happen: the pool was checked above
                }
            }, "busy-" + k);
            threads[k].setDaemon(true);
            threads[k].start();
        }
        for (Thread t : threads) t.join();
        return List.of(results);
    }

    /**
     * Schedules count runs, one after another, on TIMER delayMs from now (delay 0: a thread started right
     * here) and returns at once. main calls it on the thread that reads stdin, so the batch is registered
     * before a collect behind it is read.
     */
    private static void arm(JsonObject req) throws Usage {
        int count = intField(req, "count");
        String sql = stringField(req, "sql");
        long delayMs = req.get("delayMs") == null || req.get("delayMs").isJsonNull() ? 0 : intField(req, "delayMs");
        if (count < 0 || delayMs < 0) throw new Usage("arm: count and delayMs must be integers >= 0");
        pool();
        Batch b = new Batch(count);
        synchronized (ARM_LOCK) {
            if (armed != null) throw new Usage("a batch is already armed: send collect first");
            armed = b;
        }
        Runnable work = () -> {
            try {
                for (int k = 0; k < count; k++) { // each exactly a run; the next starts when this one has finished
                    try {
                        b.results[k] = runOnce(sql, false);
                    } catch (Usage u) { // the pool was closed meanwhile
                        Map<String, Object> e = new LinkedHashMap<>();
                        e.put("usage", true);
                        e.put("message", u.getMessage());
                        Map<String, Object> m = new LinkedHashMap<>();
                        m.put("ok", false);
                        m.put("error", e);
                        b.results[k] = m;
                    }
                }
            } finally {
                b.done.countDown();
            }
        };
        if (delayMs > 0) {
            TIMER.schedule(work, delayMs, TimeUnit.MILLISECONDS);
        } else {
            Thread t = new Thread(work, "arm-" + text(req.get("id")));
            t.setDaemon(true);
            t.start();
        }
    }

    /** Waits for the armed batch to finish and returns its results; the next arm is then allowed. */
    private static List<Object> collect() throws Usage, InterruptedException {
        Batch b;
        synchronized (ARM_LOCK) {
            b = armed;
        }
        if (b == null) throw new Usage("nothing armed: send arm first");
        b.done.await();
        synchronized (ARM_LOCK) {
            if (armed == b) armed = null;
        }
        return Arrays.asList(b.results);
    }

    private static void close() throws Usage, InterruptedException {
        HikariDataSource d = pool();
        ds = null;
        held = null;
        // close() aborts connections still in use (the held one, hung runs) and closes idle ones. When
        // an in-use connection cannot be aborted (Connector/J's abort opens a new connection to KILL the
        // old thread, which hangs on a blackholed server) HikariCP keeps retrying for 10 s: answer after
        // CLOSE_WAIT_MS and say so in an event, rather than miss repro's deadline.
        Thread closer = new Thread(d::close, "pool-close");
        closer.setDaemon(true);
        closer.start();
        closer.join(CLOSE_WAIT_MS);
        if (closer.isAlive()) {
            Map<String, Object> ev = new LinkedHashMap<>();
            ev.put("event", "adapter");
            ev.put("message", "HikariDataSource.close() still running after " + CLOSE_WAIT_MS
                + " ms (HikariCP retries aborting in-use connections for up to 10 s); answering close now");
            emit(ev);
        }
    }

    // ---- options -----------------------------------------------------------------------------

    private static Method setter(String[] option) {
        Class<?> type = option[1].equals("long") ? long.class : option[1].equals("int") ? int.class : String.class;
        String name = "set" + Character.toUpperCase(option[0].charAt(0)) + option[0].substring(1);
        try {
            return HikariConfig.class.getMethod(name, type);
        } catch (NoSuchMethodException absent) {
            return null; // e.g. keepaliveTime before HikariCP 4.0.0: not a known key then
        }
    }

    /** The option's hello description, "%d" replaced by the loaded HikariCP's default. */
    private static String description(String[] option) {
        if (!option[2].contains("%d")) return option[2];
        Object def = getter(new HikariConfig(), option[0]);
        return option[2].replace("%d", def == null ? "?" : String.valueOf(def));
    }

    /** HikariConfig's getter for key on config, or null when the loaded HikariCP has none. */
    private static Object getter(HikariConfig config, String key) {
        try {
            return HikariConfig.class.getMethod("get" + Character.toUpperCase(key.charAt(0)) + key.substring(1)).invoke(config);
        } catch (ReflectiveOperationException absent) {
            return null;
        }
    }

    private static void setOption(HikariDataSource d, String[] option, String value) throws Usage {
        Object arg;
        try {
            arg = option[1].equals("long") ? (Object) Long.parseLong(value.trim())
                : option[1].equals("int") ? (Object) Integer.parseInt(value.trim()) : value;
        } catch (NumberFormatException e) {
            throw new Usage("option '" + option[0] + "': '" + value + "' is not an integer (milliseconds / a count)");
        }
        try {
            setter(option).invoke(d, arg);
        } catch (InvocationTargetException e) {
            throw new Usage("option '" + option[0] + "': " + e.getCause().getMessage());
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String knownKeys() {
        List<String> keys = new ArrayList<>();
        for (String[] o : HIKARI_OPTIONS) if (setter(o) != null) keys.add(o[0]);
        keys.add(EVENT_LEVEL);
        keys.add(FOLLOW_UP);
        keys.sort(String.CASE_INSENSITIVE_ORDER);
        return String.join(", ", keys) + ", and dataSource.<Connector/J property> (e.g. dataSource.socketTimeout, dataSource.connectTimeout)";
    }

    /**
     * Connector/J's own option list (name → one-line description with default): 2.x's internal
     * DefaultOptions/Options classes, or 3.x's public Driver.getPropertyInfo (the fields of its
     * Configuration.Builder) and the names 3.x also takes; null when this Connector/J has neither.
     */
    private static Map<String, String> driverOptions() {
        try {
            Class.forName(MARIADB_OPTIONS);
        } catch (ClassNotFoundException | RuntimeException | LinkageError e) {
            return driverOptions3();
        }
        try {
            Class<?> optionsEnum = Class.forName(MARIADB_OPTIONS);
            Object defaults = defaultDriverOptions();
            Map<String, String> out = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
            for (Object o : optionsEnum.getEnumConstants()) {
                String name = (String) optionsEnum.getMethod("getOptionName").invoke(o);
                if (name.equalsIgnoreCase("user") || name.equalsIgnoreCase("password")) continue; // open's fields
                String desc = ((String) optionsEnum.getMethod("getDescription").invoke(o)).split("\n")[0].trim();
                Object def = null;
                try {
                    def = defaults.getClass().getField(name).get(defaults);
                } catch (NoSuchFieldException unknown) {
                    // some options have no field of that name: no default shown
                }
                out.put(name, "Connector/J: " + (desc.isEmpty() ? name : desc) + " (default: " + def + ")");
            }
            return out;
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }

    /** Whether the loaded Connector/J is the 3.x rewrite: org.mariadb.jdbc.Configuration, no 2.x DefaultOptions. */
    private static boolean connectorJ3() {
        return hasClass(MARIADB3_CONFIGURATION) && !hasClass(MARIADB_OPTIONS);
    }

    private static boolean hasClass(String name) {
        try {
            Class.forName(name, false, HikariAdapter.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }

    /**
     * Connector/J 3.x: Driver.getPropertyInfo lists every field of Configuration.Builder (the options it maps,
     * matched case-insensitively) with its default; descriptions from the jar's driver.properties (getPropertyInfo
     * leaves them empty when the default is null). Then the other names 3.x honours: its OptionAliases, the
     * deprecated ones in its deprecated.properties (useSsl, ...), and MARIADB3_UNMAPPED.
     */
    private static Map<String, String> driverOptions3() {
        if (!connectorJ3()) return null;
        try {
            Properties desc = driverResource("driver.properties");
            java.sql.DriverPropertyInfo[] infos = new org.mariadb.jdbc.Driver().getPropertyInfo("jdbc:mariadb://localhost/", new Properties());
            Map<String, String> out = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
            for (java.sql.DriverPropertyInfo i : infos) {
                if (i.name.equalsIgnoreCase("user") || i.name.equalsIgnoreCase("password") || i.name.equalsIgnoreCase("database")) continue; // open's fields
                String d = i.description != null && !i.description.isBlank() ? i.description : desc.getProperty(i.name, "");
                d = d.trim();
                out.put(i.name, "Connector/J: " + (d.isEmpty() ? i.name : d) + " (default: " + i.value + ")");
            }
            if (out.isEmpty()) return null;
            try {
                Map<?, ?> aliases = (Map<?, ?>) Class.forName(MARIADB3_ALIASES).getField("OPTIONS_ALIASES").get(null);
                for (Map.Entry<?, ?> a : new TreeMap<>(aliases).entrySet()) {
                    out.putIfAbsent(String.valueOf(a.getKey()), "Connector/J: another name of " + a.getValue() + " (any letter case)");
                }
            } catch (ReflectiveOperationException | RuntimeException | LinkageError noAliases) {
                // a 3.x without aliases
            }
            Properties deprecated = driverResource("deprecated.properties");
            for (String name : new TreeMap<>(deprecated).keySet().stream().map(String::valueOf).toArray(String[]::new)) {
                out.putIfAbsent(name, "Connector/J: " + deprecated.getProperty(name).trim() + " (still read; default: none)");
            }
            for (String name : MARIADB3_UNMAPPED) {
                out.putIfAbsent(name, "Connector/J 3.x: an undocumented property some 3.x releases read from the properties"
                    + " their Configuration does not map; passed on unchecked (default: the driver's)");
            }
            return out;
        } catch (SQLException | RuntimeException | LinkageError e) {
            return null;
        }
    }

    /** A properties file from the loaded Connector/J's own jar (UTF-8); empty when it has none. */
    private static Properties driverResource(String name) {
        Properties p = new Properties();
        try (JarFile jar = new JarFile(new File(org.mariadb.jdbc.Driver.class.getProtectionDomain().getCodeSource().getLocation().toURI()))) {
            java.util.jar.JarEntry e = jar.getJarEntry(name);
            if (e != null) {
                try (InputStreamReader r = new InputStreamReader(jar.getInputStream(e), StandardCharsets.UTF_8)) {
                    p.load(r);
                }
            }
        } catch (Exception e) {
            // none: descriptions fall back to the names
        }
        return p;
    }

    private static Object defaultDriverOptions() throws ReflectiveOperationException {
        Class<?> haMode = Class.forName(MARIADB_HAMODE);
        Object none = haMode.getField("NONE").get(null);
        return Class.forName(MARIADB_OPTIONS).getMethod("defaultValues", haMode).invoke(null, none);
    }

    /** Unknown names and values Connector/J would reject (its own parser and message) are usage errors. */
    private static void checkDriverProperties(Properties props) throws Usage {
        Map<String, String> known = driverOptions();
        if (known == null || props.isEmpty()) return;
        boolean v3 = connectorJ3();
        for (String name : props.stringPropertyNames()) {
            boolean found = false;
            for (String k : known.keySet()) found |= v3 ? k.equalsIgnoreCase(name) : k.equals(name); // as each driver matches
            if (!found) {
                throw new Usage("unknown option 'dataSource." + name + "': Connector/J " + jarVersion(org.mariadb.jdbc.Driver.class)
                    + " properties are " + String.join(", ", known.keySet()));
            }
        }
        if (v3) {
            // 3.x: Configuration.parse (public) maps the properties as Driver.connect does, with its messages
            // ("error parsing url: Optional parameter socketTimeout must be Integer, was 'x'").
            Properties copy = new Properties();
            copy.putAll(props);
            try {
                Class.forName(MARIADB3_CONFIGURATION).getMethod("parse", String.class, Properties.class)
                    .invoke(null, "jdbc:mariadb://localhost/", copy);
            } catch (InvocationTargetException e) {
                throw new Usage("Connector/J rejects a dataSource option: " + e.getCause().getMessage());
            } catch (ReflectiveOperationException | RuntimeException e) {
                // this 3.x parses differently: the driver reports bad values when it connects
            }
            return;
        }
        try {
            Class<?> haMode = Class.forName(MARIADB_HAMODE);
            Class<?> options = Class.forName("org.mariadb.jdbc.util.Options");
            Class.forName(MARIADB_OPTIONS).getMethod("parse", haMode, String.class, Properties.class, options)
                .invoke(null, haMode.getField("NONE").get(null), "", props, defaultDriverOptions());
        } catch (InvocationTargetException e) {
            throw new Usage("Connector/J rejects a dataSource option: " + e.getCause().getMessage());
        } catch (ReflectiveOperationException e) {
            // this Connector/J parses differently: the driver reports bad values when it connects
        }
    }

    // ---- logging → events --------------------------------------------------------------------

    private static Level parseLevel(String v) throws Usage {
        switch (v.trim().toUpperCase()) {
            case "ERROR": return Level.SEVERE;
            case "WARN": return Level.WARNING;
            case "INFO": return Level.INFO;
            case "DEBUG": return Level.FINE;
            case "TRACE": return Level.FINEST;
            default: throw new Usage("option '" + EVENT_LEVEL + "': '" + v + "' is not one of ERROR, WARN, INFO, DEBUG, TRACE");
        }
    }

    private static String levelName(Level l) {
        int v = l.intValue();
        if (v >= Level.SEVERE.intValue()) return "ERROR";
        if (v >= Level.WARNING.intValue()) return "WARN";
        if (v >= Level.INFO.intValue()) return "INFO";
        if (v >= Level.FINE.intValue()) return "DEBUG";
        return "TRACE";
    }

    private static void setEventLevel(Level level) {
        eventLevel = level;
        Level loggers = level.intValue() < Level.INFO.intValue() ? level : Level.INFO;
        HIKARI_LOG.setLevel(loggers);
        MARIADB_LOG.setLevel(loggers);
    }

    private static void setUpLogging() {
        Logger root = Logger.getLogger("");
        for (Handler h : root.getHandlers()) root.removeHandler(h);
        SimpleFormatter format = new SimpleFormatter();
        root.addHandler(new Handler() {
            @Override
            public void publish(LogRecord r) {
                String message = format.formatMessage(r);
                if (r.getLevel().intValue() >= eventLevel.intValue()) {
                    Map<String, Object> ev = new LinkedHashMap<>();
                    ev.put("event", "pool-log");
                    ev.put("level", levelName(r.getLevel()));
                    ev.put("logger", r.getLoggerName());
                    ev.put("message", message);
                    if (r.getThrown() != null) ev.put("exception", r.getThrown().toString());
                    emit(ev);
                } else {
                    System.err.println("[" + levelName(r.getLevel()) + "] " + r.getLoggerName() + ": " + message);
                }
            }

            @Override
            public void flush() { }

            @Override
            public void close() { }
        });
        root.setLevel(Level.INFO);
        setEventLevel(Level.WARNING);
    }

    /**
     * The library version from its jar's own metadata: the manifest's Bundle-Version, else its
     * Implementation-Version, else the version in the jar's META-INF/maven/.../pom.properties.
     */
    private static String jarVersion(Class<?> c) {
        try (JarFile jar = new JarFile(new File(c.getProtectionDomain().getCodeSource().getLocation().toURI()))) {
            java.util.jar.Manifest manifest = jar.getManifest();
            if (manifest != null) {
                Attributes a = manifest.getMainAttributes();
                String v = a.getValue("Bundle-Version");
                if (v == null) v = a.getValue("Implementation-Version");
                if (v != null) return v;
            }
            for (java.util.jar.JarEntry e : java.util.Collections.list(jar.entries())) {
                if (e.getName().startsWith("META-INF/maven/") && e.getName().endsWith("/pom.properties")) {
                    Properties p = new Properties();
                    try (java.io.InputStream in = jar.getInputStream(e)) {
                        p.load(in);
                    }
                    if (p.getProperty("version") != null) return p.getProperty("version");
                }
            }
        } catch (Exception e) {
            // fall through
        }
        String v = c.getPackage().getImplementationVersion();
        return v != null ? v : "unknown";
    }
}
