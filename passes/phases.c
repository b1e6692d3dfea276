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
    kir_use_tree(k, s, use);
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
    kir_use_tree(k, s, use[i]);
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

/* Does s write tile t whole (no read of it, no rows left as they were)? */
static bool kills(const Kernel *k, const KStmt *s, const unsigned char *use, int t) {
  if (use[t] != 2) return false;
  for (int j = 0; j < (s->kind == KS_NEST ? s->assigns.len : 1); j++)
    if (kir_whole_write(k, s, j) == t) return true;
  return false;
}

/* Expression x with reads of tile `from` made reads of `to` (a copy where
 * anything changes). */
static int rename_expr(Kernel *k, int x, int from, int to) {
  KExpr e = k->exprs.data[x];
  bool changed = false;
  if (e.kind == KE_READ && e.tile == from) e.tile = to, changed = true;
  if (e.kind == KE_UNARY || e.kind == KE_BINARY) {
    int a = rename_expr(k, e.a, from, to);
    int b2 = e.kind == KE_BINARY ? rename_expr(k, e.b, from, to) : e.b;
    changed |= a != e.a || b2 != e.b;
    e.a = a, e.b = b2;
  }
  if (!changed) return x;
  VEC_PUSH(k->arena, k->exprs, e);
  return k->exprs.len - 1;
}

/* A copy of s (and its blocks) with tile `from` named `to`. */
static KStmt *rename_stmt(Kernel *k, const KStmt *s, int from, int to) {
  KStmt *c = arena_alloc(k->arena, sizeof *c);
  *c = *s;
#define RN(f) if (c->f == from) c->f = to
  RN(tile);
  RN(tile2);
  RN(carry);
  RN(prior);
#undef RN
  if (s->kind == KS_NEST) {
    c->assigns.data = arena_alloc(k->arena, sizeof(KAssign) * (size_t)(s->assigns.len + 1));
    c->assigns.cap = s->assigns.len + 1;
    for (int j = 0; j < s->assigns.len; j++) {
      KAssign a = s->assigns.data[j];
      if (a.tile == from) a.tile = to;
      a.expr = rename_expr(k, a.expr, from, to);
      c->assigns.data[j] = a;
    }
  }
  const KBlock *src[2] = {&s->body, &s->orelse};
  KBlock *dst[2] = {&c->body, &c->orelse};
  for (int j = 0; j < 2; j++) {
    if (!src[j]->len) continue;
    dst[j]->data = arena_alloc(k->arena, sizeof(KStmt *) * (size_t)src[j]->len);
    dst[j]->cap = src[j]->len;
    for (int i = 0; i < src[j]->len; i++) dst[j]->data[i] = rename_stmt(k, src[j]->data[i], from, to);
  }
  return c;
}

