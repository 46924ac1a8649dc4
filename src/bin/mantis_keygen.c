/*-------------------------------------------------------------------------
 * bin/mantis_keygen.c
 *	  mantis_keygen: create a CURVE key pair for one mantis server.
 *
 *	  mantis_keygen NODE_NAME KEY_FILE
 *
 * Writes the key pair to KEY_FILE (created with mode 0600; an existing file
 * is never overwritten), for mantis.curve_secret_key_file, and prints the
 * line that every peer adds to its mantis.curve_peers_file:
 *
 *		NODE_NAME PUBLIC_KEY
 *
 * (followed, on peers that connect to this server, by its endpoint).  The
 * secret key is written only to the file, never to the terminal.
 *
 * IDENTIFICATION	src/bin/mantis_keygen.c
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

static int
valid_name(const char *name)
{
	size_t		len = strlen(name);

	if (len == 0 || len > 63)
		return 0;
	for (const char *p = name; *p; p++)
	{
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return 0;
	}
	return 1;
}

int
main(int argc, char **argv)
{
	char		public_key[41];
	char		secret_key[41];
	char		text[256];
	int			fd;
	int			len;

	if (argc != 3 || !valid_name(argv[1]))
	{
		fprintf(stderr,
				"usage: %s NODE_NAME KEY_FILE\n"
				"Creates KEY_FILE (mode 0600) with a CURVE key pair for the mantis server named\n"
				"NODE_NAME (1-63 letters, digits, '.', '_', '-') and prints its line for\n"
				"mantis.curve_peers_file.\n", argv[0]);
		return 2;
	}
	if (zmq_curve_keypair(public_key, secret_key) != 0)
	{
		fprintf(stderr, "%s: could not create a key pair: %s\n", argv[0], zmq_strerror(zmq_errno()));
		return 1;
	}
	fd = open(argv[2], O_WRONLY | O_CREAT | O_EXCL, S_IRUSR | S_IWUSR);
	if (fd < 0)
	{
		fprintf(stderr, "%s: could not create \"%s\": %s\n", argv[0], argv[2], strerror(errno));
		return 1;
	}
	len = snprintf(text, sizeof(text),
				   "# mantis CURVE key pair of node %s: mantis.curve_secret_key_file\n"
				   "# keep it secret: mode 0600, owned by the database user\n"
				   "public = %s\nsecret = %s\n", argv[1], public_key, secret_key);
	if (write(fd, text, len) != len || fsync(fd) != 0 || close(fd) != 0)
	{
		fprintf(stderr, "%s: could not write \"%s\": %s\n", argv[0], argv[2], strerror(errno));
		unlink(argv[2]);
		return 1;
	}
	memset(secret_key, 0, sizeof(secret_key));
	memset(text, 0, sizeof(text));
	printf("%s %s\n", argv[1], public_key);
	return 0;
}
