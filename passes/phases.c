/* phases.c — the statements of a chunk kernel's chunk loop sorted by
 * their relation to the carried state (docs/design-cuda-phases.md, step
 * 1): free (nothing of the state in their past: parallel over all chunks),
 * chain (what the next chunk's state needs: sequential over chunks) and
 * readout (what only the outputs need: parallel over chunks once the
 * chain has stored the states they read).
 *
 * Carried tiles are those the loop body reads before it writes them in a
 * trip (the states). A statement is tainted if it reads a carried or tainted tile;
 * a tainted statement, or one writing a carried tile, is in the chain if
 * a later chain statement reads what it writes (a backward pass), else a
 * readout. A tile written by one phase and read by another crosses a
 * phase boundary: the phased form keeps it per chunk in memory.
 */
#include "passes.h"

#include <string.h>

/* What s and the statements of its blocks read before writing it in s
 * (bit 1) and write (bit 2): a branch that computes a tile and then reads
 * it reads nothing of it from before. */
static void uses(const Kernel *k, const KStmt *s, unsigned char *use) {
  kir_use_stmt(k, s, use);
  const KBlock *blocks[2] = {&s->body, &s->orelse};
  int nt = k->tiles.len;
  for (int j = 0; j < 2; j++) {
    if (!blocks[j]->len) continue;
    unsigned char *w = arena_alloc(k->arena, (size_t)nt + 1);
    unsigned char *u = arena_alloc(k->arena, (size_t)nt + 1);
    for (int i = 0; i < blocks[j]->len; i++) {
      memset(u, 0, (size_t)nt + 1);
      uses(k, blocks[j]->data[i], u);
      for (int t = 0; t <= nt; t++) {
        if ((u[t] & 1) && !w[t]) use[t] |= 1;
        if (u[t] & 2) w[t] = 1, use[t] |= 2;
      }
    }
  }
}

/* The first serial loop inside the kernel's row loop. */
static const KStmt *chunk_loop(const KBlock *b) {
  for (int i = 0; i < b->len; i++) {
    const KStmt *s = b->data[i];
    if (s->kind != KS_FOR) continue;
    if (!s->parallel) return s;
    const KStmt *in = chunk_loop(&s->body);
    if (in) return in;
  }
  return NULL;
}

/* Do interleaves that scatter into tile t write every row of it (all
 * their phases) in the body before anything else reads it? (A scatter
 * leaves the other rows as they were, so alone it reads its target.) */
static bool interleaved_whole(const Kernel *k, const KBlock *b, int t, unsigned char *use) {
  unsigned long long seen = 0;
  for (int i = 0; i < b->len; i++) {
    const KStmt *s = b->data[i];
    if (s->kind == KS_INTERLEAVE && s->tile == t && s->nphase <= 64) {
      seen |= 1ull << s->phase;
      if (__builtin_popcountll(seen) == s->nphase) return true;
      continue;
    }
    memset(use, 0, (size_t)k->tiles.len + 1);
    uses(k, s, use);
    if (use[t] & 1) return false;
  }
  return false;
}

