/*
 * watch_latency.c — how long a mantis_set on one server takes to return
 * from a mantis_wait on another (or the same) server.
 *
 * usage: watch_latency WRITER_CONNINFO READER_CONNINFO SAMPLES [IDLE_WAITERS]
 *        watch_latency hold READER_CONNINFO WAITERS SECONDS [sleep]
 *
 * For each sample the reader sends mantis_wait(cursor, 'lat.', '10 s'),
 * lets it settle 2 ms (so that it sleeps: the wake is what is measured),
 * then the writer sets lat.<pid> (mantis.transactional off) and the time
 * from sending the set to the wait's rows arriving is the sample.  With
 * IDLE_WAITERS, that many other sessions wait on the reader for the prefix
 * 'idle.', which nothing writes, throughout.  Prints p50, p99 and max in
 * milliseconds.
 *
 * "hold" keeps WAITERS sessions waiting on 'idle.' for SECONDS (each 30-s wait
 * is sent again when it times out), for a throughput run beside them;
 * with "sleep", sessions in pg_sleep() instead: as many sessions doing
 * nothing, the floor of what waiting sessions cost a server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static PGconn *
connect_or_die(const char *conninfo)
{
	PGconn	   *conn = PQconnectdb(conninfo);

	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "connection failed: %s", PQerrorMessage(conn));
		exit(1);
	}
	return conn;
}

static char *
query_one(PGconn *conn, const char *sql)
{
	PGresult   *res = PQexec(conn, sql);
	char	   *v;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		fprintf(stderr, "%s failed: %s", sql, PQerrorMessage(conn));
		exit(1);
	}
	v = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

static void
send_wait(PGconn *conn, const char *cursor, const char *prefix, const char *timeout)
{
	const char *params[3] = {cursor, prefix, timeout};

	if (!PQsendQueryParams(conn, "SELECT key, cursor FROM mantis_wait($1, $2, $3::interval)",
						   3, NULL, params, NULL, NULL, 0))
	{
		fprintf(stderr, "send failed: %s", PQerrorMessage(conn));
		exit(1);
	}
}

/* Block until the pending query's result is in; returns it */
static PGresult *
await_result(PGconn *conn)
{
	PGresult   *res;
	PGresult   *last = NULL;

	while (PQisBusy(conn))
	{
		fd_set		rfds;
		int			sock = PQsocket(conn);

		FD_ZERO(&rfds);
		FD_SET(sock, &rfds);
		if (select(sock + 1, &rfds, NULL, NULL, NULL) < 0)
			continue;
		PQconsumeInput(conn);
	}
	while ((res = PQgetResult(conn)) != NULL)
	{
		if (last)
			PQclear(last);
		last = res;
	}
	if (PQresultStatus(last) != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "wait failed: %s", PQerrorMessage(conn));
		exit(1);
	}
	return last;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

/* n sessions waiting on 'idle.' from the reader's cursor now */
static PGconn **
idle_waiters(const char *conninfo, int n, const char *timeout)
{
	PGconn	  **w = calloc(n, sizeof(PGconn *));

	for (int i = 0; i < n; i++)
	{
		char	   *cursor;

		w[i] = connect_or_die(conninfo);
		cursor = query_one(w[i], "SELECT mantis_cursor()");
		send_wait(w[i], cursor, "idle.", timeout);
		free(cursor);
	}
	return w;
}

/* n sessions in pg_sleep(seconds): as many sessions, none in mantis */
static int
hold_sleeping(const char *conninfo, int n, int seconds)
{
	char		sql[64];

	snprintf(sql, sizeof(sql), "SELECT pg_sleep(%d)", seconds);
	for (int i = 0; i < n; i++)
	{
		PGconn	   *c = connect_or_die(conninfo);

		if (!PQsendQuery(c, sql))
		{
			fprintf(stderr, "send failed: %s", PQerrorMessage(c));
			exit(1);
		}
	}
	printf("holding %d sleepers\n", n);
	fflush(stdout);
	sleep(seconds);
	return 0;
}

static int
hold(const char *conninfo, int n, int seconds)
{
	PGconn	  **w = idle_waiters(conninfo, n, "30 s");
	double		end = now_ms() + seconds * 1000.0;

	printf("holding %d waiters\n", n);
	fflush(stdout);
	while (now_ms() < end)
	{
		for (int i = 0; i < n; i++)
		{
			PQconsumeInput(w[i]);
			if (!PQisBusy(w[i]))
			{
				PGresult   *res;
				char	   *cursor;

				while ((res = PQgetResult(w[i])) != NULL)
					PQclear(res);
				cursor = query_one(w[i], "SELECT mantis_cursor()");
				send_wait(w[i], cursor, "idle.", "30 s");
				free(cursor);
			}
		}
		usleep(100000);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	PGconn	   *writer,
			   *reader;
	int			samples;
	double	   *lat;
	char		key[64];
	char	   *cursor;
	struct timespec settle = {0, 2000000};

	if (argc == 6 && strcmp(argv[1], "hold") == 0 && strcmp(argv[5], "sleep") == 0)
		return hold_sleeping(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc == 5 && strcmp(argv[1], "hold") == 0)
		return hold(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc != 4 && argc != 5)
	{
		fprintf(stderr, "usage: %s WRITER_CONNINFO READER_CONNINFO SAMPLES [IDLE_WAITERS]\n"
				"       %s hold READER_CONNINFO WAITERS SECONDS [sleep]\n", argv[0], argv[0]);
		return 2;
	}
	writer = connect_or_die(argv[1]);
	reader = connect_or_die(argv[2]);
	samples = atoi(argv[3]);
	if (argc == 5)
		(void) idle_waiters(argv[2], atoi(argv[4]), "600 s");
	lat = calloc(samples, sizeof(double));
	snprintf(key, sizeof(key), "lat.%d", (int) getpid());
	PQclear(PQexec(writer, "SET mantis.transactional = off"));
	cursor = query_one(reader, "SELECT mantis_cursor()");

	for (int i = 0; i < samples; i++)
	{
		char		value[32];
		const char *params[2] = {key, value};
		PGresult   *res;
		double		t0;

		send_wait(reader, cursor, "lat.", "10 s");
		nanosleep(&settle, NULL);
		snprintf(value, sizeof(value), "%d", i);
		t0 = now_ms();
		res = PQexecParams(writer, "SELECT mantis_set($1, $2)", 2, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			fprintf(stderr, "set failed: %s", PQerrorMessage(writer));
			return 1;
		}
		PQclear(res);
		res = await_result(reader);
		lat[i] = now_ms() - t0;
		if (PQntuples(res) == 0)
		{
			fprintf(stderr, "sample %d: the wait timed out\n", i);
			return 1;
		}
		free(cursor);
		cursor = strdup(PQgetvalue(res, PQntuples(res) - 1, 1));
		PQclear(res);
	}
	qsort(lat, samples, sizeof(double), cmp_double);
	printf("p50 %.3f ms, p99 %.3f ms, max %.3f ms (%d samples)\n",
		   lat[samples / 2], lat[(int) (samples * 0.99)], lat[samples - 1], samples);
	return 0;
}
