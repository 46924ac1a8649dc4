/*-------------------------------------------------------------------------
 *
 * writer.c
 *		A client of the fault-injection test (test/t/005_faults.pl): for a
 *		given number of seconds it writes random keys of a small key space on
 *		one mantis server, some with an expiry, deletes some, reads back keys
 *		it wrote recently, and records every operation in a log, so that the
 *		test can check afterwards what was acknowledged, what failed, what has
 *		an unknown outcome, and what each read saw.
 *
 * Usage: writer CONNINFO NODE SECONDS LOGFILE SEED
 *				 [HOT_KEYS [INTERVAL_US [UNIQUE_PCT [UNIQUE_KEYS
 *				 [TTL_PCT [TTL_MIN_MS [TTL_MAX_MS [DELETE_PCT [READ_PCT]]]]]]]]]
 *
 * Each write picks a key and a unique value "<NODE>.<seq>", and sleeps
 * INTERVAL_US (default 3000) after it.  The key is one of the small shared
 * key space "f.0".."f.<HOT_KEYS-1>" (default 100), which every writer hits,
 * or, for UNIQUE_PCT percent of the writes (default 0), "u.<NODE>.<seq mod
 * UNIQUE_KEYS>", a key that no other write touches for a long time, so that
 * losing that write cannot be hidden by a later one.  The operation is, in
 * this order of precedence:
 *
 *		del		one time in twenty, and for DELETE_PCT percent of the other
 *				writes to a shared key (default 0): mantis_delete(key);
 *		ttl		for TTL_PCT percent of the writes (default 0): mantis_set(key,
 *				value, ttl => interval '<N> milliseconds'), N uniform in
 *				TTL_MIN_MS..TTL_MAX_MS (default 300..3000);
 *		set		otherwise: mantis_set(key, value).
 *
 * After a write, for READ_PCT percent of them (default 0), it reads with
 * mantis_get one of the last RECENT_KEYS keys it wrote, drawn at random (so
 * the reads are of keys written from milliseconds to seconds before, some of
 * them deleted or expired since).
 *
 * The HLC of a deletion and the expiry of an expiring write are read back the
 * way a user would, in the same statement, right after the write:
 * mantis_delete returns a boolean, so its HLC is that of the deletion marker
 * that mantis_registers(key, true) shows for the key from the server's own
 * node name as mantis_status gives it (not NODE: a server renamed by the test
 * writes under its new name, while the writer keeps its NODE); the expiry
 * is the expires_at column of mantis_registers(key) for the register with the
 * HLC mantis_set returned.  Both are then exactly what the server stored
 * (not an estimate from a clock: no bound needed); when a write from a peer
 * replaced the register in the microseconds between (or the read-back saw
 * nothing for any other reason) the log has "-" instead.
 *
 * It logs, one line each, flushed at once, the last field always the
 * wall-clock time in Unix milliseconds:
 *
 *		attempt <op> <key> <value> <ttl_ms|-> <ms>	before sending
 *		ok <op> <key> <value> <hlc|-> <expires_ms|-> <ms>
 *													acknowledged: the HLC of the
 *													write, and for a ttl write its
 *													expiry (Unix ms) as read back
 *		fail <op> <key> <value> <sqlstate> <ms>		an error, the connection still up
 *		unknown <op> <key> <value> <ms>				the connection was lost (or the
 *													server did not answer in time):
 *													the write may or may not be done
 *		read <key> <value|<null>> <start_ms> <ms>	mantis_get, sent at start_ms,
 *													returned that
 *		read-fail <key> <sqlstate> <start_ms> <ms>
 *		read-unknown <key> <start_ms> <ms>
 *
 * where <value> is "<deleted>" for a deletion (del).  It writes with
 * mantis.transactional off, so that each call applies at once and returns
 * the HLC the checker compares.  Lines starting with "#" are
 * comments (connections made and lost).  After a lost connection it
 * reconnects every 100 ms until the time is up or SIGTERM asks it to stop
 * (it then finishes and logs the call in flight, and exits).  A server that is paused
 * (SIGSTOP) cannot hang it: connections have a connect timeout, TCP
 * keepalives and a statement_timeout, and every call waits at most
 * CALL_TIMEOUT_MS for its answer before the connection is dropped.
 *
 * IDENTIFICATION	test/fault/writer.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#define CALL_TIMEOUT_MS		4000	/* longest wait for one answer */
