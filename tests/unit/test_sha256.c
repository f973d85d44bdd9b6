/*
 * test_sha256.c: FIPS 180-2 test vectors, and inputs of lengths around
 * the padding boundaries (expected digests from coreutils sha256sum).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sha256.h"

static void
hex(const uint8_t d[SHA256_LEN], char out[2 * SHA256_LEN + 1])
{
	int i;

	for (i = 0; i < SHA256_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void
assert_digest(const void *data, size_t len, const char *want)
{
	uint8_t d[SHA256_LEN];
	char got[2 * SHA256_LEN + 1];

	sha256(data, len, d);
	hex(d, got);
	assert_string_equal(got, want);
}

/* LEN bytes of 'a'. */
static void
assert_a_digest(size_t len, const char *want)
{
	char *buf = malloc(len + 1);

	assert_non_null(buf);
	memset(buf, 'a', len);
	assert_digest(buf, len, want);
	free(buf);
}

static void
test_empty(void **state)
{
	(void)state;
	assert_digest("", 0,
	    "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855");
}

static void
test_abc(void **state)
{
	(void)state;
	assert_digest("abc", 3,
	    "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
}

static void
test_448_bits(void **state)
{
	const char *s =
	    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

	(void)state;
	assert_int_equal(strlen(s), 56);
	assert_digest(s, strlen(s),
	    "248d6a61d20638b8e5c026930c3e6039"
	    "a33ce45964ff2167f6ecedd419db06c1");
}

static void
test_896_bits(void **state)
{
	const char *s = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklm"
	                "ghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
	                "mnopqrstnopqrstu";

	(void)state;
	assert_int_equal(strlen(s), 112);
	assert_digest(s, strlen(s),
	    "cf5b16a778af8380036ce59e7b049237"
	    "0b249b11e8f07a51afac45037afee9d1");
}

static void
test_million_a(void **state)
{
	(void)state;
	assert_a_digest(1000000,
	    "cdc76e5c9914fb9281a1c7e284d73e67"
	    "f1809a48a497200e046d39ccc7112cd0");
}

/* 55 is the longest tail padded within one block, 56 the shortest not. */
static void
test_padding_boundaries(void **state)
{
	(void)state;
	assert_a_digest(55,
	    "9f4390f8d30c2dd92ec9f095b65e2b9a"
	    "e9b0a925a5258e241c9f1e910f734318");
	assert_a_digest(56,
	    "b35439a4ac6f0948b6d6f9e3c6af0f5f"
	    "590ce20f1bde7090ef7970686ec6738a");
	assert_a_digest(63,
	    "7d3e74a05d7db15bce4ad9ec0658ea98"
	    "e3f06eeecf16b4c6fff2da457ddc2f34");
	assert_a_digest(64,
	    "ffe054fe7ae0cb6dc65c3af9b61d5209"
	    "f439851db43d0ba5997337df154668eb");
	assert_a_digest(65,
	    "635361c48bb9eab14198e76ea8ab7f1a"
	    "41685d6ad62aa9146d301d4f17eb0ae0");
}

/* The same boundaries one block further on. */
static void
test_second_block_boundaries(void **state)
{
	(void)state;
	assert_a_digest(119,
	    "31eba51c313a5c08226adf18d4a359cf"
	    "dfd8d2e816b13f4af952f7ea6584dcfb");
	assert_a_digest(120,
	    "2f3d335432c70b580af0e8e1b3674a7c"
	    "020d683aa5f73aaaedfdc55af904c21c");
	assert_a_digest(128,
	    "6836cf13bac400e9105071cd6af47084"
	    "dfacad4e5e302c94bfed24e013afb73e");
}

/* The input is only read, and unaligned input hashes the same. */
static void
test_unaligned_input(void **state)
{
	char buf[66];

	(void)state;
	memset(buf, 'a', sizeof buf);
	assert_digest(buf + 1, 65,
	    "635361c48bb9eab14198e76ea8ab7f1a"
	    "41685d6ad62aa9146d301d4f17eb0ae0");
	assert_int_equal(buf[0], 'a');
	assert_int_equal(buf[65], 'a');
}

/* In pieces of every size from 1 to 130 bytes: the digest of the whole. */
static void
test_pieces(void **state)
{
	uint8_t whole[SHA256_LEN], part[SHA256_LEN], buf[1000];
	struct sha256_ctx c;
	size_t step, off, n;

	(void)state;
	for (off = 0; off < sizeof buf; off++)
		buf[off] = (uint8_t)(off * 7 + 3);
	sha256(buf, sizeof buf, whole);
	for (step = 1; step <= 130; step++) {
		sha256_init(&c);
		for (off = 0; off < sizeof buf; off += n) {
			n = sizeof buf - off < step ? sizeof buf - off : step;
			sha256_update(&c, buf + off, n);
		}
		sha256_final(&c, part);
		assert_memory_equal(part, whole, SHA256_LEN);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_abc),
		cmocka_unit_test(test_448_bits),
		cmocka_unit_test(test_896_bits),
		cmocka_unit_test(test_million_a),
		cmocka_unit_test(test_padding_boundaries),
		cmocka_unit_test(test_second_block_boundaries),
		cmocka_unit_test(test_unaligned_input),
		cmocka_unit_test(test_pieces),
	};

	return cmocka_run_group_tests_name("sha256", tests, NULL, NULL);
}
