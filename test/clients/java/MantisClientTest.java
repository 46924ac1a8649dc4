// mantis from Java: pgJDBC (Debian's libpostgresql-jdbc-java), as an
// application uses it: PreparedStatement with ? parameters set by their
// Java types, no casts, getObject.  The same checks run on a connection to
// the server, then through PgBouncer in transaction mode with
// prepareThreshold=0: by default pgJDBC prepares a statement on the server
// under a name (S_1, S_2, ...) from its fifth execution, and the next
// client of the same server connection that does so fails (see the last
// check).  PgBouncer also needs `ignore_startup_parameters =
// extra_float_digits` (test/clients/run.sh sets it), since pgJDBC sends
// that parameter when it connects.
//
// The connection comes from APP_HOST, APP_PORT, BOUNCER_PORT, APP_DB,
// APP_USER and APP_PASSWORD (set by test/clients/run.sh).  The role has
// only `GRANT mantis_writer, mantis_monitor TO app`.
//
// Output: one "ok N - ..." or "not ok N - ..." line per check, then a
// count; the exit status is 1 when any check failed.

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;

import org.postgresql.util.PGInterval;

public class MantisClientTest {
    static final Map<String, String> ENV = System.getenv();
    static int count = 0;
    static final List<String> failed = new ArrayList<>();

    static final class Failure extends Exception {
        private static final long serialVersionUID = 1L;

        Failure(String message) {
            super(message);
        }
    }

    interface Body {
        void run() throws Exception;
    }

    static void check(String name, Body body) {
        count++;
        try {
            body.run();
            System.out.println("ok " + count + " - " + name);
        } catch (Exception e) {
            failed.add(name);
            System.out.println("not ok " + count + " - " + name);
            System.out.println("#   " + e.getClass().getName() + ": " + e.getMessage());
            if (!(e instanceof Failure)) {
                StackTraceElement[] st = e.getStackTrace();
                for (int i = 0; i < Math.min(4, st.length); i++) {
                    System.out.println("#   at " + st[i]);
                }
            }
        }
        System.out.flush();
    }

    static String show(Object v) {
        return v == null ? "null" : v + " (" + v.getClass().getSimpleName() + ")";
    }

    /** got equals want and is of its class: Boolean.FALSE is not "f", 100000L not "100000" */
    static void eq(Object got, Object want, String what) throws Failure {
        if (!Objects.equals(got, want)) {
            throw new Failure(what + ": got " + show(got) + ", want " + show(want));
        }
    }

    static void truthy(boolean cond, String what) throws Failure {
        if (!cond) {
            throw new Failure(what);
        }
    }

    /** body fails with a server error whose SQLSTATE, SQLException.getSQLState(), is code */
    static SQLException raises(String code, Body body, String what) throws Exception {
        try {
            body.run();
        } catch (SQLException e) {
            if (!code.equals(e.getSQLState())) {
                throw new Failure(what + ": SQLSTATE " + e.getSQLState() + ", want " + code + " (" + e.getMessage() + ")");
            }
            return e;
        }
        throw new Failure(what + ": no error, want SQLSTATE " + code);
    }

    static Connection connect(String port, String db, String password, String params) throws SQLException {
        String url = "jdbc:postgresql://" + ENV.get("APP_HOST") + ":" + port + "/" + db + params;
        Properties props = new Properties();
        props.setProperty("user", ENV.get("APP_USER"));
        props.setProperty("password", password);
        return DriverManager.getConnection(url, props);
    }

