/*
 * Dispatch and threading: picks the kernel variant for this CPU, owns the persistent worker pool,
 * and splits matrix products and attention over it. Compiled without ISA flags, so nothing here
 * executes an instruction the CPU might lack.
 *
 * The pool: workers are created once per context. An idle worker spins on the job cursor for a while
 * (spin_us) and then sleeps on a condition variable, so back-to-back kernels of one decode step start
 * within a microsecond while an idle process costs no CPU. A job is a set of tasks (chunks of output
 * rows, attention heads) claimed one at a time by whichever thread is free, the caller included; the
 * caller waits only for tasks already running, so a worker the OS has descheduled (a busy or
 * over-committed machine) delays a job by one task at most, and not at all when it had not started.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "herd_internal.h"
#include "herd_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#else
#define CPU_RELAX() __asm__ __volatile__("" ::: "memory")
#endif

/* A job is `ntasks` independent tasks; task(arg, index, tid) runs each once, on some thread. */
typedef void (*task_fn)(void *arg, int64_t task, int tid);

typedef struct {
    pthread_t thread;
    herd_ctx *ctx;
    int tid;
    float *scratch; /* per-thread scratch (attention scores), grown on demand by its own thread */
    size_t scratch_cap;
    char pad[64];
} worker;

/* The job cursor packs generation, task count and next task into one word, so claiming a task is a
 * single compare-and-swap that also proves the job is still the one the worker thinks it is: a worker
 * that wakes late, after its job ended, can never take a task of the next one. The caller therefore
 * waits only for tasks in progress, never for a worker the OS has not scheduled yet. */
#define GEN_BITS 20
#define TASK_BITS 22
#define MAX_TASKS ((int64_t)1 << TASK_BITS)
#define CUR_GEN(c) ((c) >> (2 * TASK_BITS))
#define CUR_N(c) (((c) >> TASK_BITS) & (MAX_TASKS - 1))
#define CUR_I(c) ((c) & (MAX_TASKS - 1))

struct herd_ctx {
    const herd_isa *isa;
    int nth;
    worker *workers; /* [nth]; entry 0 is the calling thread */
    int64_t spin_ns;

    task_fn fn;
    void *arg;
    _Alignas(64) _Atomic uint64_t cursor;
    _Alignas(64) _Atomic int64_t done;
    atomic_int stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int sleepers; /* guarded by mu */

    void *act[2]; /* quantized activations (see ACT_SLOT_*), grown on demand */
    size_t act_cap[2];
    void *hidden; /* the fused FFN's gate and up rows, grown on demand */
    size_t hidden_cap;
    float *partials; /* attention slices awaiting their merge, grown on demand */
    size_t partials_cap;
};
static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------------------------------------------------------
 * CPU detection
 * --------------------------------------------------------------------------------------------- */
static const herd_isa *isa_for(int level) {
    switch (level) {
    case HERD_ISA_PORTABLE:
        return &herd_isa_portable;
#if defined(__x86_64__) && defined(HERD_X86_VARIANTS)
    case HERD_ISA_AVX2:
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
            return &herd_isa_avx2;
        }
        return NULL;
    case HERD_ISA_AVX512:
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
            && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")
            && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx2")
            && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
            return &herd_isa_avx512;
        }
        return NULL;
#endif
    default:
        return NULL;
    }
}

HERD_API int herd_isa_supported(int level) {
    return isa_for(level) != NULL;
}

static pthread_once_t portable_once = PTHREAD_ONCE_INIT;

static void portable_init(void) {
    herd_isa_portable.init();
}

/* ------------------------------------------------------------------------------------------------
 * Pool
 * --------------------------------------------------------------------------------------------- */
