/*
 * mantis_probe.c
 *	  A hostile (or honest) ZeroMQ client of a mantis replication endpoint,
 *	  for the security and junk tests.
 *
 *	  mantis_probe [options] ENDPOINT COMMAND
 *
 * Commands:
 *	  raw		connect with a plain TCP socket and write random bytes, then
 *				ZMTP-looking garbage (tcp:// endpoints only)
 *	  junk		from sockets of every type that can reach a ROUTER and of types
 *				that cannot, send empty, tiny, huge and random messages,
 *				multi-part messages, frames with every header field wrong,
 *				truncated and padded frames, frames of the wrong type for the
 *				listener, out-of-order repair frames, and replays of a valid
 *				frame
 *	  set KEY VALUE
 *				send one well-formed UPDATES frame that sets KEY to VALUE,
 *				a live batch of its own (BATCH_END, the write's HLC as its
 *				watermark), speaking as --name (default "probe"), then wait
 *				--wait ms
 *	  silent N	open N connections at once (N DEALER sockets) that finish
 *				their handshake and send nothing, and keep them --wait ms
 *	  late		connect, wait --wait ms, then send a HELLO and close at once
 *				(the server reads the HELLO of a connection already gone)
 *	  hold N	open N connections at once (N DEALER sockets), send a HELLO
 *				on each, as --name-1 .. --name-N (as --name if N is 1), keep
 *				them --wait ms and count what comes back
 * Options:
 *	  --name NAME		node name the frames claim (its id is hashed from it)
 *	  --server-key Z85	CURVE: the server's public key
 *	  --key-file PATH	CURVE: our key pair (a mantis_keygen file)
 *	  --wait MS			how long to keep the socket open at the end (500)
 *	  --max-key-size N, --max-value-size N, --encoding NAME
 *						the limits "set" claims in its HELLO (1024, 1048576,
 *						UTF8): a server whose own differ refuses the probe;
 *						its horizons (acked, stable, collected) are 0: none
 *	  --seed N			random seed (1)
 *
 * Prints one line: how many messages were sent (for "hold", also how many
 * connections got an answer and how many messages came back: "sent S
 * answered A received R").  Exit status 0 unless the
 * probe itself failed (a refused connection is not a failure: it is what
 * the tests look for on the server side).
 *
 * Every well-formed frame is written by the encoder of its type in
 * src/common/frame.c; malformed ones are well-formed ones cut, padded or with
 * a field overwritten.  Built by build_probe() in test/perl/MantisTest.pm,
 * from this file and every src/common/*.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <zmq.h>

#include "common/hlc.h"
#include "common/frame.h"
#include "common/keyhash.h"

static const char *node_name = "probe";
static const char *server_key = NULL;
static char public_key[41];
static char secret_key[41];
static int	wait_ms = 500;
static uint32_t max_key_size = 1024;
static uint32_t max_value_size = 1024 * 1024;
static const char *encoding = "UTF8";
static int	sent = 0;
static uint64_t rng = 1;

static uint64_t
rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * UINT64_C(2685821657736338717);
}

static void
fill_random(unsigned char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char) rnd();
}

static void
read_key_file(const char *path)
{
	FILE	   *f = fopen(path, "r");
	char		line[256];

	if (!f)
	{
		perror(path);
		exit(1);
	}
	while (fgets(line, sizeof(line), f))
	{
		sscanf(line, "public = %40s", public_key);
		sscanf(line, "secret = %40s", secret_key);
	}
	fclose(f);
}

static void *
open_socket(void *ctx, int type, const char *endpoint)
{
	void	   *s = zmq_socket(ctx, type);
	int			zero = 0;
	int			one = 1;

	if (!s)
		return NULL;
	zmq_setsockopt(s, ZMQ_LINGER, &wait_ms, sizeof(wait_ms));
	zmq_setsockopt(s, ZMQ_SNDHWM, &zero, sizeof(zero));
	if (type == ZMQ_ROUTER)
		zmq_setsockopt(s, ZMQ_ROUTER_HANDOVER, &one, sizeof(one));
	if (type == ZMQ_SUB)
		zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
	if (server_key)
	{
		zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server_key, 40);
		zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, public_key, 40);
		zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, secret_key, 40);
	}
	if (zmq_connect(s, endpoint) != 0)
	{
		zmq_close(s);
		return NULL;
	}
	return s;
}

static void
send_bytes(void *s, const void *data, size_t len, int flags)
{
	if (zmq_send(s, data, len, flags | ZMQ_DONTWAIT) >= 0)
		sent++;
}

/* Header fields that the junk overwrites (common/frame.h has the layout) */
#define AT_VERSION	4
#define AT_TYPE		5
#define AT_FLAGS	6
#define AT_HLC		24
/* and in the prefix of UPDATES */
#define AT_GROUP		(MANTIS_FRAME_HEADER_SIZE + 4)
#define AT_WATERMARK	(MANTIS_FRAME_HEADER_SIZE + 4 + 2 + 4)

