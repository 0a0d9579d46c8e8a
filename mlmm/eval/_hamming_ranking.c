/*
 * mlmm.eval._hamming_ranking: per-query Hamming-ranking statistics in one pass over the database.
 *
 * For query q, database items are ranked by ascending Hamming distance, ties by database index (stable).
 * In one scan of the database in index order, item j at distance d is the c-th item (1-based) seen at
 * distance d; if relevant it is the r-th relevant one seen at d. After the scan the bucket sizes are known,
 * so its ranked position is pos = #{items at distance < d} + c and its rank among relevant items is
 * t = #{relevant at distance < d} + r: a counting sort without moving any item (c is recorded during the
 * scan, r in a walk over the relevant items only). From (pos, t) of the relevant items (t/pos is
 * computed as t * (1/pos) from a table, within an ulp of the division):
 *   ap_all      = sum t/pos / max(R, 1)                      (DCMH calc_map)
 *   ap_top_k    = sum_{pos <= k} t/pos / max(hits in top k, 1) (DeepHash / DJSRH CalcTopMap)
 *   ap_first_k  = sum_{t <= k} t/pos / max(min(k, R), 1)     (DCHMT calc_map_k)
 *   hits_at[i]  = #relevant with pos <= ks[i]                (precision@K numerators)
 *   radius_all[d], radius_rel[d] = items / relevant items at distance d (PR over Hamming radius)
 * Relevance: multi-hot labels packed as uint64 words share a bit, or (label_words == 0) int64 ids are equal.
 * The GIL is released while computing, so callers can run disjoint query ranges in threads.
 * The numpy path in mlmm/eval/hashing.py computes the same numbers; tests compare the two.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "_buffers.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && !defined(__POPCNT__)
#define MLMM_POPCNT_CLONES __attribute__((target_clones("popcnt", "default")))
#else
#define MLMM_POPCNT_CLONES
#endif

typedef struct {
    const uint64_t *q_codes, *db_codes;  /* [Q, words], [N, words] */
    const uint64_t *q_labels, *db_labels; /* [Q, label_words], [N, label_words] (multi-hot bits) */
    const int64_t *q_ids, *db_ids;        /* [Q], [N] when label_words == 0 */
    const int64_t *ks;                    /* [n_ks] precision@K cut-offs */
    Py_ssize_t n_db, words, label_words, n_ks, k;
    int truncated;                          /* also compute ap_top_k and ap_first_k */
    double *ap_all, *ap_top_k, *ap_first_k; /* [Q] */
    int64_t *n_relevant, *hits_at;          /* [Q], [Q, n_ks] */
    int64_t *radius_all, *radius_rel;       /* [Q, buckets] */
} Task;

static inline int hamming(const uint64_t *a, const uint64_t *b, Py_ssize_t words) {
    int d = 0;
    for (Py_ssize_t w = 0; w < words; ++w) d += __builtin_popcountll(a[w] ^ b[w]);
    return d;
}

static inline int relevant(const Task *task, Py_ssize_t q, Py_ssize_t j) {
    const Py_ssize_t lw = task->label_words;
    if (lw == 0) return task->q_ids[q] == task->db_ids[j];
    uint64_t shared = 0;
    for (Py_ssize_t w = 0; w < lw; ++w) shared |= task->q_labels[q * lw + w] & task->db_labels[j * lw + w];
    return shared != 0;
}

typedef struct {
    int32_t *seen_all, *seen_rel;   /* [buckets] items / relevant items per distance */
    int32_t *seen_second;           /* [buckets] items per distance in the second half of the database */
    int64_t *below_all, *below_rel; /* [buckets] items / relevant items at a smaller distance */
    uint64_t *slots;                /* [n_db] (c << 32 | d) of the relevant items, in database order */
    double *reciprocal;             /* [n_db + 1] 1 / position */
} Scratch;

/* The scan walks the two halves of the database side by side, each with its own running counts: the
 * counter increments (load-add-store on a few hot buckets) then form two independent dependency chains
 * instead of one. Branch-free: every item writes its slot, which advances only when the item is relevant
 * (relevance is data-dependent and would mispredict). Second-half slots start at slot `half`; their counts
 * are completed with the first half's bucket sizes afterwards. */
#define SCAN_ITEM(J, SEEN, N, DIST, RELEVANT)             \
    do {                                                  \
        const Py_ssize_t j = (J);                         \
        const uint64_t d_ = (uint64_t)(DIST);             \
        const int relevant_ = (RELEVANT);                 \
        slots[N] = ((uint64_t)++SEEN[d_] << 32) | d_;     \
        N += relevant_;                                   \
    } while (0)
#define SCAN(DIST, RELEVANT)                                                \
    for (Py_ssize_t i = 0; i < half; ++i) {                                 \
        SCAN_ITEM(i, seen_all, n_first, DIST, RELEVANT);                    \
        SCAN_ITEM(half + i, seen_second, n_second, DIST, RELEVANT);         \
    }                                                                       \
    if (n_db & 1) SCAN_ITEM(n_db - 1, seen_second, n_second, DIST, RELEVANT);

