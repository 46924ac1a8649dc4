// mantis from Go: pgx v4 (Debian's golang-github-jackc-pgx-v4-dev), as an
// application uses it: $n parameters from Go values, no casts, Scan into
// Go types; values to mantis_set as strings, since pgx encodes each
// parameter as the type the server describes, text there.  The same checks run on a connection to the server, then
// through PgBouncer in transaction mode twice, once with each of pgx's
// settings for it: statement_cache_mode=describe and
// prefer_simple_protocol=true.  By default pgx prepares every statement on
// the server under a name and keeps it for the connection, so a statement
// run again may be handed another server connection, where that name is
// unknown (see the last check).
//
// test/clients/run.sh builds it with no network: GO111MODULE=off and
// GOPATH=/usr/share/gocode, where Debian's packages put pgx's sources.
//
// The connection comes from APP_HOST, APP_PORT, BOUNCER_PORT, APP_DB,
// APP_USER and APP_PASSWORD (set by test/clients/run.sh).  The role has
// only `GRANT mantis_writer, mantis_monitor TO app`.
//
// Output: one "ok N - ..." or "not ok N - ..." line per check, then a
// count; the exit status is 1 when any check failed.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgconn"
	"github.com/jackc/pgx/v4"
)

var (
	ctx    = context.Background()
	count  int
	failed []string
)

func check(name string, body func() error) {
	count++
	if err := body(); err != nil {
		failed = append(failed, name)
		fmt.Printf("not ok %d - %s\n#   %s\n", count, name, strings.ReplaceAll(err.Error(), "\n", "\n#   "))
		return
	}
	fmt.Printf("ok %d - %s\n", count, name)
}

func show(v interface{}) string {
	if v == nil {
		return "nil"
	}
	return fmt.Sprintf("%#v (%T)", v, v)
}

// got equals want and is of its type: false is not "f", int64(100000) not "100000"
func eq(got, want interface{}, what string) error {
	if !reflect.DeepEqual(got, want) {
		return fmt.Errorf("%s: got %s, want %s", what, show(got), show(want))
	}
	return nil
}

// the error is a server error whose SQLSTATE is code, as pgx exposes it:
// errors.As(err, &pgErr) and pgErr.Code
func sqlstate(err error, code, what string) error {
	if err == nil {
		return fmt.Errorf("%s: no error, want SQLSTATE %s", what, code)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return fmt.Errorf("%s: %v, want SQLSTATE %s", what, err, code)
	}
	if pgErr.Code != code {
		return fmt.Errorf("%s: SQLSTATE %s, want %s (%v)", what, pgErr.Code, code, err)
	}
	return nil
}

func connString(port, db, password, settings string) string {
	return strings.TrimSpace(fmt.Sprintf("host=%s port=%s dbname=%s user=%s password='%s' %s",
		os.Getenv("APP_HOST"), port, db, os.Getenv("APP_USER"), password, settings))
}

func connect(port, db, settings string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, connString(port, db, os.Getenv("APP_PASSWORD"), settings))
}

// the first column of the first row, scanned into a new value of want's
// type through a pointer, so that NULL reads as nil
func scanOne[T any](c *pgx.Conn, sql string, args ...interface{}) (*T, error) {
	var v *T
	err := c.QueryRow(ctx, sql, args...).Scan(&v)
	return v, err
}