static void *
must_malloc(size_t size)
{
	void	   *p = malloc(size);

	if (!p)
	{
		perror("malloc");
		exit(1);
	}
	return p;
}

/* The header of our frames, claiming to come from node_name. */
static MantisFrameHeader
header(void)
{
	MantisFrameHeader h;

	h.version = 3;				/* what every server takes */
	h.sender = mantis_hash(node_name, strlen(node_name));
	h.incarnation = UINT64_C(0x1234);
	h.hlc = mantis_hlc_pack((uint64_t) time(NULL) * 1000, 0);
	h.flags = 0;
	return h;
}

/*
 * A HELLO or WELCOME claiming node_name and the limits of the options, and
 * no horizons (0: the probe holds nothing of anyone, collected nothing),
 * in memory of its own (free it); its size goes to *len.
 */
static unsigned char *
greeting_frame(int type, size_t *len)
{
	MantisFrameHeader h = header();
	MantisGreeting g;
	unsigned char *buf;

	memset(&g, 0, sizeof(g));
	g.name = node_name;
	g.name_len = strlen(node_name);
	g.max_key_size = max_key_size;
	g.max_value_size = max_value_size;
	g.encoding = encoding;
	g.encoding_len = strlen(encoding);
	g.acked = 0;
	g.stable = 0;
	g.collected = 0;
	if (!mantis_codec_name_is_valid(g.name, g.name_len) ||
		g.encoding_len == 0 || g.encoding_len > MANTIS_FRAME_ENCODING_MAX)
	{
		fprintf(stderr, "invalid --name or --encoding\n");
		exit(2);
	}
	buf = must_malloc(mantis_frame_greeting_frame_size(h.version, &g));
	*len = type == MANTIS_FRAME_HELLO ? mantis_frame_put_hello(buf, &h, &g) :
		mantis_frame_put_welcome(buf, &h, &g);
	return buf;
}

/*
 * A live UPDATES frame setting key to value, in memory of its own (free
 * it); its size goes to *len.  It is a batch of its own: BATCH_END, and as
 * its watermark the HLC of the write, which is also the frame's clock.
 */