    /** the first column of the first row of sql run with these parameters, as getObject reads it */
    static Object one(Connection c, String sql, Object... params) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < params.length; i++) {
                Object p = params[i];
                if (p == null) {
                    ps.setNull(i + 1, Types.VARCHAR);
                } else if (p instanceof String) {
                    ps.setString(i + 1, (String) p);
                } else if (p instanceof Boolean) {
                    ps.setBoolean(i + 1, (Boolean) p);
                } else if (p instanceof Integer) {
                    ps.setInt(i + 1, (Integer) p);
                } else if (p instanceof Long) {
                    ps.setLong(i + 1, (Long) p);
                } else {
                    ps.setObject(i + 1, p);
                }
            }
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getObject(1);
            }
        }
    }

    static void scenario(String label, String port, String params) throws Exception {
        String pfx = "java/" + label + "/";
        String db = ENV.get("APP_DB");
        try (Connection conn = connect(port, db, ENV.get("APP_PASSWORD"), params)) {
            check(label + ": connected as app over TCP with a password; not a superuser", () -> {
                eq(one(conn, "SELECT current_user::text"), "app", "current_user");
                eq(one(conn, "SELECT inet_server_addr() IS NOT NULL"), true, "over TCP");
                eq(one(conn, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"), false, "superuser");
                try {
                    connect(port, db, "not the password", params).close();
                    throw new Failure("a wrong password was accepted");
                } catch (SQLException e) {
                    // "password authentication failed" from the server, "SASL
                    // authentication failed" from PgBouncer
                    truthy(e.getMessage().contains("authentication failed"), "wrong password: " + e.getMessage());
                }
            });

            check(label + ": a flag set from setBoolean(true) reads Boolean.TRUE with mantis_get_bool, with and without a default", () -> {
                one(conn, "SELECT mantis_set(?, ?)", pfx + "dark", true);
                eq(one(conn, "SELECT mantis_get(?)", pfx + "dark"), "true", "the stored text");
                eq(one(conn, "SELECT mantis_get_bool(?)", pfx + "dark"), Boolean.TRUE, "no default");
                eq(one(conn, "SELECT mantis_get_bool(?, ?)", pfx + "dark", false), Boolean.TRUE, "default false");
                one(conn, "SELECT mantis_set(?, ?)", pfx + "dark", "off");
                eq(one(conn, "SELECT mantis_get_bool(?, ?)", pfx + "dark", true), Boolean.FALSE, "stored 'off'");
            });

            check(label + ": an absent flag is null, and its default false a Boolean.FALSE", () -> {
                eq(one(conn, "SELECT mantis_get_bool(?)", pfx + "absent"), null, "no default");
                eq(one(conn, "SELECT mantis_get_bool(?, ?)", pfx + "absent", false), Boolean.FALSE, "default false");
            });

            check(label + ": an integer over 32767 reads as a Long with mantis_get_int", () -> {
                one(conn, "SELECT mantis_set(?, ?)", pfx + "limit", 100000);
                eq(one(conn, "SELECT mantis_get_int(?)", pfx + "limit"), 100000L, "no default");
                eq(one(conn, "SELECT mantis_get_int(?, ?)", pfx + "limit", 100), 100000L, "setInt default");
                eq(one(conn, "SELECT mantis_get_int(?, ?)", pfx + "absent", 100L), 100L, "absent, setLong default");
                eq(one(conn, "SELECT mantis_get_int(?, ?)", pfx + "absent", 5000000000L), 5000000000L,
                        "a default past 2^31");
                one(conn, "SELECT mantis_set(?, ?)", pfx + "word", "abc");
                raises("22P02", () -> one(conn, "SELECT mantis_get_int(?, ?)", pfx + "word", 0),
                        "'abc' read with mantis_get_int");
            });

            check(label + ": mantis_set(key, setNull) fails with 22004 and changes nothing", () -> {
                one(conn, "SELECT mantis_set(?, ?)", pfx + "kept", "here");
                raises("22004", () -> one(conn, "SELECT mantis_set(?, ?)", pfx + "kept", null),
                        "mantis_set(key, setNull(2, Types.VARCHAR))");
                eq(one(conn, "SELECT mantis_get(?)", pfx + "kept"), "here", "the value after the failed set");
                eq(one(conn, "SELECT mantis_delete(?)", pfx + "kept"), true, "mantis_delete deletes");
                eq(one(conn, "SELECT mantis_get(?)", pfx + "kept"), null, "after mantis_delete");
            });

            check(label + ": mantis_ttl_ms is a Long: the milliseconds left, null without an expiry", () -> {
                one(conn, "SELECT mantis_set(?, ?, ?)", pfx + "session", "token", new PGInterval("30 seconds"));
                Object ms = one(conn, "SELECT mantis_ttl_ms(?)", pfx + "session");
                truthy(ms instanceof Long && (Long) ms > 25000 && (Long) ms <= 30000, "mantis_ttl_ms " + show(ms));
                eq(one(conn, "SELECT mantis_ttl_ms(?)", pfx + "limit"), null, "a key without an expiry");
            });
        }
    }

    /** six executions of one PreparedStatement: pgJDBC prepares it on the server from the fifth */
    static void sixGets(Connection c) throws SQLException, Failure {
        try (PreparedStatement ps = c.prepareStatement("SELECT mantis_get_bool(?, ?)")) {
            for (int i = 0; i < 6; i++) {
                ps.setString(1, "java/pgbouncer/absent");
                ps.setBoolean(2, false);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    eq(rs.getObject(1), Boolean.FALSE, "execution " + (i + 1));
                }
            }
        }
    }

    public static void main(String[] args) {
        try {
            scenario("direct", ENV.get("APP_PORT"), "");
            scenario("pgbouncer", ENV.get("BOUNCER_PORT"), "?prepareThreshold=0");

            // The pool "single" has one server connection: its clients take
            // turns on one backend, where a statement one of them prepared
            // under a name is there when the next prepares the same name.
            check("pgbouncer: pitfall: with the default prepareThreshold (5) the next client fails (42P05)", () -> {
                String port = ENV.get("BOUNCER_PORT"), pw = ENV.get("APP_PASSWORD");
                try (Connection a = connect(port, "single", pw, ""); Connection b = connect(port, "single", pw, "")) {
                    sixGets(a);
                    raises("42P05", () -> sixGets(b), "six executions on a second client");
                }
                try (Connection a = connect(port, "single", pw, "?prepareThreshold=0");
                        Connection b = connect(port, "single", pw, "?prepareThreshold=0")) {
                    sixGets(a);
                    sixGets(b);
                    sixGets(a);
                }
            });
        } catch (Exception e) {
            failed.add("the program");
            System.out.println("not ok - the program stopped: " + e);
        }
        System.out.println("# " + count + " checks, " + failed.size() + " failed");
        for (String f : failed) {
            System.out.println("#   failed: " + f);
        }
        System.exit(failed.isEmpty() && count > 0 ? 0 : 1);
    }
}