func scenario(label, port, settings string) {
	pfx := "go/" + label + "/"
	db := os.Getenv("APP_DB")
	conn, err := connect(port, db, settings)
	if err != nil {
		check(label+": connect", func() error { return err })
		return
	}
	defer conn.Close(ctx)
	exec := func(sql string, args ...interface{}) error {
		_, err := conn.Exec(ctx, sql, args...)
		return err
	}

	check(label+": connected as app over TCP with a password; not a superuser", func() error {
		var user string
		var tcp, super bool
		if err := conn.QueryRow(ctx, `SELECT current_user::text, inet_server_addr() IS NOT NULL,
			(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)`).Scan(&user, &tcp, &super); err != nil {
			return err
		}
		if err := eq([]interface{}{user, tcp, super}, []interface{}{"app", true, false}, "user, TCP, superuser"); err != nil {
			return err
		}
		wrong, err := pgx.Connect(ctx, connString(port, db, "not the password", settings))
		if err == nil {
			wrong.Close(ctx)
			return errors.New("a wrong password was accepted")
		}
		// "password authentication failed" from the server, "SASL
		// authentication failed" from PgBouncer
		if !strings.Contains(err.Error(), "authentication failed") {
			return fmt.Errorf("wrong password: %v", err)
		}
		return nil
	})

	if !strings.Contains(settings, "prefer_simple_protocol") {
		check(label+": pitfall: pgx binds by the server's description: a Go bool or int to mantis_set($1, $2) (text, text) fails in pgx", func() error {
			for _, v := range []interface{}{true, 100000} {
				err := exec("SELECT mantis_set($1, $2)", pfx+"dark", v)
				if err == nil || !strings.Contains(err.Error(), "cannot convert") {
					return fmt.Errorf("mantis_set(key, %v): %v, want pgx's \"cannot convert %v to Text\"", v, err, v)
				}
			}
			return nil
		})
	}

	check(label+": a flag set from \"true\" reads true with mantis_get_bool, with and without a default", func() error {
		if err := exec("SELECT mantis_set($1, $2)", pfx+"dark", "true"); err != nil {
			return err
		}
		var stored string
		if err := conn.QueryRow(ctx, "SELECT mantis_get($1)", pfx+"dark").Scan(&stored); err != nil {
			return err
		}
		if err := eq(stored, "true", "the stored text"); err != nil {
			return err
		}
		var on, withDefault bool
		if err := conn.QueryRow(ctx, "SELECT mantis_get_bool($1)", pfx+"dark").Scan(&on); err != nil {
			return err
		}
		if err := conn.QueryRow(ctx, "SELECT mantis_get_bool($1, $2)", pfx+"dark", false).Scan(&withDefault); err != nil {
			return err
		}
		if err := eq([]bool{on, withDefault}, []bool{true, true}, "without, with default false"); err != nil {
			return err
		}
		if err := exec("SELECT mantis_set($1, $2)", pfx+"dark", "off"); err != nil {
			return err
		}
		var off bool
		if err := conn.QueryRow(ctx, "SELECT mantis_get_bool($1, $2)", pfx+"dark", true).Scan(&off); err != nil {
			return err
		}
		return eq(off, false, "stored 'off'")
	})

	check(label+": an absent flag is NULL (a nil *bool), and its default false a bool false", func() error {
		v, err := scanOne[bool](conn, "SELECT mantis_get_bool($1)", pfx+"absent")
		if err != nil {
			return err
		}
		if v != nil {
			return fmt.Errorf("no default: got %v, want nil", *v)
		}
		var dflt interface{}
		if err := conn.QueryRow(ctx, "SELECT mantis_get_bool($1, $2)", pfx+"absent", false).Scan(&dflt); err != nil {
			return err
		}
		return eq(dflt, false, "default false, scanned into an interface{}")
	})

	check(label+": an integer over 32767 reads as an int64 with mantis_get_int", func() error {
		if err := exec("SELECT mantis_set($1, $2)", pfx+"limit", strconv.Itoa(100000)); err != nil {
			return err
		}
		var a, b, c, d int64
		if err := conn.QueryRow(ctx, "SELECT mantis_get_int($1)", pfx+"limit").Scan(&a); err != nil {
			return err
		}
		if err := conn.QueryRow(ctx, "SELECT mantis_get_int($1, $2)", pfx+"limit", 100).Scan(&b); err != nil {
			return err
		}
		if err := conn.QueryRow(ctx, "SELECT mantis_get_int($1, $2)", pfx+"absent", 100).Scan(&c); err != nil {
			return err
		}
		if err := conn.QueryRow(ctx, "SELECT mantis_get_int($1, $2)", pfx+"absent", int64(5000000000)).Scan(&d); err != nil {
			return err
		}
		if err := eq([]int64{a, b, c, d}, []int64{100000, 100000, 100, 5000000000},
			"no default, default 100, absent with 100, absent with 5000000000"); err != nil {
			return err
		}
		var anyv interface{}
		if err := conn.QueryRow(ctx, "SELECT mantis_get_int($1)", pfx+"limit").Scan(&anyv); err != nil {
			return err
		}
		if err := eq(anyv, int64(100000), "scanned into an interface{}"); err != nil {
			return err
		}
		if err := exec("SELECT mantis_set($1, $2)", pfx+"word", "abc"); err != nil {
			return err
		}
		return sqlstate(conn.QueryRow(ctx, "SELECT mantis_get_int($1, $2)", pfx+"word", 0).Scan(&a),
			"22P02", "'abc' read with mantis_get_int")
	})

	check(label+": mantis_set(key, nil) fails with 22004 and changes nothing", func() error {
		if err := exec("SELECT mantis_set($1, $2)", pfx+"kept", "here"); err != nil {
			return err
		}
		if err := sqlstate(exec("SELECT mantis_set($1, $2)", pfx+"kept", nil), "22004", "mantis_set(key, nil)"); err != nil {
			return err
		}
		v, err := scanOne[string](conn, "SELECT mantis_get($1)", pfx+"kept")
		if err != nil {
			return err
		}
		if v == nil || *v != "here" {
			return fmt.Errorf("the value after the failed set: %v", v)
		}
		var deleted bool
		if err := conn.QueryRow(ctx, "SELECT mantis_delete($1)", pfx+"kept").Scan(&deleted); err != nil {
			return err
		}
		if err := eq(deleted, true, "mantis_delete deletes"); err != nil {
			return err
		}
		v, err = scanOne[string](conn, "SELECT mantis_get($1)", pfx+"kept")
		if err != nil {
			return err
		}
		if v != nil {
			return fmt.Errorf("after mantis_delete: %q", *v)
		}
		return nil
	})

	check(label+": mantis_ttl_ms is an int64: the milliseconds left, NULL without an expiry", func() error {
		if err := exec("SELECT mantis_set($1, $2, $3)", pfx+"session", "token", 30*time.Second); err != nil {
			return err
		}
		var ms interface{}
		if err := conn.QueryRow(ctx, "SELECT mantis_ttl_ms($1)", pfx+"session").Scan(&ms); err != nil {
			return err
		}
		if n, ok := ms.(int64); !ok || n <= 25000 || n > 30000 {
			return fmt.Errorf("mantis_ttl_ms %s", show(ms))
		}
		none, err := scanOne[int64](conn, "SELECT mantis_ttl_ms($1)", pfx+"limit")
		if err != nil {
			return err
		}
		if none != nil {
			return fmt.Errorf("a key without an expiry: %d", *none)
		}
		return nil
	})
}