static unsigned char *
updates_frame(const char *key, const char *value, size_t *len)
{
	MantisFrameHeader h = header();
	MantisRecord rec;
	struct timespec ts;
	unsigned char *buf;
	unsigned char *end;

	clock_gettime(CLOCK_REALTIME, &ts);
	rec.hlc.ts = mantis_hlc_pack((uint64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000, 0);
	rec.hlc.node = mantis_hash(node_name, strlen(node_name));
	rec.deleted = false;
	rec.expires_ms = 0;
	rec.key = key;
	rec.key_len = (uint32_t) strlen(key);
	rec.value = value;
	rec.value_len = (uint32_t) strlen(value);
	h.hlc = rec.hlc.ts;
	buf = must_malloc(MANTIS_FRAME_UPDATES_HEAD_SIZE + mantis_codec_register_size(&rec));
	mantis_frame_put_updates_head(buf, &h, 0, MANTIS_LIVE_GROUP);
	end = mantis_codec_put_register(buf + MANTIS_FRAME_UPDATES_HEAD_SIZE, &rec);
	mantis_frame_updates_set_count(buf, 1);
	mantis_frame_updates_end_batch(buf, rec.hlc.ts);
	*len = (size_t) (end - buf);
	return buf;
}

/*
 * A well-formed frame of each type but HELLO: what a listener never
 * receives (WELCOME, INSYNC, GROUPS), and repair frames out of any round
 * (an empty UPDATES of group 0, SUMMARY, LEAVES), all of round 0,
 * digests 0 and a mark of 0 (no live frame yet).  Written at buf (room for
 * a GROUPS frame); returns its size.
 */
static size_t
wrong_frame(unsigned char *buf, int type)
{
	static const uint64_t zeros[MANTIS_DIGEST_GROUPS > MANTIS_DIGEST_GROUP_LEAVES ?
								MANTIS_DIGEST_GROUPS : MANTIS_DIGEST_GROUP_LEAVES];
	MantisFrameHeader h = header();
	MantisLiveMark mark = {0, 0};
	unsigned char *welcome;
	size_t		n = 0;

	switch (type)
	{
		case MANTIS_FRAME_WELCOME:
			welcome = greeting_frame(MANTIS_FRAME_WELCOME, &n);
			memcpy(buf, welcome, n);
			free(welcome);
			return n;
		case MANTIS_FRAME_UPDATES:
			return mantis_frame_put_updates_head(buf, &h, 0, 0);
		case MANTIS_FRAME_SUMMARY:
			return mantis_frame_put_summary(buf, &h, 0, 0);
		case MANTIS_FRAME_INSYNC:
			return mantis_frame_put_insync(buf, &h, 0, &mark);
		case MANTIS_FRAME_GROUPS:
			return mantis_frame_put_groups(buf, &h, 0, &mark, zeros);
		case MANTIS_FRAME_LEAVES:
			return mantis_frame_put_leaves(buf, &h, 0, 0, zeros);
	}
	return n;
}

static void
probe_raw(const char *endpoint)
{
	const char *hostport = endpoint + 6;
	const char *colon = strrchr(hostport, ':');
	char		host[256];
	struct sockaddr_in addr;
	unsigned char buf[4096];

	if (strncmp(endpoint, "tcp://", 6) != 0 || !colon)
		return;
	snprintf(host, sizeof(host), "%.*s", (int) (colon - hostport), hostport);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t) atoi(colon + 1));
	inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, &addr.sin_addr);
	for (int round = 0; round < 20; round++)
	{
		int			fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0 || connect(fd, (struct sockaddr *) &addr, sizeof(addr)) != 0)
		{
			if (fd >= 0)
				close(fd);
			continue;
		}
		fill_random(buf, sizeof(buf));
		if (round % 2 == 1)
		{
			/* a ZMTP greeting, then garbage where the handshake should be */
			static const unsigned char greeting[] = {0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 0};

			memcpy(buf, greeting, sizeof(greeting));
		}
		if (write(fd, buf, 64 + round * 200) > 0)
			sent++;
		close(fd);
	}
}

