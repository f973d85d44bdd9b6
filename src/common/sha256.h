/* sha256.h: SHA-256, to keep only a digest of each agent's secret token. */
#ifndef SWARM_SHA256_H
#define SWARM_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32

void sha256(const void *, size_t, uint8_t out[SHA256_LEN]);

#endif
