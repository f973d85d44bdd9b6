/*
 * fuzz.h: what the fuzz targets of tests/fuzz share.  Each NAME.c defines
 * LLVMFuzzerTestOneInput and may define LLVMFuzzerInitialize; it links
 * with libFuzzer (fuzz-NAME, -Dfuzz=true) or with replay.c (replay-NAME,
 * any build), which runs it on each file of its corpus and regress/.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A private directory for this process, removed at exit. */
const char *fuzz_dir(void);
/* Write DATA to NAME inside fuzz_dir(); returns its path (static). */
const char *fuzz_file(const char *name, const uint8_t *data, size_t size);
/* Append DATA to PATH. */
void fuzz_append(const char *path, const uint8_t *data, size_t size);

#endif
