/*-------------------------------------------------------------------------
 * common/hlc.c
 *	  Hybrid logical clock arithmetic, its text form, and the
 *	  last-writer-wins order of the registers it stamps.
 *
 * Pure functions only (see common/hlc.h): no server headers, no allocation, no
 * global state, so that test/unit and test/fuzz can link this file alone.
 * The server's shared clock, which issues and witnesses HLCs, is clock.c.
 *
 * IDENTIFICATION	src/common/hlc.c
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "common/hlc.h"

/*
 * Order two clocks: by packed time, then by node id.  Returns <0, 0, >0.
 */
int
mantis_hlc_cmp(const MantisHLC *a, const MantisHLC *b)
{
	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	if (a->node != b->node)
		return a->node < b->node ? -1 : 1;
	return 0;
}

/*
 * The clock value of the next local event, given the last one issued and
 * the wall clock.  Strictly greater than "last" whatever the wall clock
 * does: when it stands still or steps back, the logical counter advances,
 * and when the counter is full it carries into the millisecond part, so a
 * burst of more than 65,535 writes in one millisecond borrows from the
 * next millisecond instead of wrapping.
 */
uint64_t
mantis_hlc_next(uint64_t last, uint64_t now_ms)
{
	uint64_t	wall;

	if (now_ms > MANTIS_HLC_MAX_MS)
		now_ms = MANTIS_HLC_MAX_MS;
	wall = mantis_hlc_pack(now_ms, 0);
	return wall > last ? wall : last + 1;
}

/*
 * Calendar conversions for the text form, after Howard Hinnant's
 * "chrono-compatible low-level date algorithms" (public domain).  They work
 * on days since 1970-01-01 in the proleptic Gregorian calendar.
 */
static void
civil_from_days(int64_t z, int *year, unsigned *month, unsigned *day)
{
	int64_t		era;
	unsigned	doe,
				yoe,
				doy,
				mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned) (z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*day = doy - (153 * mp + 2) / 5 + 1;
	*month = mp < 10 ? mp + 3 : mp - 9;
	*year = (int) (yoe + era * 400 + (*month <= 2));
}

static int64_t
days_from_civil(int year, unsigned month, unsigned day)
{
	int64_t		era;
	unsigned	yoe,
				doy,
				doe;

	year -= month <= 2;
	era = (year >= 0 ? year : year - 399) / 400;
	yoe = (unsigned) (year - era * 400);
	doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t) doe - 719468;
}

static const char hexdigits[] = "0123456789abcdef";

static void
put_decimal(char *out, unsigned value, int width)
{
	for (int i = width - 1; i >= 0; i--)
	{
		out[i] = (char) ('0' + value % 10);
		value /= 10;
	}
}

static void
put_hex(char *out, uint64_t value, int width)
{
	for (int i = width - 1; i >= 0; i--)
	{
		out[i] = hexdigits[value & 0xF];
		value >>= 4;
	}
}

static void
format_date_time(uint64_t secs, char *out)
{
	int			year;
	unsigned	month,
				day,
				sod = (unsigned) (secs % 86400);

	civil_from_days((int64_t) (secs / 86400), &year, &month, &day);
	put_decimal(out, (unsigned) year, 4);
	out[4] = '-';
	put_decimal(out + 5, month, 2);
	out[7] = '-';
	put_decimal(out + 8, day, 2);
	out[10] = 'T';
	put_decimal(out + 11, sod / 3600, 2);
	out[13] = ':';
	put_decimal(out + 14, sod / 60 % 60, 2);
	out[16] = ':';
	put_decimal(out + 17, sod % 60, 2);
}

/*
 * Write the fixed-width text form of an HLC into buf (at least
 * MANTIS_HLC_TEXT_SIZE bytes) and return its length:
 *
 *		2026-11-26T02:11:33.123Z-0001-0123456789abcdef
 *		UTC time to the millisecond, logical counter (4 hex digits), node id
 *		(16 hex digits)
 *
 * Every field is fixed-width and zero-padded, and hex digits are lower-case,
 * so byte-wise text order is HLC order.
 */
size_t
mantis_hlc_format(const MantisHLC *hlc, char *buf)
{
	MantisHLCTextCache cache = {0};

	return mantis_hlc_format_cached(hlc, buf, &cache);
}

/*
 * The same, for a caller that formats many HLCs (every write returns its
 * own): the second and the node, shared by successive HLCs, are formatted
 * only when they change.
 */
