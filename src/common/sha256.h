/*
 * sha256.h: SHA-256, to keep only a digest of each agent's secret token
 * and to check a checkpoint file against the digest its agent gave.
 */
#ifndef SWARM_SHA256_H
#define SWARM_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32

/* A digest taken in pieces, for a file read a slice at a time. */
struct sha256_ctx {
	uint32_t h[8];
	uint64_t len;    /* bytes fed so far */
	uint8_t buf[64]; /* a partial block */
	size_t n;        /* bytes in buf */
};

void sha256(const void *, size_t, uint8_t out[SHA256_LEN]);
void sha256_init(struct sha256_ctx *);
void sha256_update(struct sha256_ctx *, const void *, size_t);
void sha256_final(struct sha256_ctx *, uint8_t out[SHA256_LEN]);

#endif