bool pass_chunk_phase_order(Kernel *k, bool poison, const char **why) {
  ChunkPhases ph;
  if (!pass_chunk_phases(k, &ph, why)) return false;
  KStmt *loop = (KStmt *)chunk_loop(&k->body);
  KBlock *b = &loop->body;
  int n = b->len, nt = k->tiles.len;
  int v_n = k->chunk_n, v_h = k->chunk_h, v_t0 = k->chunk_t0;
  if (v_n < 0 || v_h < 0 || v_t0 < 0 || k->chunk_tokens <= 0) {
    *why = "the chunk loop is not the chunk lowering's";
    return false;
  }
  unsigned char **use = arena_alloc(k->arena, sizeof *use * (size_t)(n + 1));
  unsigned char *rest = arena_alloc(k->arena, (size_t)n + 1);   /* 1: after the free part */
  int nlets = 0;
  for (int i = 0; i < n && b->data[i]->kind == KS_LET; i++) nlets++;
  for (int i = nlets; i < n; i++)
    if (b->data[i]->kind == KS_LET) {
      *why = "a let after the chunk loop's first statement";
      return false;
    }
  /* Moving the free statements before the rest must not move a read or a
   * write of a tile across a write of it. A tile the free part writes
   * whole again after the rest used it (one scratch tile serving several
   * states' readouts) is renamed from that write on, and the uses are
   * read again. */
  for (int round = 0;; round++) {
    nt = k->tiles.len;
    unsigned char *freeread = arena_alloc(k->arena, (size_t)nt + 1);
    for (int i = 0; i < n; i++) {
      use[i] = arena_alloc(k->arena, (size_t)nt + 1);
      kir_use_tree(k, b->data[i], use[i]);
      rest[i] = i >= nlets && ph.phase[i] != PH_FREE;
      if (i >= nlets && !rest[i])
        for (int t = 0; t < nt; t++)
          if (use[i][t] & 1) freeread[t] = 1;
    }
    /* A fill that nothing free reads goes with its readers rather than
     * crossing (a zeroed accumulator of the readout). */
    for (int i = nlets; i < n; i++)
      if (b->data[i]->kind == KS_FILL && !freeread[b->data[i]->tile]) rest[i] = 1;
    int hi = -1, hj = -1, ht = -1;
    for (int i = nlets; i < n && hi < 0; i++) {
      if (!rest[i]) continue;
      for (int j = i + 1; j < n && hi < 0; j++) {
        if (rest[j]) continue;
        for (int t = 0; t < nt; t++)
          if (((use[i][t] & 2) && use[j][t]) || ((use[i][t] & 1) && (use[j][t] & 2))) {
            hi = i, hj = j, ht = t;
            break;
          }
      }
    }
    if (hi < 0) break;
    if (!kills(k, b->data[hj], use[hj], ht) || round > 4 * n) {
      *why = arena_printf(k->arena, "tile %s is used by the chain before a free statement writes it",
                          k->tiles.data[ht].name);
      return false;
    }
    KTile copy = k->tiles.data[ht];
    int t2 = kir_tile(k, arena_printf(k->arena, "%s_%d", copy.name, hj), copy.dims);
    k->tiles.data[t2].type = copy.type;
    for (int q = hj; q < n; q++) b->data[q] = rename_stmt(k, b->data[q], ht, t2);
  }
  /* The tiles the rest reads before writing them whole, from the free
   * part (not the state: nothing free writes it). */
  unsigned char *killed = arena_alloc(k->arena, (size_t)nt + 1);
  unsigned char *crossing = arena_alloc(k->arena, (size_t)nt + 1);
  unsigned char *freewritten = arena_alloc(k->arena, (size_t)nt + 1);
  for (int i = nlets; i < n; i++)
    if (!rest[i])
      for (int t = 0; t < nt; t++)
        if (use[i][t] & 2) freewritten[t] = 1;
  for (int i = nlets; i < n; i++) {
    if (!rest[i]) continue;
    for (int t = 0; t < nt; t++) {
      if ((use[i][t] & 1) && !killed[t] && freewritten[t]) crossing[t] = 1;
      if (kills(k, b->data[i], use[i], t)) killed[t] = 1;
    }
  }
  /* The body reordered: lets, free, rest. */
  KStmt **order = arena_alloc(k->arena, sizeof *order * (size_t)(n + nt + 1));
  int m = 0, nfree;
  for (int i = 0; i < nlets; i++) order[m++] = b->data[i];
  for (int i = nlets; i < n; i++)
    if (!rest[i]) order[m++] = b->data[i];
  nfree = m;
  if (poison) {
    /* Tests: what the free part leaves that does not cross, made NaN, as
     * if the rest ran in another kernel. */
    for (int t = 0; t < nt; t++) {
      if (!freewritten[t] || crossing[t]) continue;
      KBlock one = {0};
      KStmt *f = kir_stmt(k, &one, KS_FILL);
      f->tile = t;
      f->num = __builtin_nan("");
      order[m++] = f;
    }
  }
  for (int i = nlets; i < n; i++)
    if (rest[i]) order[m++] = b->data[i];
  b->data = order;
  b->len = b->cap = m;
  /* The record of a chunk and head. */
  /* Each place 32-byte aligned (vector loads and stores of it). */
  int *at = arena_alloc(k->arena, sizeof(int) * (size_t)(nt + 1));
  long *place = arena_alloc(k->arena, sizeof(long) * (size_t)(nt + 1));
  long C = k->chunk_tokens, rec = 0;
  for (int t = 0; t < nt; t++) {
    place[t] = rec;
    if (crossing[t]) rec += (kir_tile_count(k, t) + 7) & ~7L;
  }
  int iH = kir_iarg(k, KA_H);
  int slot = kir_ibin(k, KI_ADD, kir_ibin(k, KI_DIV, kir_ivar(k, v_t0), kir_ic(k, C)), kir_ivar(k, v_n));
  int base = kir_ibin(k, KI_MUL, kir_ibin(k, KI_ADD, kir_ibin(k, KI_MUL, slot, iH), kir_ivar(k, v_h)),
                      kir_ic(k, rec));
  for (int t = 0; t < nt; t++)
    at[t] = !crossing[t] ? -1 : place[t] ? kir_ibin(k, KI_ADD, base, kir_ic(k, place[t])) : base;
  k->phase_loop = loop;
  k->phase_nfree = nfree;
  k->phase_at = at;
  k->phase_rec = rec;
  k->phase_chunk = (int)C;
  return true;
}