size_t
mantis_hlc_format_cached(const MantisHLC *hlc, char *buf, MantisHLCTextCache *cache)
{
	uint64_t	ms = mantis_hlc_ms(hlc->ts);

	if (ms > MANTIS_HLC_MAX_MS)
		ms = MANTIS_HLC_MAX_MS;
	if (!cache->valid || ms / 1000 != cache->secs)
		format_date_time(ms / 1000, cache->secs_text);
	if (!cache->valid || hlc->node != cache->node)
		put_hex(cache->node_text, hlc->node, 16);
	cache->secs = ms / 1000;
	cache->node = hlc->node;
	cache->valid = true;

	memcpy(buf, cache->secs_text, sizeof(cache->secs_text));
	buf[19] = '.';
	put_decimal(buf + 20, (unsigned) (ms % 1000), 3);
	buf[23] = 'Z';
	buf[24] = '-';
	put_hex(buf + 25, hlc->ts & MANTIS_HLC_LOGICAL_MASK, 4);
	buf[29] = '-';
	memcpy(buf + 30, cache->node_text, sizeof(cache->node_text));
	buf[MANTIS_HLC_TEXT_LEN] = '\0';
	return MANTIS_HLC_TEXT_LEN;
}

static bool
get_decimal(const char *in, int width, unsigned *value)
{
	*value = 0;
	for (int i = 0; i < width; i++)
	{
		if (in[i] < '0' || in[i] > '9')
			return false;
		*value = *value * 10 + (unsigned) (in[i] - '0');
	}
	return true;
}

static bool
get_hex(const char *in, int width, uint64_t *value)
{
	*value = 0;
	for (int i = 0; i < width; i++)
	{
		const char *d = memchr(hexdigits, in[i], 16);

		if (in[i] == '\0' || d == NULL)
			return false;
		*value = (*value << 4) | (uint64_t) (d - hexdigits);
	}
	return true;
}

/*
 * Parse the text form back; false unless "text" is exactly one well-formed
 * HLC (the inverse of mantis_hlc_format, also for the rejects).
 */
bool
mantis_hlc_parse(const char *text, size_t len, MantisHLC *hlc)
{
	unsigned	year,
				month,
				day,
				hour,
				minute,
				second,
				milli;
	uint64_t	logical,
				node;
	uint64_t	ms;

	if (len != MANTIS_HLC_TEXT_LEN ||
		text[4] != '-' || text[7] != '-' || text[10] != 'T' ||
		text[13] != ':' || text[16] != ':' || text[19] != '.' ||
		text[23] != 'Z' || text[24] != '-' || text[29] != '-')
		return false;
	if (!get_decimal(text, 4, &year) || !get_decimal(text + 5, 2, &month) ||
		!get_decimal(text + 8, 2, &day) || !get_decimal(text + 11, 2, &hour) ||
		!get_decimal(text + 14, 2, &minute) ||
		!get_decimal(text + 17, 2, &second) ||
		!get_decimal(text + 20, 3, &milli) ||
		!get_hex(text + 25, 4, &logical) || !get_hex(text + 30, 16, &node))
		return false;
	if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31 ||
		hour > 23 || minute > 59 || second > 59)
		return false;

	ms = (uint64_t) days_from_civil((int) year, month, day) * 86400000 +
		(uint64_t) hour * 3600000 + (uint64_t) minute * 60000 +
		(uint64_t) second * 1000 + milli;

	/* reject dates such as February 30 that normalise to another day */
	{
		int			y;
		unsigned	m,
					d;

		civil_from_days((int64_t) (ms / 86400000), &y, &m, &d);
		if ((unsigned) y != year || m != month || d != day)
			return false;
	}

	hlc->ts = mantis_hlc_pack(ms, logical);
	hlc->node = node;
	return true;
}

/*
 * The total order of registers: by HLC, then (only two writes with the same
 * HLC, which honest nodes never make, get this far) a deletion before a
 * value, then by expiry (the earlier first, "never" last), then by value
 * length and bytes.  Distinct registers never compare
 * equal, so the merge below picks the same winner on every node whatever
 * the order in which they arrive.
 */
int
mantis_register_cmp(const MantisRegisterView *a, const MantisRegisterView *b)
{
	int			c = mantis_hlc_cmp(&a->hlc, &b->hlc);

	if (c != 0)
		return c;
	if (a->deleted != b->deleted)
		return a->deleted ? -1 : 1;
	if (a->expires_ms != b->expires_ms)
	{
		/* 0, "never", counts as after every time */
		if (a->expires_ms == 0 || b->expires_ms == 0)
			return a->expires_ms == 0 ? 1 : -1;
		return a->expires_ms < b->expires_ms ? -1 : 1;
	}
	if (a->value_len != b->value_len)
		return a->value_len < b->value_len ? -1 : 1;
	if (a->value_len == 0)
		return 0;
	c = memcmp(a->value, b->value, a->value_len);
	return (c > 0) - (c < 0);
}

/*
 * Last-writer-wins: of two registers for one key, the greater one.  It
 * returns one of its arguments, never a blend, so merging is commutative,
 * associative and idempotent (test/unit/test_lww.c checks all three).
 */
const MantisRegisterView *
mantis_lww_merge(const MantisRegisterView *a, const MantisRegisterView *b)
{
	return mantis_register_cmp(a, b) >= 0 ? a : b;
}