/* Claims and runs tasks of generation `gen` until none is left; returns how many it ran. */
static int64_t run_tasks_of(herd_ctx *ctx, uint64_t gen, int tid) {
    int64_t ran = 0;
    uint64_t c = atomic_load_explicit(&ctx->cursor, memory_order_acquire);
    while (CUR_GEN(c) == gen && CUR_I(c) < CUR_N(c)) {
        if (atomic_compare_exchange_weak_explicit(&ctx->cursor, &c, c + 1, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            ctx->fn(ctx->arg, (int64_t)CUR_I(c), tid);
            ran++;
            c = atomic_load_explicit(&ctx->cursor, memory_order_acquire);
        }
    }
    return ran;
}

static void *worker_main(void *p) {
    worker *self = (worker *)p;
    herd_ctx *ctx = self->ctx;
    uint64_t seen = 0; /* the generation at creation: anything published since is news */
    for (;;) {
        uint64_t g = CUR_GEN(atomic_load_explicit(&ctx->cursor, memory_order_acquire));
        if (g == seen) {
            int64_t start = now_ns();
            unsigned spins = 0;
            while ((g = CUR_GEN(atomic_load_explicit(&ctx->cursor, memory_order_acquire))) == seen) {
                CPU_RELAX();
                if ((++spins & 255) == 0 && now_ns() - start > ctx->spin_ns) {
                    pthread_mutex_lock(&ctx->mu);
                    ctx->sleepers++;
                    while ((g = CUR_GEN(atomic_load_explicit(&ctx->cursor, memory_order_acquire))) == seen) {
                        pthread_cond_wait(&ctx->cv, &ctx->mu);
                    }
                    ctx->sleepers--;
                    pthread_mutex_unlock(&ctx->mu);
                    break;
                }
            }
        }
        seen = g;
        if (atomic_load_explicit(&ctx->stop, memory_order_acquire)) {
            return NULL;
        }
        int64_t ran = run_tasks_of(ctx, g, self->tid);
        if (ran > 0) {
            atomic_fetch_add_explicit(&ctx->done, ran, memory_order_release);
        }
    }
}

/* Publishes a new generation (under the mutex, so a worker deciding to sleep cannot miss it). */
static uint64_t publish(herd_ctx *ctx, int64_t ntasks) {
    pthread_mutex_lock(&ctx->mu);
    uint64_t gen = (CUR_GEN(atomic_load_explicit(&ctx->cursor, memory_order_relaxed)) + 1) & ((1u << GEN_BITS) - 1);
    atomic_store_explicit(&ctx->cursor, (gen << (2 * TASK_BITS)) | ((uint64_t)ntasks << TASK_BITS),
                          memory_order_release);
    if (ctx->sleepers > 0) {
        pthread_cond_broadcast(&ctx->cv);
    }
    pthread_mutex_unlock(&ctx->mu);
    return gen;
}

typedef struct {
    task_fn fn;
    void *arg;
    int64_t per, total;
} batched_job;

static void batched_task(void *p, int64_t t, int tid) {
    batched_job *b = (batched_job *)p;
    int64_t end = (t + 1) * b->per < b->total ? (t + 1) * b->per : b->total;
    for (int64_t i = t * b->per; i < end; i++) {
        b->fn(b->arg, i, tid);
    }
}

/* Runs tasks [0, ntasks) of fn over the pool, the caller taking part, and returns when all are done. */
static void run_job(herd_ctx *ctx, task_fn fn, void *arg, int64_t ntasks) {
    if (ctx->nth == 1 || ntasks <= 1) {
        for (int64_t t = 0; t < ntasks; t++) {
            fn(arg, t, 0);
        }
        return;
    }
    if (ntasks >= MAX_TASKS) { /* more than the cursor counts: group them */
        batched_job b = { fn, arg, (ntasks + MAX_TASKS - 2) / (MAX_TASKS - 1), ntasks };
        run_job(ctx, batched_task, &b, (ntasks + b.per - 1) / b.per);
        return;
    }
    ctx->fn = fn;
    ctx->arg = arg;
    atomic_store_explicit(&ctx->done, 0, memory_order_relaxed);
    uint64_t gen = publish(ctx, ntasks);
    int64_t mine = run_tasks_of(ctx, gen, 0);
    unsigned spins = 0;
    while (atomic_load_explicit(&ctx->done, memory_order_acquire) + mine < ntasks) {
        CPU_RELAX();
        if (++spins > 4096) { /* a worker was descheduled mid-task: let it run */
            sched_yield();
        }
    }
}

HERD_API herd_ctx *herd_create(int threads, int level, int spin_us) {
    if (threads < 1 || threads > 1024 || spin_us < 0) {
        return NULL;
    }
    const herd_isa *isa = NULL;
    if (level == HERD_ISA_AUTO) {
        for (int l = HERD_ISA_AVX512; l >= HERD_ISA_PORTABLE && isa == NULL; l--) {
            isa = isa_for(l);
        }
    } else {
        isa = isa_for(level);
    }
    if (isa == NULL) {
        return NULL;
    }
    if (isa->init != NULL) {
        pthread_once(&portable_once, portable_init);
    }
    herd_ctx *ctx = calloc(1, sizeof(herd_ctx));
    if (ctx == NULL) {
        return NULL;
    }
    ctx->isa = isa;
    ctx->nth = threads;
    ctx->spin_ns = (int64_t)spin_us * 1000;
    ctx->workers = calloc((size_t)threads, sizeof(worker));
    if (ctx->workers == NULL) {
        free(ctx);
        return NULL;
    }
    atomic_init(&ctx->cursor, 0);
    atomic_init(&ctx->done, 0);
    atomic_init(&ctx->stop, 0);
    pthread_mutex_init(&ctx->mu, NULL);
    pthread_cond_init(&ctx->cv, NULL);
    for (int t = 0; t < threads; t++) {
        ctx->workers[t].ctx = ctx;
        ctx->workers[t].tid = t;
    }
    for (int t = 1; t < threads; t++) {
        if (pthread_create(&ctx->workers[t].thread, NULL, worker_main, &ctx->workers[t]) != 0) {
            ctx->nth = t; /* stop and join the ones that started */
            herd_destroy(ctx);
            return NULL;
        }
    }
    return ctx;
}

HERD_API void herd_destroy(herd_ctx *ctx) {
    if (ctx == NULL) {
        return;
    }
    atomic_store_explicit(&ctx->stop, 1, memory_order_release);
    publish(ctx, 0); /* wakes every worker; they see stop and return */
    for (int t = 1; t < ctx->nth; t++) {
        pthread_join(ctx->workers[t].thread, NULL);
    }
    for (int t = 0; t < ctx->nth; t++) {
        free(ctx->workers[t].scratch);
    }
    pthread_mutex_destroy(&ctx->mu);
    pthread_cond_destroy(&ctx->cv);
    free(ctx->workers);
    free(ctx->act[0]);
    free(ctx->act[1]);
    free(ctx->hidden);
    free(ctx->partials);
    free(ctx);
}

HERD_API int herd_isa_level(const herd_ctx *ctx) {
    return ctx->isa->level;
}

HERD_API int herd_threads(const herd_ctx *ctx) {
    return ctx->nth;
}

static void *grow(void **buf, size_t *cap, size_t need) {
    if (need <= *cap) {
        return *buf;
    }
    size_t c = need + need / 4 + 64;
    void *p = NULL;
    if (posix_memalign(&p, 64, c) != 0) {
        return NULL;
    }
    free(*buf);
    *buf = p;
    *cap = c;
    return p;
}

/* ------------------------------------------------------------------------------------------------
 * Matrix product
 * --------------------------------------------------------------------------------------------- */
static int is_r16(int dtype) {
    return dtype == HERD_Q4_0_R16 || dtype == HERD_Q8_0_R16;
}

static int64_t row_bytes_of(int dtype, int64_t in) {
    switch (dtype) {
    case HERD_F32: return in * 4;
    case HERD_F16:
    case HERD_BF16: return in * 2;
    case HERD_Q8_0: return in / 32 * 34;
    case HERD_Q4_0: return in / 32 * 18;
    case HERD_Q4_K: return in / 256 * 144;
    case HERD_Q6_K: return in / 256 * 210;
    /* per row as streamed: a group's bytes over its 16 rows */
    case HERD_Q4_0_R16: return r16_group_bytes(in / 32, R16_Q4_0_QBYTES) / 16;
    case HERD_Q8_0_R16: return r16_group_bytes(in / 32, R16_Q8_0_QBYTES) / 16;
    default: return -1;
    }
}

/* The activation format a weight type multiplies with. */
enum act_kind { ACT_F32, ACT_Q8A, ACT_Q8K, ACT_Q8R };

static enum act_kind act_kind_of(int dtype) {
    switch (dtype) {
    case HERD_Q8_0:
    case HERD_Q4_0: return ACT_Q8A;
    case HERD_Q4_K:
    case HERD_Q6_K: return ACT_Q8K;
    case HERD_Q4_0_R16:
    case HERD_Q8_0_R16: return ACT_Q8R;
    default: return ACT_F32;
    }
}

static int64_t act_stride_of(enum act_kind k, int64_t in) {
    switch (k) {
    case ACT_Q8A: return in / 32 * (int64_t)sizeof(herd_q8a);
    case ACT_Q8K: return in / 256 * (int64_t)sizeof(herd_q8k);
    case ACT_Q8R: return in / 32 * (int64_t)sizeof(herd_q8r);
    default: return in * 4;
    }
}

/* n activation rows (x, in apart) in the format `kind` wants, rows `stride` bytes apart in dst. */
typedef struct {
    const herd_isa *isa;
    enum act_kind kind;
    const float *x;
    int64_t in;
    uint8_t *dst;
    int64_t stride;
} quant_job;

static void quant_task(void *p, int64_t r, int tid) {
    (void)tid;
    quant_job *j = (quant_job *)p;
    const float *x = j->x + r * j->in;
    void *dst = j->dst + r * j->stride;
    switch (j->kind) {
    case ACT_Q8A: j->isa->quant_q8a(x, (herd_q8a *)dst, j->in / 32); break;
    case ACT_Q8K: j->isa->quant_q8k(x, (herd_q8k *)dst, j->in / 256); break;
    case ACT_Q8R: j->isa->quant_q8r(x, (herd_q8r *)dst, j->in / 32); break;
    default: break;
    }
}

/* Scratch slots for quantized activations: a product's inputs, and the fused FFN's hidden rows. */
enum { ACT_SLOT_IN = 0, ACT_SLOT_HIDDEN = 1 };

/* Activations ready for products with weights of `kind`: x itself for float weights, else quantized
 * into the slot's scratch (in parallel when there is enough of it). NULL when out of memory. */
static const void *prepare_act(herd_ctx *ctx, enum act_kind kind, const float *x, int32_t n, int64_t in, int slot,
                               int64_t *stride) {
    *stride = act_stride_of(kind, in);
    if (kind == ACT_F32) {
        return x;
    }
    quant_job j = { .isa = ctx->isa, .kind = kind, .x = x, .in = in, .stride = *stride };
    j.dst = grow(&ctx->act[slot], &ctx->act_cap[slot], (size_t)(*stride * n));
    if (j.dst == NULL) {
        return NULL;
    }
    if (ctx->nth > 1 && n > 1 && (int64_t)n * in >= 16384) {
        run_job(ctx, quant_task, &j, n);
    } else {
        for (int32_t r = 0; r < n; r++) {
            quant_task(&j, r, 0);
        }
    }
    return j.dst;
}

/* One product's operands: y[r·ystride + o] = W row o · activation row r. */
typedef struct {
    int dtype;
    const uint8_t *w;
    int64_t out, in, row_bytes;
    const void *xa;
    int64_t xa_stride;
    int32_t n;
    float *y;
    int64_t ystride;
} product;

/* Output rows [o0, o1) of a product; for R16 types o0 is a multiple of 16. */
static void product_rows(const herd_isa *isa, const product *p, int64_t o0, int64_t o1) {
    if (is_r16(p->dtype)) {
        isa->matmul_r16(p->dtype, p->w, p->in / 32, (const herd_q8r *)p->xa, p->n, p->y, p->ystride, p->out, o0 / 16,
                        (o1 + 15) / 16);
    } else {
        isa->matmul_rows(p->dtype, p->w, p->row_bytes, p->xa, p->xa_stride, p->n, p->in, p->y, p->ystride, o0, o1);
    }
}

/* Rows per task: ~8 tasks per thread so that uneven progress evens out, but long enough for the
 * prefetchers to stream rows; a multiple of 16 so R16 groups are never split. */
static int64_t chunk_rows(const herd_ctx *ctx, int64_t out, int64_t row_bytes) {
    int64_t chunk = out / ((int64_t)ctx->nth * 8);
    int64_t min_rows = (16384 + row_bytes - 1) / row_bytes;
    if (chunk < min_rows) {
        chunk = min_rows;
    }
    return (chunk + 15) / 16 * 16;
}

typedef struct {
    const herd_isa *isa;
    product p;
    int64_t chunk;
} product_job;

static void product_task(void *arg, int64_t t, int tid) {
    (void)tid;
    product_job *j = (product_job *)arg;
    int64_t o0 = t * j->chunk;
    int64_t o1 = o0 + j->chunk < j->p.out ? o0 + j->chunk : j->p.out;
    product_rows(j->isa, &j->p, o0, o1);
}

/* Small products are not worth waking the pool. */
static int worth_splitting(const herd_ctx *ctx, int64_t out, int64_t in, int32_t n) {
    return ctx->nth > 1 && out * in * (int64_t)n >= 65536;
}

static void run_product(herd_ctx *ctx, const product *p) {
    if (!worth_splitting(ctx, p->out, p->in, p->n)) {
        product_rows(ctx->isa, p, 0, p->out);
        return;
    }
    product_job j = { .isa = ctx->isa, .p = *p, .chunk = chunk_rows(ctx, p->out, p->row_bytes) };
    run_job(ctx, product_task, &j, (p->out + j.chunk - 1) / j.chunk);
}

/* A type this context can multiply: R16 types only where the kernels have them. */
static int type_ok(const herd_ctx *ctx, int dtype) {
    return row_bytes_of(dtype, 0) >= 0 && (!is_r16(dtype) || ctx->isa->matmul_r16 != NULL);
}

HERD_API int herd_matmul(herd_ctx *ctx, int dtype, const void *w, int64_t out, int64_t in, const float *x, float *y,
                         int32_t n) {
    if (!type_ok(ctx, dtype)) {
        return HERD_EBADTYPE;
    }
    if (n <= 0 || out <= 0) {
        return 0;
    }
    product p = { .dtype = dtype, .w = (const uint8_t *)w, .out = out, .in = in, .row_bytes = row_bytes_of(dtype, in),
                  .n = n, .y = y, .ystride = out };
    p.xa = prepare_act(ctx, act_kind_of(dtype), x, n, in, ACT_SLOT_IN, &p.xa_stride);
    if (p.xa == NULL) {
        return HERD_ENOMEM;
    }
    run_product(ctx, &p);
    return 0;
}

/* ------------------------------------------------------------------------------------------------
 * Repacking into the R16 layouts (see herd_kernels_isa.c): one task per group of 16 rows.
 * --------------------------------------------------------------------------------------------- */
HERD_API int64_t herd_repacked_size(const herd_ctx *ctx, int dtype, int64_t out, int64_t in) {
    if (ctx->isa->matmul_r16 == NULL || out <= 0 || in <= 0 || in % 32 != 0) {
        return 0;
    }
    int64_t groups = (out + 15) / 16;
    switch (dtype) {
    case HERD_Q4_0: return groups * r16_group_bytes(in / 32, R16_Q4_0_QBYTES);
    case HERD_Q8_0: return groups * r16_group_bytes(in / 32, R16_Q8_0_QBYTES);
    default: return 0;
    }
}

#define HUGE_PAGE ((size_t)2 << 20)

static size_t huge_round(int64_t bytes) {
    return ((size_t)bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
}

HERD_API void *herd_alloc_weights(int64_t bytes) {
    if (bytes <= 0) {
        return NULL;
    }
    size_t size = huge_round(bytes);
    /* over-allocate by one huge page, then trim to a 2 MiB-aligned range */
    uint8_t *raw = mmap(NULL, size + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
        return NULL;
    }
    uint8_t *p = (uint8_t *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (p > raw) {
        munmap(raw, (size_t)(p - raw));
    }
    size_t tail = (size_t)(raw + size + HUGE_PAGE - (p + size));
    if (tail > 0) {
        munmap(p + size, tail);
    }
#ifdef MADV_HUGEPAGE
    madvise(p, size, MADV_HUGEPAGE); /* a hint: without transparent huge pages it changes nothing */
#endif
    return p;
}

HERD_API void herd_free_weights(void *p, int64_t bytes) {
    if (p != NULL && bytes > 0) {
        munmap(p, huge_round(bytes));
    }
}

typedef struct {
    int q8; /* Q8_0 (else Q4_0) */
    const uint8_t *src;
    uint8_t *dst;
    int64_t out, blocks;
} repack_job;

static void repack_task(void *arg, int64_t g, int tid) {
    (void)tid;
    repack_job *j = (repack_job *)arg;
    int64_t bsize = j->q8 ? 34 : 18;     /* source block: f16 scale, then 32 values or 16 nibble bytes */
    int chunks = j->q8 ? 8 : 4;          /* 4-byte pieces of a block's values */
    int64_t qbytes = 64 * chunks;
    uint8_t *gd = j->dst + g * r16_group_bytes(j->blocks, qbytes);
    if (j->blocks % 2 == 1) { /* the unused half of a lone last block's scales */
        memset(gd + r16_scales_at(j->blocks - 1, qbytes) + R16_SCALE_BYTES, 0, R16_SCALE_BYTES);
    }
    for (int64_t b = 0; b < j->blocks; b++) {
        uint8_t *dq = gd + r16_quants_at(b, qbytes);
        uint8_t *ds = gd + r16_scales_at(b, qbytes);
        for (int r = 0; r < 16; r++) {
            int64_t row = 16 * g + r;
            if (row >= j->out) { /* padding rows: zero scale, zero values */
                memset(ds + 2 * r, 0, 2);
                for (int k = 0; k < chunks; k++) {
                    memset(dq + 64 * k + 4 * r, 0, 4);
                }
                continue;
            }
            const uint8_t *blk = j->src + row * j->blocks * bsize + b * bsize;
            memcpy(ds + 2 * r, blk, 2);
            /* q + 128 for Q8_0: the unsigned operand of the integer dot */
            uint32_t bias = j->q8 ? 0x80808080u : 0;
            for (int k = 0; k < chunks; k++) {
                uint32_t v;
                memcpy(&v, blk + 2 + 4 * k, 4);
                v ^= bias;
                memcpy(dq + 64 * k + 4 * r, &v, 4);
            }
        }
    }
}

#ifndef MADV_POPULATE_READ /* Linux 5.14; older kernels answer EINVAL, and the pages fault in as touched */
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif

static void populate(const void *p, int64_t bytes, int advice) {
    uintptr_t start = (uintptr_t)p & ~(uintptr_t)4095;
    madvise((void *)start, (size_t)((uintptr_t)p + (size_t)bytes - start), advice);
}

HERD_API int herd_repack(herd_ctx *ctx, int dtype, const void *w, int64_t out, int64_t in, void *dst) {
    if (herd_repacked_size(ctx, dtype, out, in) <= 0) {
        return HERD_EBADTYPE;
    }
    repack_job j = { .q8 = dtype == HERD_Q8_0, .src = (const uint8_t *)w, .dst = (uint8_t *)dst, .out = out,
                     .blocks = in / 32 };
    /* map both ranges in one call each rather than a fault per page: the copy's huge pages otherwise
     * fault one at a time, each waiting for the kernel to find (compact) 2 MiB of free memory */
    populate(w, row_bytes_of(dtype, in) * out, MADV_POPULATE_READ);
    populate(dst, herd_repacked_size(ctx, dtype, out, in), MADV_POPULATE_WRITE);
    run_job(ctx, repack_task, &j, (out + 15) / 16);
    return dtype == HERD_Q8_0 ? HERD_Q8_0_R16 : HERD_Q4_0_R16;
}

/* ------------------------------------------------------------------------------------------------
 * SwiGLU feed-forward: gate and up rows of a chunk in one task, gated there, then down.
 * --------------------------------------------------------------------------------------------- */
typedef struct {
    const herd_isa *isa;
    product gate, up;
    int64_t chunk;
} gate_up_job;

static void gate_up_task(void *arg, int64_t t, int tid) {
    (void)tid;
    gate_up_job *j = (gate_up_job *)arg;
    int64_t ffn = j->gate.out;
    int64_t o0 = t * j->chunk;
    int64_t o1 = o0 + j->chunk < ffn ? o0 + j->chunk : ffn;
    product_rows(j->isa, &j->gate, o0, o1);
    product_rows(j->isa, &j->up, o0, o1);
    for (int32_t r = 0; r < j->gate.n; r++) { /* the chunk's gate and up values are still in cache */
        j->isa->swiglu(j->gate.y + r * ffn + o0, j->up.y + r * ffn + o0, o1 - o0);
    }
}

HERD_API int herd_ffn_swiglu(herd_ctx *ctx, int gate_type, const void *gate, int up_type, const void *up,
                             int down_type, const void *down, int64_t ffn, int64_t hidden, const float *x,
                             int32_t n, float *y) {
    if (!type_ok(ctx, gate_type) || !type_ok(ctx, up_type) || !type_ok(ctx, down_type)) {
        return HERD_EBADTYPE;
    }
    if (n <= 0 || hidden <= 0) {
        return 0;
    }
    /* hidden (gate, then up) rows: f32, 64-byte aligned */
    size_t plane = ((size_t)ffn * (size_t)n * sizeof(float) + 63) / 64 * 64;
    float *h = (float *)grow(&ctx->hidden, &ctx->hidden_cap, 2 * plane);
    if (h == NULL) {
        return HERD_ENOMEM;
    }
    gate_up_job j = { .isa = ctx->isa };
    j.gate = (product){ .dtype = gate_type, .w = (const uint8_t *)gate, .out = ffn, .in = hidden,
                        .row_bytes = row_bytes_of(gate_type, hidden), .n = n, .y = h, .ystride = ffn };
    j.up = j.gate;
    j.up.dtype = up_type;
    j.up.w = (const uint8_t *)up;
    j.up.row_bytes = row_bytes_of(up_type, hidden);
    j.up.y = (float *)((uint8_t *)h + plane);
    /* x quantized once when gate and up take the same activation format */
    enum act_kind gk = act_kind_of(gate_type), uk = act_kind_of(up_type);
    j.gate.xa = prepare_act(ctx, gk, x, n, hidden, ACT_SLOT_IN, &j.gate.xa_stride);
    if (j.gate.xa == NULL) {
        return HERD_ENOMEM;
    }
    if (uk == gk) {
        j.up.xa = j.gate.xa;
        j.up.xa_stride = j.gate.xa_stride;
    } else {
        j.up.xa = prepare_act(ctx, uk, x, n, hidden, ACT_SLOT_HIDDEN, &j.up.xa_stride);
        if (j.up.xa == NULL) {
            return HERD_ENOMEM;
        }
    }
    if (!worth_splitting(ctx, 2 * ffn, hidden, n)) {
        j.chunk = ffn;
        gate_up_task(&j, 0, 0);
    } else {
        int64_t rb = j.gate.row_bytes + j.up.row_bytes;
        j.chunk = chunk_rows(ctx, ffn, rb);
        run_job(ctx, gate_up_task, &j, (ffn + j.chunk - 1) / j.chunk);
    }
    product d = { .dtype = down_type, .w = (const uint8_t *)down, .out = hidden, .in = ffn,
                  .row_bytes = row_bytes_of(down_type, ffn), .n = n, .y = y, .ystride = hidden };
    d.xa = prepare_act(ctx, act_kind_of(down_type), h, n, ffn, ACT_SLOT_HIDDEN, &d.xa_stride);
    if (d.xa == NULL) {
        return HERD_ENOMEM;
    }
    run_product(ctx, &d);
    return 0;
}

/* ------------------------------------------------------------------------------------------------
 * MoE routing
 * --------------------------------------------------------------------------------------------- */
HERD_API void herd_route(herd_ctx *ctx, float *logits, int32_t n, int32_t n_experts, int32_t k, int32_t gating,
                         int32_t normalize, int32_t *experts, float *weights) {
    for (int32_t t = 0; t < n; t++) {
        float *row = logits + (int64_t)t * n_experts;
        int32_t *chosen = experts + (int64_t)t * k;
        float *wt = weights + (int64_t)t * k;
        if (gating == 0) {
            ctx->isa->softmax(row, n_experts);
        }
        /* k passes of a max search skipping those taken: k and the expert count are small */
        for (int32_t s = 0; s < k; s++) {
            int32_t best = -1;
            for (int32_t i = 0; i < n_experts; i++) {
                int taken = 0;
                for (int32_t c = 0; c < s; c++) {
                    taken |= chosen[c] == i;
                }
                if (!taken && (best < 0 || row[i] > row[best])) {
                    best = i;
                }
            }
            chosen[s] = best;
        }
        double sum = 0;
        for (int32_t s = 0; s < k; s++) {
            float v = row[chosen[s]];
            float w = gating == 1 ? (float)(1.0 / (1.0 + exp(-(double)v))) : v;
            wt[s] = w;
            sum += w;
        }
        if (normalize) {
            for (int32_t s = 0; s < k; s++) {
                wt[s] = (float)(wt[s] / sum);
            }
        }
    }
}

HERD_API int herd_get_row(herd_ctx *ctx, int dtype, const void *row, int64_t cols, float *out) {
    if (row_bytes_of(dtype, cols) < 0 || is_r16(dtype)) {
        return HERD_EBADTYPE;
    }
    ctx->isa->dequant_row(dtype, (const uint8_t *)row, cols, out);
    return 0;
}

/* ------------------------------------------------------------------------------------------------
 * Row kernels on the calling thread
 * --------------------------------------------------------------------------------------------- */
HERD_API void herd_rmsnorm(herd_ctx *ctx, const float *x, const float *w, float eps, int32_t dim, int32_t n,
                           float *out) {
    for (int32_t r = 0; r < n; r++) {
        ctx->isa->rmsnorm_row(x + (int64_t)r * dim, w, eps, dim, out + (int64_t)r * dim);
    }
}

HERD_API void herd_rope(float *x, int32_t n, int32_t heads, int32_t head_dim, const int32_t *positions,
                        const float *inv_freq, int32_t half, int32_t style) {
    for (int32_t r = 0; r < n; r++) {
        for (int32_t i = 0; i < half; i++) {
            /* angles in double, as the reference does: positions reach 10^5 and more */
            double angle = (double)positions[r] * (double)inv_freq[i];
            float c = (float)cos(angle);
            float s = (float)sin(angle);
            for (int32_t h = 0; h < heads; h++) {
                float *base = x + ((int64_t)r * heads + h) * head_dim;
                float *a = style == 0 ? base + i : base + 2 * i;
                float *b = style == 0 ? base + i + half : base + 2 * i + 1;
                float x0 = *a, x1 = *b;
                *a = x0 * c - x1 * s;
                *b = x0 * s + x1 * c;
            }
        }
    }
}

HERD_API void herd_softmax(herd_ctx *ctx, float *x, int64_t len) {
    ctx->isa->softmax(x, len);
}

HERD_API void herd_swiglu(herd_ctx *ctx, float *gate, const float *up, int64_t len) {
    ctx->isa->swiglu(gate, up, len);
}

/* ------------------------------------------------------------------------------------------------
 * Attention, many query rows (prefill): tasks are (query row, kv head, slice of that kv head's query
 * heads). Heads sharing a kv head are kept together when there are enough tasks (each key/value row is
 * then read once per group); with few rows and kv heads the groups are split so every thread has work.
 * --------------------------------------------------------------------------------------------- */
typedef struct {
    herd_ctx *ctx;
    int32_t n_heads, n_kv, hd, chunk, split, per;
    float scale;
    const float *q;
    herd_kv kv;
    const int32_t *pos;
    float *out;
    int64_t max_len;
    atomic_int failed;
} attn_job;

static void attn_task(void *p, int64_t t, int tid) {
    attn_job *j = (attn_job *)p;
    worker *self = &j->ctx->workers[tid];
    if (grow((void **)&self->scratch, &self->scratch_cap, sizeof(float) * (size_t)(j->per * j->max_len)) == NULL) {
        atomic_store(&j->failed, 1);
        return;
    }
    int32_t group = j->n_heads / j->n_kv;
    int64_t q_dim = (int64_t)j->n_heads * j->hd;
    int32_t s = (int32_t)(t % j->split);
    int32_t kvh = (int32_t)(t / j->split % j->n_kv);
    int64_t r = t / j->split / j->n_kv;
    int32_t pos = j->pos[r];
    int32_t start = j->chunk == 0 ? 0 : pos - pos % j->chunk;
    int32_t h0 = kvh * group + s * j->per;
    int64_t qo = r * q_dim + (int64_t)h0 * j->hd;
    int64_t ko = (int64_t)kvh * j->hd;
    j->ctx->isa->attn_heads(j->q + qo, j->per, j->hd, &j->kv, ko, start, pos, j->scale, self->scratch, j->out + qo);
}

/* Few query rows (decode): tasks are (row, slice of its key range), each over all heads, so the cache
 * is read in whole rows, in order, and split over threads even for one row; slices are merged after.
 * Per task the partials hold, per head, m, l and acc[head_dim]. */
#define SPLIT_MAX_ROWS 4

typedef struct {
    herd_ctx *ctx;
    int32_t n_heads, group, hd;
    float scale;
    int64_t slice;
    const float *q;
    herd_kv kv;
    int64_t first_task[SPLIT_MAX_ROWS + 1]; /* tasks of row r: [first_task[r], first_task[r + 1]) */
    int64_t start[SPLIT_MAX_ROWS], pos[SPLIT_MAX_ROWS];
    float *partials;
    atomic_int failed;
} split_job;

static void split_task(void *p, int64_t t, int tid) {
    split_job *j = (split_job *)p;
    int r = 0;
    while (t >= j->first_task[r + 1]) {
        r++;
    }
    int64_t t0 = j->start[r] + (t - j->first_task[r]) * j->slice;
    int64_t t1 = t0 + j->slice - 1 < j->pos[r] ? t0 + j->slice - 1 : j->pos[r];
    worker *self = &j->ctx->workers[tid];
    if (grow((void **)&self->scratch, &self->scratch_cap, sizeof(float) * (size_t)(j->n_heads * j->slice)) == NULL) {
        atomic_store(&j->failed, 1);
        return;
    }
    size_t stride = (size_t)j->n_heads * (size_t)(j->hd + 2);
    float *m = j->partials + (size_t)t * stride;
    float *l = m + j->n_heads;
    float *acc = l + j->n_heads;
    j->ctx->isa->attn_partial(j->q + (int64_t)r * j->n_heads * j->hd, j->n_heads, j->group, j->hd, &j->kv, t0, t1,
                              j->scale, self->scratch, m, l, acc);
}

static int attention_split(herd_ctx *ctx, int32_t n_heads, int32_t n_kv_heads, int32_t hd, float scale, int32_t chunk,
                           const float *q, const int32_t *positions, int32_t n, const herd_kv *kv, float *out) {
    split_job j = {
        .ctx = ctx, .n_heads = n_heads, .group = n_heads / n_kv_heads, .hd = hd, .scale = scale, .q = q, .kv = *kv,
    };
    int64_t max_len = 1;
    for (int32_t r = 0; r < n; r++) {
        j.pos[r] = positions[r];
        j.start[r] = chunk == 0 ? 0 : positions[r] - positions[r] % chunk;
        max_len = j.pos[r] - j.start[r] + 1 > max_len ? j.pos[r] - j.start[r] + 1 : max_len;
    }
    /* about four slices per thread for the longest row, none shorter than 64 keys */
    int64_t slice = (max_len + 4L * ctx->nth - 1) / (4L * ctx->nth);
    j.slice = slice < 64 ? 64 : slice;
    j.first_task[0] = 0;
    for (int32_t r = 0; r < n; r++) {
        j.first_task[r + 1] = j.first_task[r] + (j.pos[r] - j.start[r] + j.slice) / j.slice;
    }
    int64_t tasks = j.first_task[n];
    size_t stride = (size_t)n_heads * (size_t)(hd + 2);
    j.partials = grow((void **)&ctx->partials, &ctx->partials_cap, sizeof(float) * stride * (size_t)tasks);
    if (j.partials == NULL) {
        return HERD_ENOMEM;
    }
    atomic_init(&j.failed, 0);
    run_job(ctx, split_task, &j, tasks);
    if (atomic_load(&j.failed)) {
        return HERD_ENOMEM;
    }
    /* merge: rescale each slice's sums to the row's overall max */
    for (int32_t r = 0; r < n; r++) {
        for (int32_t h = 0; h < n_heads; h++) {
            float mx = -INFINITY;
            for (int64_t t = j.first_task[r]; t < j.first_task[r + 1]; t++) {
                float mt = j.partials[(size_t)t * stride + (size_t)h];
                mx = mt > mx ? mt : mx;
            }
            float *o = out + ((int64_t)r * n_heads + h) * hd;
            memset(o, 0, sizeof(float) * (size_t)hd);
            double total = 0;
            for (int64_t t = j.first_task[r]; t < j.first_task[r + 1]; t++) {
                const float *m = j.partials + (size_t)t * stride;
                float w = expf(m[h] - mx);
                total += (double)w * m[n_heads + h];
                const float *acc = m + 2 * n_heads + (size_t)h * hd;
                for (int32_t i = 0; i < hd; i++) {
                    o[i] += w * acc[i];
                }
            }
            float inv = (float)(1.0 / total);
            for (int32_t i = 0; i < hd; i++) {
                o[i] *= inv;
            }
        }
    }
    return 0;
}

HERD_API int herd_attention(herd_ctx *ctx, int32_t n_heads, int32_t n_kv_heads, int32_t head_dim, float scale,
                            int32_t chunk, const float *q, const int32_t *positions, int32_t n,
                            const float *k_cache, const float *v_cache, const int32_t *blocks, int32_t block_tokens,
                            int64_t block_stride, float *out) {
    if (n <= 0) {
        return 0;
    }
    herd_kv kv = {
        .k = k_cache, .v = v_cache, .blocks = blocks, .block_tokens = block_tokens, .block_stride = block_stride,
        .row = (int64_t)n_kv_heads * head_dim,
    };
    if (n <= SPLIT_MAX_ROWS) {
        return attention_split(ctx, n_heads, n_kv_heads, head_dim, scale, chunk, q, positions, n, &kv, out);
    }
    int32_t group = n_heads / n_kv_heads;
    int64_t max_len = 1;
    for (int32_t r = 0; r < n; r++) {
        int64_t start = chunk == 0 ? 0 : positions[r] - positions[r] % chunk;
        int64_t len = positions[r] - start + 1;
        max_len = len > max_len ? len : max_len;
    }
    /* smallest split of each group (a divisor of it) that gives every thread a task or two */
    int32_t split = 1;
    while (split < group && (int64_t)n * n_kv_heads * split < 2L * ctx->nth) {
        split++;
        while (group % split != 0) {
            split++;
        }
    }
    attn_job j = {
        .ctx = ctx, .n_heads = n_heads, .n_kv = n_kv_heads, .hd = head_dim, .chunk = chunk, .split = split,
        .per = group / split, .scale = scale, .q = q, .kv = kv, .pos = positions, .out = out,
        .max_len = max_len,
    };
    atomic_init(&j.failed, 0);
    run_job(ctx, attn_task, &j, (int64_t)n * n_kv_heads * split);
    return atomic_load(&j.failed) ? HERD_ENOMEM : 0;
}

/* ------------------------------------------------------------------------------------------------
 * Memory bandwidth probe
 * --------------------------------------------------------------------------------------------- */
typedef struct {
    float *a, *b, *c;
    int64_t n, per;
    int init;
} triad_job;

static void triad_task(void *p, int64_t t, int tid) {
    (void)tid;
    triad_job *j = (triad_job *)p;
    int64_t i0 = t * j->per, i1 = i0 + j->per < j->n ? i0 + j->per : j->n;
    float *restrict a = j->a;
    const float *restrict b = j->b;
    const float *restrict c = j->c;
    if (j->init) {
        for (int64_t i = i0; i < i1; i++) {
            j->a[i] = 0;
            j->b[i] = 1;
            j->c[i] = 2;
        }
        return;
    }
    for (int64_t i = i0; i < i1; i++) {
        a[i] = b[i] + 3.0f * c[i];
    }
}

HERD_API double herd_triad(herd_ctx *ctx, int64_t elements, int32_t reps) {
    /* slices of 256 KiB: small enough to balance, long enough to stream */
    triad_job j = { .n = elements, .per = 65536, .init = 1 };
    int64_t tasks = (elements + j.per - 1) / j.per;
    size_t bytes = (size_t)elements * sizeof(float);
    if (posix_memalign((void **)&j.a, 64, bytes) || posix_memalign((void **)&j.b, 64, bytes)
        || posix_memalign((void **)&j.c, 64, bytes)) {
        free(j.a);
        free(j.b);
        free(j.c);
        return -1;
    }
    run_job(ctx, triad_task, &j, tasks);
    j.init = 0;
    double best = 0;
    for (int32_t r = 0; r < reps; r++) {
        int64_t t0 = now_ns();
        run_job(ctx, triad_task, &j, tasks);
        double gbs = 3.0 * (double)bytes / (double)(now_ns() - t0);
        best = gbs > best ? gbs : best;
    }
    volatile float sink = j.a[elements / 2];
    (void)sink;
    free(j.a);
    free(j.b);
    free(j.c);
    return best;
}