MLMM_POPCNT_CLONES
static void scan_query(const Task *task, Py_ssize_t q, const Scratch *sc) {
    const Py_ssize_t words = task->words, buckets = words * 64 + 1, n_db = task->n_db, half = n_db / 2;
    const uint64_t *qc = task->q_codes + q * words;
    int32_t *restrict seen_all = sc->seen_all, *restrict seen_rel = sc->seen_rel;
    int32_t *restrict seen_second = sc->seen_second;
    uint64_t *restrict slots = sc->slots;
    int64_t *restrict below_all = sc->below_all, *restrict below_rel = sc->below_rel;
    const double *restrict reciprocal = sc->reciprocal;
    memset(seen_all, 0, sizeof(int32_t) * buckets);
    memset(seen_second, 0, sizeof(int32_t) * buckets);
    memset(seen_rel, 0, sizeof(int32_t) * buckets);
    Py_ssize_t n_first = 0, n_second = half;
    if (words == 1 && task->label_words == 1) { /* <= 64 bits and <= 64 classes: the common case */
        const uint64_t code = qc[0], labels = task->q_labels[q];
        const uint64_t *restrict db_codes = task->db_codes, *restrict db_labels = task->db_labels;
        SCAN(__builtin_popcountll(code ^ db_codes[j]), (labels & db_labels[j]) != 0)
    } else {
        SCAN(hamming(qc, task->db_codes + j * words, words), relevant(task, q, j))
    }
    /* second-half slots follow the first half's; their counts start after the first half's items */
    for (Py_ssize_t i = half; i < n_second; ++i)
        slots[n_first + i - half] = slots[i] + ((uint64_t)seen_all[(uint32_t)slots[i]] << 32);
    const Py_ssize_t n_rel = n_first + n_second - half;
    for (Py_ssize_t i = 0; i < n_rel; ++i) ++seen_rel[(uint32_t)slots[i]];
    int64_t acc_all = 0, acc_rel = 0;
    for (Py_ssize_t d = 0; d < buckets; ++d) {
        const int32_t bucket = seen_all[d] + seen_second[d];
        below_all[d] = acc_all;
        below_rel[d] = acc_rel;
        acc_all += bucket;
        acc_rel += seen_rel[d];
        task->radius_all[q * buckets + d] = bucket;
        task->radius_rel[q * buckets + d] = seen_rel[d];
    }
    /* walk over the relevant items in database order: t = ++below_rel[d] is the running count at their
     * distance added to the relevant items at smaller distances, i.e. their rank among relevant items */
    double sum_all = 0.0, sum_top = 0.0, sum_first = 0.0;
    int64_t hits_top = 0;
    const int64_t k = task->k;
    if (!task->truncated) { /* map_all only: the common request, and half the work of the loop below */
        for (Py_ssize_t i = 0; i < n_rel; ++i) {
            const uint32_t d = (uint32_t)slots[i];
            sum_all += (double)++below_rel[d] * reciprocal[below_all[d] + (int64_t)(slots[i] >> 32)];
        }
    } else {
        for (Py_ssize_t i = 0; i < n_rel; ++i) {
            const uint32_t d = (uint32_t)slots[i];
            const int64_t pos = below_all[d] + (int64_t)(slots[i] >> 32);
            const int64_t t = ++below_rel[d];
            const double precision = (double)t * reciprocal[pos];
            sum_all += precision;
            sum_top += pos <= k ? precision : 0.0;
            hits_top += pos <= k;
            sum_first += t <= k ? precision : 0.0;
        }
    }
    const Py_ssize_t n_ks = task->n_ks;
    int64_t *restrict hits = task->hits_at + q * n_ks;
    for (Py_ssize_t m = 0; m < n_ks; ++m) {
        const int64_t cutoff = task->ks[m];
        int64_t count = 0;
        for (Py_ssize_t i = 0; i < n_rel; ++i) count += below_all[(uint32_t)slots[i]] + (int64_t)(slots[i] >> 32) <= cutoff;
        hits[m] = count;
    }
    const int64_t first_k = n_rel < k ? n_rel : k;
    task->n_relevant[q] = n_rel;
    task->ap_all[q] = n_rel ? sum_all / (double)n_rel : 0.0;
    task->ap_top_k[q] = hits_top ? sum_top / (double)hits_top : 0.0;
    task->ap_first_k[q] = first_k ? sum_first / (double)first_k : 0.0;
}

PyDoc_STRVAR(rank_stats_doc,
             "rank_stats(q_codes, db_codes, words, q_labels, db_labels, label_words, k, ks, truncated, start, stop,\n"
             "           ap_all, ap_top_k, ap_first_k, n_relevant, hits_at, radius_all, radius_rel)\n\n"
             "Fill rows [start, stop) of the outputs (C-contiguous buffers, see the module comment).\n"
             "Codes are uint64 [Q|N, words]; labels uint64 [Q|N, label_words] or int64 ids when label_words\n"
             "is 0; ks int64 cut-offs; truncated: also fill ap_top_k and ap_first_k; outputs float64 [Q] x3, int64 [Q], int64 [Q, len(ks)],\n"
             "int64 [Q, 64 * words + 1] x2.");

