/*
 * slow_connect.c
 *	  An LD_PRELOAD library for the TAP tests: libzmq's I/O thread connects
 *	  to the TCP ports in MANTIS_SLOW_CONNECT_PORTS (comma-separated) slowly,
 *	  as on a loaded machine.
 *
 * A connect() of a thread named "ZMQbg/IO..." to one of those ports waits
 * for its outcome (up to 1 s), then MANTIS_SLOW_CONNECT_MS more (default
 * 100), and returns it: success, or the error (ECONNREFUSED for a port
 * where nothing listens).  libzmq then reports a refused connection to the
 * socket's monitor at once, at the end of that delay, rather than from a
 * later turn of its poll loop; so the event comes well after the socket
 * was made, as when the I/O thread lags behind the worker (test 065).
 * Every other connect() is left alone.
 *
 *	  gcc -shared -fPIC -o slow_connect.so slow_connect.c -ldl -lpthread
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef int (*connect_fn) (int, const struct sockaddr *, socklen_t);

/* whether port is in the list (a comma-separated list of numbers) */
static int
slow_port(int port)
{
	const char *list = getenv("MANTIS_SLOW_CONNECT_PORTS");

	while (list && *list)
	{
		char	   *end;
		long		p = strtol(list, &end, 10);

		if (end == list)
			return 0;
		if (p == port)
			return 1;
		list = *end == ',' ? end + 1 : end;
	}
	return 0;
}

static int
io_thread(void)
{
	char		name[16] = "";

	return pthread_getname_np(pthread_self(), name, sizeof(name)) == 0 &&
		strncmp(name, "ZMQbg/IO", 8) == 0;
}

int
connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	static connect_fn real = NULL;
	const char *ms = getenv("MANTIS_SLOW_CONNECT_MS");
	struct pollfd pfd = {fd, POLLOUT, 0};
	int			rc;
	int			err;
	int			outcome = 0;
	socklen_t	outcome_len = sizeof(outcome);

	if (real == NULL)
		real = (connect_fn) dlsym(RTLD_NEXT, "connect");
	if (addr == NULL || addr->sa_family != AF_INET ||
		!slow_port(ntohs(((const struct sockaddr_in *) addr)->sin_port)) || !io_thread())
		return real(fd, addr, len);

	rc = real(fd, addr, len);
	err = rc == 0 ? 0 : errno;
	if (rc != 0 && err == EINPROGRESS && poll(&pfd, 1, 1000) == 1 &&
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &outcome, &outcome_len) == 0)
	{
		rc = outcome == 0 ? 0 : -1;
		err = outcome;
	}
	usleep(1000 * (ms ? atoi(ms) : 100));
	errno = err;
	return rc;
}
