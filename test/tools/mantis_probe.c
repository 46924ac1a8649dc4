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
 *				speaking as --name (default "probe"), then wait --wait ms
 * Options:
 *	  --name NAME		node name the frames claim (its id is hashed from it)
 *	  --server-key Z85	CURVE: the server's public key
 *	  --key-file PATH	CURVE: our key pair (a mantis_keygen file)
 *	  --wait MS			how long to keep the socket open at the end (500)
 *	  --max-key-size N, --max-value-size N, --encoding NAME
 *						the limits "set" claims in its HELLO (1024, 1048576,
 *						UTF8): a server whose own differ refuses the probe
 *	  --seed N			random seed (1)
 *
 * Prints one line: how many messages were sent.  Exit status 0 unless the
 * probe itself failed (a refused connection is not a failure: it is what
 * the tests look for on the server side).
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

#include "lww.h"
#include "frame.h"
#include "keyhash.h"

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

/* A frame header claiming to come from node_name. */
static size_t
header(unsigned char *p, int type)
{
	mantis_frame_put_header(p, type, mantis_hash(node_name, strlen(node_name)),
							UINT64_C(0x1234), mantis_hlc_pack((uint64_t) time(NULL) * 1000, 0));
	return MANTIS_FRAME_HEADER_SIZE;
}

/* The greeting of a HELLO, claiming node_name and the limits of the options. */
static unsigned char *
hello_body(unsigned char *p)
{
	MantisGreeting g;

	g.name = node_name;
	g.name_len = strlen(node_name);
	g.max_key_size = max_key_size;
	g.max_value_size = max_value_size;
	g.encoding = encoding;
	g.encoding_len = strlen(encoding);
	if (!mantis_codec_name_is_valid(g.name, g.name_len) ||
		g.encoding_len == 0 || g.encoding_len > MANTIS_FRAME_ENCODING_MAX)
	{
		fprintf(stderr, "invalid --name or --encoding\n");
		exit(2);
	}
	return mantis_frame_put_greeting(p, &g);
}

static size_t
updates_frame(unsigned char *buf, const char *key, const char *value)
{
	MantisRecord rec;
	size_t		n = header(buf, MANTIS_FRAME_UPDATES);
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	rec.hlc.ts = mantis_hlc_pack((uint64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000, 0);
	rec.hlc.node = mantis_hash(node_name, strlen(node_name));
	rec.deleted = false;
	rec.key = key;
	rec.key_len = (uint32_t) strlen(key);
	rec.value = value;
	rec.value_len = (uint32_t) strlen(value);
	mantis_put_u32(buf + n, 0);
	mantis_put_u16(buf + n + 4, MANTIS_LIVE_GROUP);
	mantis_put_u32(buf + n + 6, 1);
	n += MANTIS_UPDATES_PREFIX_SIZE;
	return (size_t) (mantis_codec_put_register(buf + n, &rec) - buf);
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
	unsigned char valid[4096];
	size_t		valid_len = updates_frame(valid, "junk.valid", "replayed");

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
		/* every header field wrong in turn, then a truncated and a padded frame */
		for (int field = 0; field < 6; field++)
		{
			memcpy(buf, valid, valid_len);
			switch (field)
			{
				case 0:
					buf[0] = 'X';
					break;
				case 1:
					buf[4] = 99;	/* version */
					break;
				case 2:
					buf[5] = 42;	/* type */
					break;
				case 3:
					buf[6] = 1; /* flags */
					break;
				case 4:
					memset(buf + 24, 0xFF, 8);	/* clock beyond 9999 */
					break;
				case 5:
					mantis_put_u32(buf + MANTIS_FRAME_HEADER_SIZE + 6, 0xFFFFFFFF); /* count */
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
			n = header(buf, type);
			memset(buf + n, 0, 4 + 2 + 8 * 256);
			send_bytes(s, buf, n + (type == MANTIS_FRAME_GROUPS ? 4 + 8 * 256 :
									type == MANTIS_FRAME_LEAVES ? 4 + 2 + 8 * 256 :
									type == MANTIS_FRAME_INSYNC ? 4 :
									type == MANTIS_FRAME_SUMMARY ? 12 : 1), 0);
		}
		/* replays of one valid frame */
		for (int i = 0; i < 20; i++)
			send_bytes(s, valid, valid_len, 0);
		usleep(50 * 1000);
		zmq_close(s);
	}
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
				"\t[--max-key-size N] [--max-value-size N] [--encoding NAME] ENDPOINT raw|junk|set KEY VALUE\n", argv[0]);
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
	else if (strcmp(command, "set") == 0 && argc - i == 4)
	{
		void	   *s = open_socket(ctx, ZMQ_DEALER, endpoint);
		unsigned char buf[4096];
		size_t		n;

		if (!s)
			return 1;
		/* say hello first, as a peer would, then the update */
		n = header(buf, MANTIS_FRAME_HELLO);
		n = (size_t) (hello_body(buf + n) - buf);
		send_bytes(s, buf, n, 0);
		n = updates_frame(buf, argv[i + 2], argv[i + 3]);
		send_bytes(s, buf, n, 0);
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
