/*-------------------------------------------------------------------------
 *
 * writer.c
 *		A client of the fault-injection test (test/t/005_faults.pl): for a
 *		given number of seconds it sets random keys of a small key space on
 *		one mantis server and records every operation in a log, so that the
 *		test can check afterwards what was acknowledged, what failed and what
 *		has an unknown outcome.
 *
 * Usage: writer CONNINFO NODE SECONDS LOGFILE SEED
 *				 [HOT_KEYS [INTERVAL_US [UNIQUE_PCT [UNIQUE_KEYS]]]]
 *
 * Each write picks a key, a unique value "<NODE>.<seq>" (or, one time in
 * twenty, a deletion), and sleeps INTERVAL_US (default 3000) after it.  The
 * key is one of the small shared key space "f.0".."f.<HOT_KEYS-1>" (default
 * 100), which every writer hits, or, for UNIQUE_PCT percent of the writes
 * (default 0), "u.<NODE>.<seq mod UNIQUE_KEYS>", a key that no other write
 * touches for a long time, so that losing that write cannot be hidden by a
 * later one.  It logs, one line each, flushed at once, the last field always
 * the wall-clock time in Unix milliseconds:
 *
 *		attempt <key> <value> <ms>			before sending
 *		ok <key> <value> <hlc> <ms>			mantis_set returned <hlc>
 *		fail <key> <value> <sqlstate> <ms>	an error, the connection still up
 *		unknown <key> <value> <ms>			the connection was lost (or the
 *											server did not answer in time):
 *											the write may or may not be done
 *
 * where <value> is "<deleted>" for a deletion.  It writes with
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

int
main(int argc, char **argv)
{
	const char *conninfo;
	const char *node;
	int64_t		deadline;
	int			nkeys = 100;
	int			interval_us = 3000;
	int			unique_pct = 0;
	long		unique_keys = 100000;
	struct sigaction sa;
	PGconn	   *conn = NULL;
	long		seq = 0;
	long		n_ok = 0,
				n_fail = 0,
				n_unknown = 0;

	if (argc < 6)
	{
		fprintf(stderr, "usage: %s CONNINFO NODE SECONDS LOGFILE SEED "
				"[HOT_KEYS [INTERVAL_US [UNIQUE_PCT [UNIQUE_KEYS]]]]\n",
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
	if (argc > 6)
		nkeys = atoi(argv[6]);
	if (argc > 7)
		interval_us = atoi(argv[7]);
	if (argc > 8)
		unique_pct = atoi(argv[8]);
	if (argc > 9)
		unique_keys = atol(argv[9]);
	if (nkeys < 1 || unique_keys < 1)
	{
		fprintf(stderr, "key spaces must not be empty\n");
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
		const char *params[2];
		const char *shown;
		int			is_delete;
		int			timed_out;
		PGresult   *res;

		if (conn == NULL && (conn = connect_until(conninfo, deadline)) == NULL)
			break;

		++seq;
		if ((int) (next_random() % 100) < unique_pct)
			snprintf(key, sizeof(key), "u.%s.%ld", node, seq % unique_keys);
		else
			snprintf(key, sizeof(key), "f.%d", (int) (next_random() % nkeys));
		is_delete = next_random() % 20 == 0;
		snprintf(value, sizeof(value), "%s.%ld", node, seq);
		shown = is_delete ? "<deleted>" : value;
		params[0] = key;
		params[1] = is_delete ? NULL : value;

		log_line("attempt %s %s", key, shown);
		if (!PQsendQueryParams(conn, "SELECT mantis_set($1, $2)", 2, NULL,
							   params, NULL, NULL, 0))
		{
			log_line("unknown %s %s", key, shown);
			n_unknown++;
			PQfinish(conn);
			conn = NULL;
			continue;
		}
		res = wait_result(conn, &timed_out);
		if (!timed_out && res != NULL &&
			PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		{
			log_line("ok %s %s %s", key, shown, PQgetvalue(res, 0, 0));
			n_ok++;
		}
		else if (!timed_out && res != NULL &&
				 PQstatus(conn) == CONNECTION_OK &&
				 PQresultErrorField(res, PG_DIAG_SQLSTATE) != NULL)
		{
			log_line("fail %s %s %s", key, shown,
					 PQresultErrorField(res, PG_DIAG_SQLSTATE));
			n_fail++;
		}
		else
		{
			/* connection lost or no answer in time: the outcome is unknown */
			log_line("unknown %s %s", key, shown);
			n_unknown++;
			if (timed_out)
				log_line("# no answer within %d ms, dropping the connection",
						 CALL_TIMEOUT_MS);
			PQfinish(conn);
			conn = NULL;
		}
		if (res)
			PQclear(res);
		if (interval_us > 0)
			usleep(interval_us);
	}
	if (conn)
		PQfinish(conn);
	log_line("# done: %ld ok, %ld fail, %ld unknown", n_ok, n_fail, n_unknown);
	fclose(logf);
	return 0;
}