static void
probe_junk(void *ctx, const char *endpoint)
{
	int			types[] = {ZMQ_DEALER, ZMQ_REQ, ZMQ_ROUTER, ZMQ_PUB, ZMQ_PUSH,
	ZMQ_PAIR, ZMQ_SUB, ZMQ_XPUB};
	static unsigned char buf[8 * 1024 * 1024];
	size_t		valid_len;
	unsigned char *valid = updates_frame("junk.valid", "replayed", &valid_len);

	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++)
	{
		void	   *s = open_socket(ctx, types[t], endpoint);
		size_t		n;

		if (!s)
			continue;
		usleep(50 * 1000);
		if (types[t] == ZMQ_ROUTER)
		{
			/* a ROUTER can only send to a routing id it knows: none */
			zmq_close(s);
			continue;
		}
		/* empty, tiny, random, huge */
		send_bytes(s, "", 0, 0);
		send_bytes(s, "M", 1, 0);
		send_bytes(s, "MNTZ", 4, 0);
		for (int i = 0; i < 50; i++)
		{
			n = 1 + rnd() % 2048;
			fill_random(buf, n);
			send_bytes(s, buf, n, 0);
		}
		fill_random(buf, sizeof(buf));
		send_bytes(s, buf, sizeof(buf), 0);
		/* multi-part */
		send_bytes(s, valid, valid_len, ZMQ_SNDMORE);
		send_bytes(s, valid, valid_len, 0);
		/*
		 * every header field wrong in turn, the fields of version 3 too
		 * (the valid frame ends a live batch), then a truncated and a
		 * padded frame
		 */
		for (int field = 0; field < 10; field++)
		{
			memcpy(buf, valid, valid_len);
			switch (field)
			{
				case 0:
					buf[0] = 'X';	/* magic */
					break;
				case 1:
					buf[AT_VERSION] = 99;
					break;
				case 2:
					buf[AT_TYPE] = 42;
					break;
				case 3:
					buf[AT_FLAGS] = 1;
					break;
				case 4:
					memset(buf + AT_HLC, 0xFF, 8);	/* clock beyond 9999 */
					break;
				case 5:
					mantis_frame_updates_set_count(buf, 0xFFFFFFFF);
					break;
				case 6:
					buf[AT_VERSION] = 2;	/* the previous protocol */
					break;
				case 7:
					mantis_put_u16(buf + AT_FLAGS, 0);	/* a watermark, no BATCH_END */
					break;
				case 8:
					mantis_put_u16(buf + AT_GROUP, 0);	/* a repair frame ending a batch */
					break;
				case 9:
					memset(buf + AT_WATERMARK, 0xFF, 8);	/* watermark beyond 9999 */
					break;
			}
			send_bytes(s, buf, valid_len, 0);
		}
		send_bytes(s, valid, valid_len - 3, 0);
		memcpy(buf, valid, valid_len);
		memset(buf + valid_len, 0, 16);
		send_bytes(s, buf, valid_len + 16, 0);
		/* frames a listener never receives, and repair out of order */
		for (int type = MANTIS_FRAME_WELCOME; type <= MANTIS_FRAME_LEAVES; type += 1)
		{
			n = wrong_frame(buf, type);
			send_bytes(s, buf, n, 0);
		}
		/* replays of one valid frame */
		for (int i = 0; i < 20; i++)
			send_bytes(s, valid, valid_len, 0);
		usleep(50 * 1000);
		zmq_close(s);
	}
	free(valid);
}

/*
 * Open n connections, greet on each, and count the answers for wait_ms
 * (at most 64 connections).
 */