bool pass_chunk_phases(const Kernel *k, ChunkPhases *out, const char **why) {
  memset(out, 0, sizeof *out);
  const KStmt *loop = chunk_loop(&k->body);
  if (!loop) {
    *why = "the kernel has no chunk loop";
    return false;
  }
  const KBlock *b = &loop->body;
  int n = b->len, nt = k->tiles.len;
  unsigned char **use = arena_alloc(k->arena, sizeof *use * (size_t)(n + 1));
  unsigned char *ph = arena_alloc(k->arena, (size_t)n + 1);
  unsigned char *cross = arena_alloc(k->arena, (size_t)nt + 1);
  unsigned char *written = arena_alloc(k->arena, (size_t)nt + 1);
  unsigned char *tainted = arena_alloc(k->arena, (size_t)nt + 1);
  unsigned char *needed = arena_alloc(k->arena, (size_t)nt + 1);
  int *writer = arena_alloc(k->arena, sizeof(int) * (size_t)(nt + 1));
  for (int t = 0; t < nt; t++) writer[t] = -1;
  /* Carried tiles: read before written in a trip, and written in it (a
   * tile only read, like a per-row gate computed before the loop, is an
   * input of every phase). */
  unsigned char *body_writes = arena_alloc(k->arena, (size_t)nt + 1);
  unsigned char *scratch = arena_alloc(k->arena, (size_t)nt + 1);
  for (int i = 0; i < n; i++) {
    const KStmt *s = b->data[i];
    use[i] = arena_alloc(k->arena, (size_t)nt + 1);
    uses(k, s, use[i]);
    if (s->kind == KS_INTERLEAVE &&
        (k->dims.data[s->dim].size <= k->dims.data[s->dim2].size ||   /* a gather */
         interleaved_whole(k, b, s->tile, scratch)))
      use[i][s->tile] = 2;   /* a write of the whole, alone or with the others */
    for (int t = 0; t < nt; t++)
      if (use[i][t] & 2) body_writes[t] = 1;
  }
  for (int i = 0; i < n; i++)
    for (int t = 0; t < nt; t++) {
      if ((use[i][t] & 1) && !written[t] && body_writes[t]) cross[t] |= PH_CARRIED;
      if (use[i][t] & 2) written[t] = 1;
    }
  /* The taint, forwards. */
  for (int i = 0; i < n; i++) {
    bool taint = false, chain = false;
    for (int t = 0; t < nt; t++) {
      if ((use[i][t] & 1) && ((cross[t] & PH_CARRIED) || tainted[t])) taint = true;
      if ((use[i][t] & 2) && (cross[t] & PH_CARRIED)) chain = true;
    }
    ph[i] = chain ? PH_CHAIN : taint ? PH_READOUT : PH_FREE;
    for (int t = 0; t < nt; t++)
      if (use[i][t] & 2) tainted[t] = ph[i] != PH_FREE;
  }
  /* The chain closed backwards: a readout writing what a later chain
   * statement reads belongs to the chain. */
  for (int i = n - 1; i >= 0; i--) {
    if (ph[i] == PH_READOUT)
      for (int t = 0; t < nt; t++)
        if ((use[i][t] & 2) && needed[t]) ph[i] = PH_CHAIN;
    if (ph[i] != PH_CHAIN) continue;
    for (int t = 0; t < nt; t++)
      if (use[i][t] & 1) needed[t] = 1;
  }
  /* Boundaries: each read against the phase of the tile's last writer in
   * this trip; the readouts' reads of carried tiles name state versions
   * (a new one after each chain statement that writes one). */
  int version = 0, last_read = -1;
  for (int i = 0; i < n; i++) {
    for (int t = 0; t < nt; t++) {
      if (!(use[i][t] & 1)) continue;
      if (writer[t] >= 0 && ph[writer[t]] != ph[i]) {
        if (ph[writer[t]] == PH_FREE) cross[t] |= ph[i] == PH_CHAIN ? PH_FREE_CHAIN : PH_FREE_READOUT;
        else if (ph[writer[t]] == PH_CHAIN && ph[i] == PH_READOUT) cross[t] |= PH_CHAIN_READOUT;
        else {
          *why = "a statement of the chain reads what a readout wrote";
          return false;
        }
      }
      if (ph[i] == PH_READOUT && (cross[t] & PH_CARRIED) && last_read != version) {
        out->versions++;
        last_read = version;
      }
    }
    for (int t = 0; t < nt; t++)
      if (use[i][t] & 2) {
        writer[t] = i;
        if (cross[t] & PH_CARRIED) version++;
      }
  }
  out->loop = b;
  out->phase = ph;
  out->cross = cross;
  for (int i = 0; i < n; i++) out->count[ph[i]]++;
  return true;
}
