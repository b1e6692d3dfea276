/* test.h — helpers shared by the Check suites.
 *
 * Suites live in tests/unit/check_<module>.c, each exporting one
 * <module>_suite(); tests/check_main.c gathers them. Tests run from the
 * repository root; LRC_BIN names the lrc binary (build/lrc by default).
 */
#ifndef LRC_TEST_H
#define LRC_TEST_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>

#include "frontend/frontend.h"
#include "ir/ir.h"
#include "lrc.h"

Suite *support_suite(void);
Suite *lexer_suite(void);
Suite *parser_suite(void);
Suite *sema_suite(void);
Suite *ir_suite(void);
Suite *printer_suite(void);
Suite *api_suite(void);
Suite *cli_suite(void);
Suite *corpus_suite(void);
Suite *interp_suite(void);
Suite *emit_c_suite(void);
Suite *runtime_suite(void);
Suite *passes_suite(void);
Suite *kir_suite(void);
Suite *scan_suite(void);
Suite *cuda_suite(void);

/* rnn sources beyond examples/ (check_emit_c.c): shapes of the language
 * the lowering must get right, and variants that have a chunk form. */
extern const char *const t_variants[];
extern const int t_nvariants;
extern const char *const t_chunk_variants[];
extern const int t_nchunk_variants;

/* Compile `src` (len bytes) through the public API. Returns the rendered
 * diagnostics (errors, or warnings on success) in a static-lifetime
 * malloc'd string the caller frees, and sets *ok. */
char *t_compile(const char *src, size_t len, bool *ok);

/* Parse only: the Program and the diagnostics, in `arena`. */
Program *t_parse(Arena *arena, Diags *d, Source *src, const char *text);

/* Build the graph of the only rnn of `text` (NULL on errors; then *diags
 * holds the rendered text, malloc'd). */
Graph *t_graph(Arena *arena, const char *text, char **diags);

/* Run `lrc ARGS` through /bin/sh; stdout+stderr into *out (malloc'd).
 * Returns the exit status (128+signal if it died by a signal). */
int t_lrc(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Read a whole file (malloc'd, NUL-terminated); NULL if unreadable. */
char *t_read(const char *path, size_t *len);

/* The names of the .lr files in examples/ (without the directory),
 * sorted and listed once; returns how many there are. */
int t_examples(char ***names);

/* The lrc binary to run. */
const char *t_bin(void);

#endif
