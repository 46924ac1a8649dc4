/*-------------------------------------------------------------------------
 * fuzz_hlc.c
 *	  libFuzzer harness for mantis_hlc_parse(), the reader of the text form
 *	  of a hybrid logical clock (mantis_hlc values typed in by users).
 *
 * Parsing must accept exactly what mantis_hlc_format() writes: whatever
 * parses formats back to the very same bytes.  In the other direction, the
 * first 16 bytes of the input, read as a clock, must format to text that
 * parses back to that clock (its wall-clock part clamped as the formatter
 * clamps it).
 *
 * IDENTIFICATION	test/fuzz/fuzz_hlc.c
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "common/hlc.h"
#include "fuzz_util.h"

/* parse -> format is the identity on everything that parses */
static void
check_parse(const uint8_t *data, size_t size)
{
	MantisHLC	hlc;
	char		text[MANTIS_HLC_TEXT_SIZE];

	if (!mantis_hlc_parse((const char *) data, size, &hlc))
		return;
	FUZZ_CHECK(size == MANTIS_HLC_TEXT_LEN);
	FUZZ_CHECK(mantis_hlc_ms(hlc.ts) <= MANTIS_HLC_MAX_MS);
	FUZZ_CHECK(mantis_hlc_format(&hlc, text) == MANTIS_HLC_TEXT_LEN);
	FUZZ_CHECK(text[MANTIS_HLC_TEXT_LEN] == '\0');
	FUZZ_CHECK(memcmp(text, data, MANTIS_HLC_TEXT_LEN) == 0);
}

static uint64_t
get_u64_padded(const uint8_t *data, size_t size, size_t offset)
{
	uint64_t	v = 0;

	for (size_t i = offset; i < offset + 8; i++)
		v = (v << 8) | (i < size ? data[i] : 0);
	return v;
}

/* format -> parse is the identity on every clock the formatter can show */
static void
check_format(const uint8_t *data, size_t size)
{
	MantisHLC	hlc;
	MantisHLC	back;
	char		text[MANTIS_HLC_TEXT_SIZE];
	uint64_t	ms;

	hlc.ts = get_u64_padded(data, size, 0);
	hlc.node = get_u64_padded(data, size, 8);
	FUZZ_CHECK(mantis_hlc_format(&hlc, text) == MANTIS_HLC_TEXT_LEN);
	FUZZ_CHECK(strlen(text) == MANTIS_HLC_TEXT_LEN);
	FUZZ_CHECK(mantis_hlc_parse(text, MANTIS_HLC_TEXT_LEN, &back));

	ms = mantis_hlc_ms(hlc.ts);
	if (ms > MANTIS_HLC_MAX_MS)
		ms = MANTIS_HLC_MAX_MS;
	FUZZ_CHECK(back.ts == mantis_hlc_pack(ms, hlc.ts));
	FUZZ_CHECK(back.node == hlc.node);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_parse(data, size);
	check_format(data, size);
	return 0;
}
