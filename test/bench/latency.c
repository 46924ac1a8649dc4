/*
 * latency.c — how long a mantis_set on one server takes to be readable on
 * another: for each sample, set a key on the writer, then read it on the
 * reader in a tight loop until the new value shows.  Prints p50, p90, p99
 * and max in milliseconds.
 *
 * usage: latency WRITER_CONNINFO READER_CONNINFO SAMPLES
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static void
prepare_or_die(PGconn *conn, const char *name, const char *sql, int nparams)
{
	PGresult   *res = PQprepare(conn, name, sql, nparams, NULL);

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		fprintf(stderr, "prepare failed: %s", PQerrorMessage(conn));
		exit(1);
	}
	PQclear(res);
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	PGconn	   *writer,
			   *reader;
	int			samples;
	double	   *lat;
	char		key[64];

	if (argc != 4)
	{
		fprintf(stderr, "usage: %s WRITER_CONNINFO READER_CONNINFO SAMPLES\n", argv[0]);
		return 2;
	}
	writer = connect_or_die(argv[1]);
	reader = connect_or_die(argv[2]);
	samples = atoi(argv[3]);
	lat = calloc(samples, sizeof(double));
	snprintf(key, sizeof(key), "bench.latency.%d", (int) getpid());
	prepare_or_die(writer, "set", "SELECT mantis_set($1, $2)", 2);
	prepare_or_die(reader, "get", "SELECT mantis_get($1)", 1);

	for (int i = 0; i < samples; i++)
	{
		char		value[32];
		const char *set_params[2] = {key, value};
		const char *get_params[1] = {key};
		double		t0;
		double		set_ms;
		double		slowest_poll;
		int			polls;
		PGresult   *res;
		struct timespec pause = {0, 2000000};

		snprintf(value, sizeof(value), "%d", i);
		t0 = now_ms();
		res = PQexecPrepared(writer, "set", 2, set_params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			fprintf(stderr, "set failed: %s", PQerrorMessage(writer));
			return 1;
		}
		PQclear(res);
		set_ms = now_ms() - t0;
		polls = 0;
		slowest_poll = 0;
		for (;;)
		{
			double		p0 = now_ms();

			int			seen;

			res = PQexecPrepared(reader, "get", 1, get_params, NULL, NULL, 0);
			seen = PQresultStatus(res) == PGRES_TUPLES_OK && !PQgetisnull(res, 0, 0) &&
				strcmp(PQgetvalue(res, 0, 0), value) == 0;
			PQclear(res);
			polls++;
			if (now_ms() - p0 > slowest_poll)
				slowest_poll = now_ms() - p0;
			if (seen)
				break;
			if (now_ms() - t0 > 10000)
			{
				fprintf(stderr, "sample %d not replicated within 10 s\n", i);
				return 1;
			}
		}
		lat[i] = now_ms() - t0;
		if (getenv("LATENCY_TRACE") && lat[i] > 10)
		{
			struct timespec wall;

			clock_gettime(CLOCK_REALTIME, &wall);
			fprintf(stderr, "slow sample %d: %.3f ms (set %.3f ms, %d polls, slowest %.3f ms), ended at %ld.%03ld\n",
					i, lat[i], set_ms, polls, slowest_poll,
					(long) wall.tv_sec, wall.tv_nsec / 1000000);
		}
		nanosleep(&pause, NULL);
	}
	qsort(lat, samples, sizeof(double), cmp_double);
	printf("samples %d  p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms\n",
		   samples, lat[samples / 2], lat[samples * 9 / 10], lat[samples * 99 / 100],
		   lat[samples - 1]);
	PQfinish(writer);
	PQfinish(reader);
	return 0;
}