// PgBouncer hands each transaction the server connection used last (LIFO)
// unless another client holds it: hold it with an open transaction, and
// the next statement of a runs on another one.
func movedPitfall(settings string) error {
	port, db := os.Getenv("BOUNCER_PORT"), os.Getenv("APP_DB")
	a, err := connect(port, db, settings)
	if err != nil {
		return err
	}
	defer a.Close(ctx)
	hold, err := connect(port, db, "statement_cache_mode=describe")
	if err != nil {
		return err
	}
	defer hold.Close(ctx)
	get := func() error {
		var v bool
		return a.QueryRow(ctx, "SELECT mantis_get_bool($1, $2)", "go/pgbouncer/absent", false).Scan(&v)
	}
	if err := get(); err != nil {
		return fmt.Errorf("the first run: %w", err)
	}
	tx, err := hold.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
		return err
	}
	return get()
}

func main() {
	scenario("direct", os.Getenv("APP_PORT"), "")
	scenario("pgbouncer describe", os.Getenv("BOUNCER_PORT"), "statement_cache_mode=describe")
	scenario("pgbouncer simple", os.Getenv("BOUNCER_PORT"), "prefer_simple_protocol=true")

	check("pgbouncer: pitfall: with the default statement cache a statement prepared on one server connection is missing on the next (26000)", func() error {
		if err := sqlstate(movedPitfall(""), "26000", "the second run, on another server connection"); err != nil {
			return err
		}
		if err := movedPitfall("statement_cache_mode=describe"); err != nil {
			return fmt.Errorf("statement_cache_mode=describe: %w", err)
		}
		if err := movedPitfall("prefer_simple_protocol=true"); err != nil {
			return fmt.Errorf("prefer_simple_protocol=true: %w", err)
		}
		return nil
	})

	fmt.Printf("# %d checks, %d failed\n", count, len(failed))
	for _, f := range failed {
		fmt.Printf("#   failed: %s\n", f)
	}
	if len(failed) > 0 || count == 0 {
		os.Exit(1)
	}
}