#define RECONNECT_US		100000	/* 100 ms between connection attempts */
#define RECENT_KEYS			4096	/* reads pick one of the last keys written */

static FILE *logf;
static uint64_t rng_state;
static volatile sig_atomic_t stop_requested = 0;

static void
handle_sigterm(int signo)
{
	(void) signo;
	stop_requested = 1;
}

/* Unix time in milliseconds */
static int64_t
now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t) tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* xorshift64*: a small seeded generator, so that runs can be replayed */
static uint64_t
next_random(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

static void
log_line(const char *fmt,...) __attribute__((format(printf, 1, 2)));

static void
log_line(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vfprintf(logf, fmt, ap);
	va_end(ap);
	fprintf(logf, " %lld\n", (long long) now_ms());
	fflush(logf);
}

/*
 * Connect, retrying every 100 ms until the deadline; NULL if time ran out.
 */
static PGconn *
connect_until(const char *conninfo, int64_t deadline)
{
	char		full[4096];
	int			failures = 0;

	snprintf(full, sizeof(full),
			 "%s connect_timeout=2 keepalives=1 keepalives_idle=1 "
			 "keepalives_interval=1 keepalives_count=2 tcp_user_timeout=3000 "
			 "options='-c statement_timeout=3000 -c mantis.transactional=off'",
			 conninfo);
	while (now_ms() < deadline && !stop_requested)
	{
		PGconn	   *conn = PQconnectdb(full);

		if (PQstatus(conn) == CONNECTION_OK)
		{
			log_line("# connected after %d failed attempts", failures);
			return conn;
		}
		if (failures++ == 0)
		{
			char	   *msg = PQerrorMessage(conn);
			char	   *nl;

			/* first line only, to keep the log one line per event */
			if ((nl = strchr(msg, '\n')) != NULL)
				*nl = '\0';
			log_line("# cannot connect: %s", msg);
		}
		PQfinish(conn);
		usleep(RECONNECT_US);
	}
	return NULL;
}

/*
 * Wait for the result of the query sent on conn, at most CALL_TIMEOUT_MS.
 * Returns the last result (NULL if none came), and sets *timed_out.
 */
static PGresult *
wait_result(PGconn *conn, int *timed_out)
{
	int64_t		deadline = now_ms() + CALL_TIMEOUT_MS;
	PGresult   *last = NULL;

	*timed_out = 0;
	for (;;)
	{
		PGresult   *res;

		while (PQisBusy(conn))
		{
			struct pollfd pfd;
			int64_t		left = deadline - now_ms();
			int			rc;

			if (left <= 0)
			{
				*timed_out = 1;
				return last;
			}
			pfd.fd = PQsocket(conn);
			pfd.events = POLLIN;
			pfd.revents = 0;
			if (pfd.fd < 0)
				return last;
			rc = poll(&pfd, 1, (int) left);
			if (rc < 0 && errno != EINTR)
				return last;
			if (!PQconsumeInput(conn))
				break;			/* connection lost: PQgetResult says so */
		}
		res = PQgetResult(conn);
		if (res == NULL)
			return last;
		if (last)
			PQclear(last);
		last = res;
		if (PQstatus(conn) == CONNECTION_BAD)
			return last;
	}
}

/*
 * The statements, each one call.  The read-backs run after the write in the
 * same statement (the CTE is materialized first, the scalar subquery then
 * runs once for its row), so they see the register the write made unless a
 * register from a peer replaced it in between.
 */
#define SQL_SET		"SELECT mantis_set($1::text, $2::text)"
#define SQL_TTL \
	"WITH w AS MATERIALIZED (SELECT mantis_set($1::text, $2::text, " \
	"ttl => $3::interval) AS hlc) " \
	"SELECT w.hlc, (SELECT floor(extract(epoch FROM r.expires_at) * 1000)::int8 " \
	"FROM mantis_registers($1::text) r " \
	"WHERE r.key = $1::text AND r.hlc = w.hlc) FROM w"
#define SQL_DEL \
	"WITH d AS MATERIALIZED (SELECT mantis_delete($1::text) AS was) " \
	"SELECT (SELECT r.hlc FROM mantis_registers($1::text, true) r " \
	"WHERE r.key = $1::text AND r.value IS NULL " \
	"AND r.node = (SELECT node_name FROM mantis_status)), " \
	"d.was FROM d"
#define SQL_GET		"SELECT mantis_get($1::text)"

/*
 * Send one statement and wait for its answer.  Returns 1 with *res set to
 * its one row, 0 for an error with the connection up (*sqlstate set), -1
 * when the outcome is unknown: then the connection was dropped (*conn NULL).
 */
static int
call(PGconn **conn, const char *sql, int nparams, const char *const *params,
	 PGresult **res, char *sqlstate, size_t sqlstate_size)
{
	int			timed_out = 0;
	PGresult   *r;

	*res = NULL;
	if (!PQsendQueryParams(*conn, sql, nparams, NULL, params, NULL, NULL, 0))
	{
		PQfinish(*conn);
		*conn = NULL;
		return -1;
	}
	r = wait_result(*conn, &timed_out);
	if (!timed_out && r != NULL &&
		PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
	{
		*res = r;
		return 1;
	}
	if (!timed_out && r != NULL && PQstatus(*conn) == CONNECTION_OK &&
		PQresultErrorField(r, PG_DIAG_SQLSTATE) != NULL)
	{
		snprintf(sqlstate, sqlstate_size, "%s",
				 PQresultErrorField(r, PG_DIAG_SQLSTATE));
		PQclear(r);
		return 0;
	}
	/* connection lost or no answer in time: the outcome is unknown */
	if (timed_out)
		log_line("# no answer within %d ms, dropping the connection",
				 CALL_TIMEOUT_MS);
	if (r)
		PQclear(r);
	PQfinish(*conn);
	*conn = NULL;
	return -1;
}

/* a field of the one row, "-" when NULL */
static const char *
field(PGresult *res, int col)
{
	return PQgetisnull(res, 0, col) ? "-" : PQgetvalue(res, 0, col);
}

static int
int_arg(int argc, char **argv, int i, int dflt)
{
	return argc > i ? atoi(argv[i]) : dflt;
}

int
main(int argc, char **argv)
{
	const char *conninfo;
	const char *node;
	int64_t		deadline;
	int			nkeys,
				interval_us,
				unique_pct,
				ttl_pct,
				ttl_min_ms,
				ttl_max_ms,
				delete_pct,
				read_pct;
	long		unique_keys = 100000;
	struct sigaction sa;
	PGconn	   *conn = NULL;
	long		seq = 0;
	long		n_ok = 0,
				n_fail = 0,
				n_unknown = 0,
				n_read = 0;
	static char recent[RECENT_KEYS][64];
	long		n_recent = 0;

	if (argc < 6)
	{
		fprintf(stderr, "usage: %s CONNINFO NODE SECONDS LOGFILE SEED "
				"[HOT_KEYS [INTERVAL_US [UNIQUE_PCT [UNIQUE_KEYS "
				"[TTL_PCT [TTL_MIN_MS [TTL_MAX_MS [DELETE_PCT [READ_PCT]]]]]]]]]\n",
				argv[0]);
		return 2;
	}
	conninfo = argv[1];
	node = argv[2];
	deadline = now_ms() + (int64_t) (atof(argv[3]) * 1000);
	if ((logf = fopen(argv[4], "a")) == NULL)
	{
		perror(argv[4]);
		return 2;
	}
	rng_state = strtoull(argv[5], NULL, 10) * 2654435761u + 88172645463325252ull;
	for (const char *p = node; *p; p++)
		rng_state = rng_state * 31 + (unsigned char) *p;
	if (rng_state == 0)
		rng_state = 1;
	nkeys = int_arg(argc, argv, 6, 100);
	interval_us = int_arg(argc, argv, 7, 3000);
	unique_pct = int_arg(argc, argv, 8, 0);
	if (argc > 9)
		unique_keys = atol(argv[9]);
	ttl_pct = int_arg(argc, argv, 10, 0);
	ttl_min_ms = int_arg(argc, argv, 11, 300);
	ttl_max_ms = int_arg(argc, argv, 12, 3000);
	delete_pct = int_arg(argc, argv, 13, 0);
	read_pct = int_arg(argc, argv, 14, 0);
	if (nkeys < 1 || unique_keys < 1)
	{
		fprintf(stderr, "key spaces must not be empty\n");
		return 2;
	}
	if (ttl_min_ms < 1 || ttl_max_ms < ttl_min_ms)
	{
		fprintf(stderr, "need 1 <= TTL_MIN_MS <= TTL_MAX_MS\n");
		return 2;
	}

	/* no SA_RESTART: a poll() in progress returns at once */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handle_sigterm;
	sigaction(SIGTERM, &sa, NULL);

	while (now_ms() < deadline && !stop_requested)
	{
		char		key[64];
		char		value[64];
		char		ttl[32];
		char		interval[48];
		char		sqlstate[16];
		const char *params[3];
		const char *op;
		const char *sql;
		const char *shown;
		int			nparams;
		int			hot;
		int			rc;
		PGresult   *res;

		if (conn == NULL && (conn = connect_until(conninfo, deadline)) == NULL)
			break;

		++seq;
		hot = !((int) (next_random() % 100) < unique_pct);
		if (!hot)
			snprintf(key, sizeof(key), "u.%s.%ld", node, seq % unique_keys);
		else
			snprintf(key, sizeof(key), "f.%d", (int) (next_random() % nkeys));
		snprintf(value, sizeof(value), "%s.%ld", node, seq);
		snprintf(ttl, sizeof(ttl), "-");
		params[0] = key;
		/* two draws, as when one in twenty deleted with a NULL value */
		if (next_random() % 20 == 0 ||
			(hot && (int) (next_random() % 100) < delete_pct))
		{
			op = "del";
			sql = SQL_DEL;
			nparams = 1;
		}
		else if ((int) (next_random() % 100) < ttl_pct)
		{
			op = "ttl";
			sql = SQL_TTL;
			snprintf(ttl, sizeof(ttl), "%d",
					 ttl_min_ms + (int) (next_random() %
										 (uint64_t) (ttl_max_ms - ttl_min_ms + 1)));
			snprintf(interval, sizeof(interval), "%s milliseconds", ttl);
			params[1] = value;
			params[2] = interval;
			nparams = 3;
		}
		else
		{
			op = "set";
			sql = SQL_SET;
			params[1] = value;
			nparams = 2;
		}
		shown = strcmp(op, "del") == 0 ? "<deleted>" : value;

		log_line("attempt %s %s %s %s", op, key, shown, ttl);
		rc = call(&conn, sql, nparams, params, &res, sqlstate, sizeof(sqlstate));
		if (rc == 1)
		{
			const char *hlc = field(res, 0);
			const char *expires = strcmp(op, "ttl") == 0 ? field(res, 1) : "-";

			log_line("ok %s %s %s %s %s", op, key, shown, hlc, expires);
			n_ok++;
			PQclear(res);
		}
		else if (rc == 0)
		{
			log_line("fail %s %s %s %s", op, key, shown, sqlstate);
			n_fail++;
		}
		else
		{
			log_line("unknown %s %s %s", op, key, shown);
			n_unknown++;
		}
		/* whatever the outcome: a key it may have written */
		snprintf(recent[n_recent++ % RECENT_KEYS], sizeof(recent[0]), "%s", key);

		if (conn != NULL && (int) (next_random() % 100) < read_pct)
		{
			long		n = n_recent < RECENT_KEYS ? n_recent : RECENT_KEYS;
			const char *rkey = recent[next_random() % (uint64_t) n];
			int64_t		start = now_ms();

			params[0] = rkey;
			rc = call(&conn, SQL_GET, 1, params, &res, sqlstate, sizeof(sqlstate));
			if (rc == 1)
			{
				log_line("read %s %s %lld", rkey,
						 PQgetisnull(res, 0, 0) ? "<null>" : PQgetvalue(res, 0, 0),
						 (long long) start);
				n_read++;
				PQclear(res);
			}
			else if (rc == 0)
				log_line("read-fail %s %s %lld", rkey, sqlstate, (long long) start);
			else
				log_line("read-unknown %s %lld", rkey, (long long) start);
		}
		if (interval_us > 0)
			usleep(interval_us);
	}
	if (conn)
		PQfinish(conn);
	log_line("# done: %ld ok, %ld fail, %ld unknown, %ld reads", n_ok, n_fail,
			 n_unknown, n_read);
	fclose(logf);
	return 0;
}