static void
probe_hold(void *ctx, const char *endpoint, int n)
{
	void	   *socks[64];
	int			received[64];
	const char *name = node_name;
	char		names[64][32];
	int			answered = 0;
	int			total = 0;
	struct timespec start,
				now;

	n = n < 1 ? 1 : n > 64 ? 64 : n;
	for (int i = 0; i < n; i++)
	{
		unsigned char *buf;
		size_t		len;

		received[i] = 0;
		socks[i] = open_socket(ctx, ZMQ_DEALER, endpoint);
		if (!socks[i])
			continue;
		/* one connection speaks as --name itself, as its key may require */
		if (n == 1)
			snprintf(names[i], sizeof(names[i]), "%.31s", name);
		else
			snprintf(names[i], sizeof(names[i]), "%.20s-%d", name, i + 1);
		node_name = names[i];
		buf = greeting_frame(MANTIS_FRAME_HELLO, &len);
		send_bytes(socks[i], buf, len, 0);
		free(buf);
	}
	node_name = name;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;)
	{
		zmq_pollitem_t items[64];
		long		left;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = wait_ms - ((now.tv_sec - start.tv_sec) * 1000 +
						  (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0)
			break;
		for (int i = 0; i < n; i++)
		{
			items[i].socket = socks[i];
			items[i].fd = -1;
			items[i].events = socks[i] ? ZMQ_POLLIN : 0;
			items[i].revents = 0;
		}
		if (zmq_poll(items, n, left) <= 0)
			continue;
		for (int i = 0; i < n; i++)
		{
			char		buf[1024];

			while (socks[i] && zmq_recv(socks[i], buf, sizeof(buf), ZMQ_DONTWAIT) >= 0)
				received[i]++;
		}
	}
	for (int i = 0; i < n; i++)
	{
		answered += received[i] > 0;
		total += received[i];
		if (socks[i])
			zmq_close(socks[i]);
	}
	printf("sent %d answered %d received %d\n", sent, answered, total);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	const char *endpoint;
	const char *command;
	void	   *ctx;
	int			i = 1;

	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2)
	{
		if (i + 1 >= argc)
			break;
		if (strcmp(argv[i], "--name") == 0)
			node_name = argv[i + 1];
		else if (strcmp(argv[i], "--server-key") == 0)
			server_key = argv[i + 1];
		else if (strcmp(argv[i], "--key-file") == 0)
			read_key_file(argv[i + 1]);
		else if (strcmp(argv[i], "--wait") == 0)
			wait_ms = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--max-key-size") == 0)
			max_key_size = (uint32_t) strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--max-value-size") == 0)
			max_value_size = (uint32_t) strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--encoding") == 0)
			encoding = argv[i + 1];
		else if (strcmp(argv[i], "--seed") == 0)
			rng = (uint64_t) strtoull(argv[i + 1], NULL, 10) | 1;
	}
	if (argc - i < 2)
	{
		fprintf(stderr, "usage: %s [--name N] [--server-key K --key-file F] [--wait MS] [--seed N]\n"
				"\t[--max-key-size N] [--max-value-size N] [--encoding NAME] ENDPOINT raw|junk|set KEY VALUE|hold N|silent N|late\n", argv[0]);
		return 2;
	}
	endpoint = argv[i];
	command = argv[i + 1];
	if (server_key && public_key[0] == '\0')
		zmq_curve_keypair(public_key, secret_key);	/* a stranger's key */

	ctx = zmq_ctx_new();
	if (strcmp(command, "raw") == 0)
		probe_raw(endpoint);
	else if (strcmp(command, "junk") == 0)
		probe_junk(ctx, endpoint);
	else if (strcmp(command, "silent") == 0 && argc - i == 3)
	{
		void	   *socks[64];
		int			n = atoi(argv[i + 2]);

		n = n < 1 ? 1 : n > 64 ? 64 : n;
		for (int k = 0; k < n; k++)
			socks[k] = open_socket(ctx, ZMQ_DEALER, endpoint);
		usleep(wait_ms * 1000);
		for (int k = 0; k < n; k++)
			if (socks[k])
				zmq_close(socks[k]);
	}
	else if (strcmp(command, "late") == 0 && argc - i == 2)
	{
		void	   *s = open_socket(ctx, ZMQ_DEALER, endpoint);
		unsigned char *buf;
		size_t		n;
		int			linger = 5000;

		if (!s)
			return 1;
		usleep(wait_ms * 1000);
		buf = greeting_frame(MANTIS_FRAME_HELLO, &n);
		send_bytes(s, buf, n, 0);
		free(buf);
		zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
		zmq_close(s);
	}
	else if (strcmp(command, "hold") == 0 && argc - i == 3)
	{
		probe_hold(ctx, endpoint, atoi(argv[i + 2]));
		zmq_ctx_term(ctx);
		return 0;
	}
	else if (strcmp(command, "set") == 0 && argc - i == 4)
	{
		void	   *s = open_socket(ctx, ZMQ_DEALER, endpoint);
		unsigned char *buf;
		size_t		n;

		if (!s)
			return 1;
		/* say hello first, as a peer would, then the update */
		buf = greeting_frame(MANTIS_FRAME_HELLO, &n);
		send_bytes(s, buf, n, 0);
		free(buf);
		buf = updates_frame(argv[i + 2], argv[i + 3], &n);
		send_bytes(s, buf, n, 0);
		free(buf);
		usleep(wait_ms * 1000);
		zmq_close(s);
	}
	else
	{
		fprintf(stderr, "unknown command \"%s\"\n", command);
		return 2;
	}
	zmq_ctx_term(ctx);
	printf("sent %d\n", sent);
	return 0;
}
