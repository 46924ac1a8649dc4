/*
 * latency.c — how long a mantis_set on one server takes to be readable on
 * others: for each sample, set a key on the writer, then read it on every
 * reader, all readers at once (libpq's asynchronous calls), again and again
 * until each shows the new value.  A sample ends when the last reader sees
 * it.  Prints p50, p90, p99 and max in milliseconds; with several readers,
 * a second line gives the same over every (sample, reader) pair: when one
 * server, any of them, sees a write.
 *
 * usage: latency WRITER_CONNINFO READER_CONNINFO [READER_CONNINFO ...] SAMPLES
 *
 * LATENCY_SWEEP_US=N pauses N microseconds between two sweeps of the
 * readers (default none: on 10 servers of a 2-core machine, 200 or 1000 us
 * left the percentiles where they were, so the polls do not slow the
 * replication they measure); LATENCY_TRACE=1 prints samples over 10 ms.
 */
#include <stdbool.h>
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

static void
print_percentiles(const char *label, double *lat, int n)
{
	qsort(lat, n, sizeof(double), cmp_double);
	printf("%ssamples %d  p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms\n",
		   label, n, lat[n / 2], lat[n * 9 / 10], lat[n * 99 / 100], lat[n - 1]);
}

/*
 * Send the read to every reader that has not seen the value yet, then
 * collect the answers; seen_ms[r] is set for those that see it now.
 * Returns the number of polls sent.
 */
static int
poll_readers(PGconn **readers, int nreaders, const char *key,
			 const char *value, double t0, double *seen_ms, double *slowest)
{
	const char *get_params[1] = {key};
	double		p0 = now_ms();
	int			sent = 0;

	for (int r = 0; r < nreaders; r++)
	{
		if (seen_ms[r] >= 0)
			continue;
		if (!PQsendQueryPrepared(readers[r], "get", 1, get_params, NULL, NULL, 0))
		{
			fprintf(stderr, "get failed: %s", PQerrorMessage(readers[r]));
			exit(1);
		}
		sent++;
	}
	for (int r = 0; r < nreaders; r++)
	{
		PGresult   *res;
		bool		seen = false;

		if (seen_ms[r] >= 0)
			continue;
		while ((res = PQgetResult(readers[r])) != NULL)
		{
			if (PQresultStatus(res) == PGRES_TUPLES_OK && !PQgetisnull(res, 0, 0) &&
				strcmp(PQgetvalue(res, 0, 0), value) == 0)
				seen = true;
			PQclear(res);
		}
		if (seen)
			seen_ms[r] = now_ms() - t0;
	}
	if (now_ms() - p0 > *slowest)
		*slowest = now_ms() - p0;
	return sent;
}

int
main(int argc, char **argv)
{
	PGconn	   *writer;
	PGconn	  **readers;
	int			nreaders;
	int			samples;
	double	   *lat;
	double	   *each;
	double	   *seen_ms;
	char		key[64];
	struct timespec sweep_pause = {0, 0};

	if (argc < 4)
	{
		fprintf(stderr, "usage: %s WRITER_CONNINFO READER_CONNINFO [READER_CONNINFO ...] SAMPLES\n", argv[0]);
		return 2;
	}
	writer = connect_or_die(argv[1]);
	nreaders = argc - 3;
	readers = calloc(nreaders, sizeof(PGconn *));
	for (int r = 0; r < nreaders; r++)
		readers[r] = connect_or_die(argv[2 + r]);
	samples = atoi(argv[argc - 1]);
	if (samples < 1)
	{
		fprintf(stderr, "SAMPLES must be at least 1\n");
		return 2;
	}
	lat = calloc(samples, sizeof(double));
	each = calloc((size_t) samples * nreaders, sizeof(double));
	seen_ms = calloc(nreaders, sizeof(double));
	if (getenv("LATENCY_SWEEP_US"))
		sweep_pause.tv_nsec = atol(getenv("LATENCY_SWEEP_US")) * 1000;
	snprintf(key, sizeof(key), "bench.latency.%d", (int) getpid());
	prepare_or_die(writer, "set", "SELECT mantis_set($1, $2)", 2);
	for (int r = 0; r < nreaders; r++)
		prepare_or_die(readers[r], "get", "SELECT mantis_get($1)", 1);

	for (int i = 0; i < samples; i++)
	{
		char		value[32];
		const char *set_params[2] = {key, value};
		double		t0;
		double		set_ms;
		double		slowest_poll = 0;
		int			polls = 0;
		int			left = nreaders;
		PGresult   *res;
		struct timespec pause = {0, 2000000};

		snprintf(value, sizeof(value), "%d", i);
		for (int r = 0; r < nreaders; r++)
			seen_ms[r] = -1;
		t0 = now_ms();
		res = PQexecPrepared(writer, "set", 2, set_params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			fprintf(stderr, "set failed: %s", PQerrorMessage(writer));
			return 1;
		}
		PQclear(res);
		set_ms = now_ms() - t0;
		while (left > 0)
		{
			if (polls > 0 && sweep_pause.tv_nsec > 0)
				nanosleep(&sweep_pause, NULL);
			polls += poll_readers(readers, nreaders, key, value, t0, seen_ms, &slowest_poll);
			left = 0;
			for (int r = 0; r < nreaders; r++)
				left += seen_ms[r] < 0;
			if (left > 0 && now_ms() - t0 > 10000)
			{
				fprintf(stderr, "sample %d not replicated to %d readers within 10 s\n", i, left);
				return 1;
			}
		}
		lat[i] = 0;
		for (int r = 0; r < nreaders; r++)
		{
			each[(size_t) i * nreaders + r] = seen_ms[r];
			if (seen_ms[r] > lat[i])
				lat[i] = seen_ms[r];
		}
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
	if (nreaders == 1)
		print_percentiles("", lat, samples);
	else
	{
		print_percentiles("every reader: ", lat, samples);
		print_percentiles("each reader:  ", each, samples * nreaders);
	}
	PQfinish(writer);
	for (int r = 0; r < nreaders; r++)
		PQfinish(readers[r]);
	return 0;
}
