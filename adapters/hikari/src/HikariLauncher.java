import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The adapter's entry point (run starts this class): checks that Gson, HikariCP, Connector/J and slf4j are on the class
 * path before HikariAdapter is loaded, since HikariAdapter itself cannot be loaded (verified) without them and the
 * JVM would answer with its own two-line NoClassDefFoundError. It names no library class, only their names.
 */
public final class HikariLauncher {
    private HikariLauncher() { }

    public static void main(String[] args) throws Exception {
        checkLibraries(System.getenv("REPRO_LIBRARY_PATH"));
        HikariAdapter.main(args);
    }

    /** The libraries, looked up by name only (nothing initialised); one stderr line and exit 1 when one is missing. */
    private static void checkLibraries(String libraryPath) {
        ClassLoader loader = HikariLauncher.class.getClassLoader();
        try { // the adapter's JSON, always Debian's (run puts it first on the class path): not a library under test
            Class.forName("com.google.gson.Gson", false, loader);
        } catch (Throwable t) {
            System.err.println("hikari adapter: cannot load com.google.gson.Gson (/usr/share/java/gson.jar: apt-get install libgoogle-gson-java): " + t);
            System.exit(1);
        }
        if (libraryPath == null || libraryPath.isEmpty()) { // the system's (Debian's) jars, as run puts them on the class path
            for (String name : new String[] {"org.slf4j.impl.StaticLoggerBinder", "com.zaxxer.hikari.HikariDataSource", "org.mariadb.jdbc.Driver"}) {
                try {
                    Class.forName(name, false, loader);
                } catch (Throwable t) {
                    System.err.println("hikari adapter: cannot load " + name + " (HikariCP, Connector/J, slf4j-api, slf4j-jdk14 jars): " + t);
                    System.exit(1);
                }
            }
            return;
        }
        // REPRO_LIBRARY_PATH: run puts only its jars on the class path (and Debian's slf4j when it has no
        // slf4j-api*.jar), so a library found at all was found there; one found twice would make the version
        // measured a guess.
        String[][] libraries = {
            {"HikariCP", "com.zaxxer.hikari.HikariDataSource"},
            {"MariaDB Connector/J", "org.mariadb.jdbc.Driver"},
            {"slf4j-api", "org.slf4j.LoggerFactory"},
        };
        for (String[] lib : libraries) {
            List<String> found = new ArrayList<>();
            try {
                for (java.net.URL u : Collections.list(loader.getResources(lib[1].replace('.', '/') + ".class"))) {
                    String where = u.toString();
                    int bang = where.indexOf("!/");
                    if (where.startsWith("jar:")) where = where.substring(4, bang < 0 ? where.length() : bang);
                    if (where.startsWith("file:")) where = where.substring(5);
                    found.add(where);
                }
            } catch (Exception e) {
                // reported as not found below
            }
            if (found.isEmpty()) {
                String hint = lib[0].equals("slf4j-api")
                    ? ": HikariCP needs it (run adds Debian's /usr/share/java/slf4j-api.jar unless REPRO_LIBRARY_PATH has an slf4j-api*.jar)"
                    : ": cannot load " + lib[1];
                System.err.println("hikari adapter: " + lib[0] + " not found in REPRO_LIBRARY_PATH (" + libraryPath + ")" + hint);
                System.exit(1);
            }
            if (found.size() > 1 && !lib[0].equals("slf4j-api")) {
                System.err.println("hikari adapter: REPRO_LIBRARY_PATH (" + libraryPath + ") holds " + lib[0] + " " + found.size()
                    + " times (" + String.join(", ", found) + "): keep one");
                System.exit(1);
            }
        }
    }
}