static PyObject *rank_stats(PyObject *self, PyObject *args) {
    Py_buffer b[13];
    Py_ssize_t words, label_words, k, start, stop;
    int truncated;
    memset(b, 0, sizeof(b));
    if (!PyArg_ParseTuple(args, "y*y*ny*y*nny*pnnw*w*w*w*w*w*w*", &b[0], &b[1], &words, &b[2], &b[3], &label_words,
                          &k, &b[4], &truncated, &start, &stop, &b[5], &b[6], &b[7], &b[8], &b[9], &b[10], &b[11]))
        return NULL;
    PyObject *result = NULL;
    int32_t *scratch = NULL;
    int64_t *below = NULL;
    Task task;
    memset(&task, 0, sizeof(task));
    if (words < 1 || label_words < 0 || k < 1) {
        PyErr_SetString(PyExc_ValueError, "words >= 1, label_words >= 0 and k >= 1 are required");
        goto done;
    }
    const Py_ssize_t n_query = b[0].len / (8 * words), n_db = b[1].len / (8 * words), n_ks = b[4].len / 8;
    const Py_ssize_t lw_items = label_words ? label_words : 1, buckets = words * 64 + 1;
    if (check_buffer(&b[0], (n_query * words) * 8, "q_codes", 0) || check_buffer(&b[1], (n_db * words) * 8, "db_codes", 0) ||
        check_buffer(&b[2], (n_query * lw_items) * 8, "q_labels", 0) || check_buffer(&b[3], (n_db * lw_items) * 8, "db_labels", 0) ||
        check_buffer(&b[5], (n_query) * 8, "ap_all", 1) || check_buffer(&b[6], (n_query) * 8, "ap_top_k", 1) ||
        check_buffer(&b[7], (n_query) * 8, "ap_first_k", 1) || check_buffer(&b[8], (n_query) * 8, "n_relevant", 1) ||
        check_buffer(&b[9], (n_query * n_ks) * 8, "hits_at", 1) || check_buffer(&b[10], (n_query * buckets) * 8, "radius_all", 1) ||
        check_buffer(&b[11], (n_query * buckets) * 8, "radius_rel", 1))
        goto done;
    if (start < 0 || stop > n_query || start > stop) {
        PyErr_Format(PyExc_ValueError, "query range [%zd, %zd) outside [0, %zd)", start, stop, n_query);
        goto done;
    }
    if (n_db > INT32_MAX - 1) {
        PyErr_SetString(PyExc_ValueError, "database larger than 2**31 - 2 items");
        goto done;
    }
    task.q_codes = b[0].buf;
    task.db_codes = b[1].buf;
    if (label_words) {
        task.q_labels = b[2].buf;
        task.db_labels = b[3].buf;
    } else {
        task.q_ids = b[2].buf;
        task.db_ids = b[3].buf;
    }
    task.ks = b[4].buf;
    task.n_db = n_db;
    task.words = words;
    task.label_words = label_words;
    task.n_ks = n_ks;
    task.k = k;
    task.truncated = truncated;
    task.ap_all = b[5].buf;
    task.ap_top_k = b[6].buf;
    task.ap_first_k = b[7].buf;
    task.n_relevant = b[8].buf;
    task.hits_at = b[9].buf;
    task.radius_all = b[10].buf;
    task.radius_rel = b[11].buf;
    scratch = malloc(sizeof(int32_t) * 3 * buckets);
    below = malloc(sizeof(int64_t) * 2 * buckets + sizeof(uint64_t) * (n_db + 1) + sizeof(double) * (n_db + 1));
    if (!scratch || !below) {
        PyErr_NoMemory();
        goto done;
    }
    Scratch sc = {scratch, scratch + buckets, scratch + 2 * buckets, below, below + buckets, (uint64_t *)(below + 2 * buckets),
                  (double *)(below + 2 * buckets + n_db + 1)};
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t p = 1; p <= n_db; ++p) sc.reciprocal[p] = 1.0 / (double)p;
    for (Py_ssize_t q = start; q < stop; ++q) scan_query(&task, q, &sc);
    Py_END_ALLOW_THREADS;
    result = Py_None;
    Py_INCREF(result);
done:
    free(scratch);
    free(below);
    for (int i = 0; i < 13; ++i)
        if (b[i].obj) PyBuffer_Release(&b[i]);
    return result;
}

static PyMethodDef methods[] = {{"rank_stats", rank_stats, METH_VARARGS, rank_stats_doc}, {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_hamming_ranking",
                                    "Hamming-ranking statistics by counting sort (see the source comment).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__hamming_ranking(void) { return PyModule_Create(&module); }
