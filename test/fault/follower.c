/*-------------------------------------------------------------------------
 *
 * follower.c
 *		A reader of the change feed for the fault-injection test
 *		(test/t/005_faults.pl): it follows one mantis server with
 *		mantis_wait() through every fault the nemesis injects, resuming from
 *		its cursor after a lost connection or a restart and loading every
 *		register again when the server says it cannot answer the cursor
 *		(SQLSTATE MT001), and records every row it is given, so that the test
 *		can check that every register the server holds at the end was
 *		delivered to its follower at least once.
 *
 * Usage: follower CONNINFO LOGFILE
 *
 * Runs until SIGTERM.  Logs, one line each, flushed at once:
 *
 *		row <key> <hlc> <deleted t|f>	a row of an answer
 *		cursor <cursor>					the cursor of the answer after its rows
 *		load							a snapshot follows (start, or MT001)
 *		# <text>						what happened (connections, errors)
 *
 * Keys and HLCs hold no spaces (the writers' keys are "f.N" and "u.NODE.N").
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#define RECONNECT_US	100000
#define CURSOR_MAX		128

static volatile sig_atomic_t stop_requested = 0;
static FILE *logf;

static void
on_term(int sig)
{
	(void) sig;
	stop_requested = 1;
}

static void
log_line(const char *fmt, const char *a, const char *b, const char *c)
{
	fprintf(logf, fmt, a, b, c);
	fputc('\n', logf);
	fflush(logf);
}

static PGconn *
connect_retrying(const char *conninfo)
{
	char		full[4096];

	snprintf(full, sizeof(full),
			 "%s connect_timeout=2 keepalives=1 keepalives_idle=1 "
			 "keepalives_interval=1 keepalives_count=2 tcp_user_timeout=3000 "
			 "options='-c statement_timeout=10000'", conninfo);
	while (!stop_requested)
	{
		PGconn	   *conn = PQconnectdb(full);

		if (PQstatus(conn) == CONNECTION_OK)
		{
			log_line("# connected", "", "", "");
			return conn;
		}
		PQfinish(conn);
		usleep(RECONNECT_US);
	}
	return NULL;
}

/*
 * Log the rows of an answer (key, hlc, deleted, cursor) and keep its
 * cursor; an answer without rows keeps the cursor we had.
 */
static void
take_rows(PGresult *res, char *cursor)
{
	int			n = PQntuples(res);

	for (int i = 0; i < n; i++)
		log_line("row %s %s %s", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
				 PQgetvalue(res, i, 2));
	if (n > 0)
	{
		snprintf(cursor, CURSOR_MAX, "%s", PQgetvalue(res, n - 1, 3));
		log_line("cursor %s", cursor, "", "");
	}
}

/*
 * Every live register, from a cursor taken first (mantis_changes(NULL)
 * carries one on each row; with no row, mantis_cursor() before it is the
 * one to follow).  False if the query failed.
 */
static bool
load_all(PGconn *conn, char *cursor)
{
	PGresult   *res = PQexec(conn, "SELECT mantis_cursor()");
	bool		ok = PQresultStatus(res) == PGRES_TUPLES_OK;

	if (ok)
		snprintf(cursor, CURSOR_MAX, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	if (!ok)
		return false;
	log_line("load", "", "", "");
	res = PQexec(conn, "SELECT key, hlc, deleted, cursor FROM mantis_changes(NULL)");
	ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	if (ok)
		take_rows(res, cursor);
	PQclear(res);
	if (ok)
		log_line("cursor %s", cursor, "", "");
	return ok;
}

int
main(int argc, char **argv)
{
	char		cursor[CURSOR_MAX] = "";
	PGconn	   *conn = NULL;

	if (argc != 3)
	{
		fprintf(stderr, "usage: %s CONNINFO LOGFILE\n", argv[0]);
		return 2;
	}
	if ((logf = fopen(argv[2], "a")) == NULL)
	{
		perror(argv[2]);
		return 2;
	}
	signal(SIGTERM, on_term);
	signal(SIGPIPE, SIG_IGN);

	while (!stop_requested)
	{
		const char *params[1];
		PGresult   *res;
		const char *state;

		if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
		{
			PQfinish(conn);
			if ((conn = connect_retrying(argv[1])) == NULL)
				break;
		}
		if (cursor[0] == '\0')
		{
			if (!load_all(conn, cursor))
			{
				log_line("# cannot load: %s", PQerrorMessage(conn), "", "");
				cursor[0] = '\0';
				usleep(RECONNECT_US);
			}
			continue;
		}
		params[0] = cursor;
		res = PQexecParams(conn,
						   "SELECT key, hlc, deleted, cursor FROM mantis_wait($1, '', '1 second')",
						   1, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) == PGRES_TUPLES_OK)
		{
			take_rows(res, cursor);
			PQclear(res);
			continue;
		}
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		log_line("# %s: %s", state ? state : "-", PQerrorMessage(conn), "");
		if (state != NULL && strcmp(state, "MT001") == 0)
			cursor[0] = '\0';	/* load everything again */
		else
			usleep(RECONNECT_US);	/* a restart, a dropped extension: again */
		PQclear(res);
	}
	PQfinish(conn);
	fclose(logf);
	return 0;
}
