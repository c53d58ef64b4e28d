/* The reactor's slab of Go callbacks (see shim.h): slots are taken by Go on
 * the reactor's thread and given back by the destroy hooks, with no lock and
 * no call into Go on that thread. */
#include "shim.h"

#include <string.h>

enum { BLOCK = 1024 }; /* records per block; blocks never move */

static pthread_mutex_t orphans_mu = PTHREAD_MUTEX_INITIALIZER;
static long orphan_live; /* live slots of freed reactors' slabs */

dfrgo_slab *dfrgo_slab_new(dfr_reactor *r, long tid, uint32_t id)
{
    dfrgo_slab *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->tid = tid;
    s->r = r;
    s->id = id;
    pthread_mutex_init(&s->mu, NULL);
    return s;
}

static void slab_free(dfrgo_slab *s)
{
    for (uint32_t i = 0; i < s->cap / BLOCK; i++)
        free(s->blocks[i]);
    free(s->blocks);
    free(s->free);
    free(s->zombie);
    free(s->rfree);
    free(s->rzombie);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* One more block; the four stacks (a slot is in at most one) double when
 * they would be too small, and blocks never move. */
static int grow(dfrgo_slab *s)
{
    uint32_t n = s->cap / BLOCK, cap = s->cap + BLOCK;
    if (cap > DFRGO_SLOT_EB) /* slots must fit below the flag bits */
        return DFR_ENOMEM;
    if (cap > s->scap) {
        uint32_t scap = s->scap ? 2 * s->scap : BLOCK;
        dfrgo_rec **blocks = realloc(s->blocks, scap / BLOCK * sizeof *blocks);
        if (!blocks)
            return DFR_ENOMEM;
        s->blocks = blocks;
        uint32_t **stacks[] = {&s->free, &s->zombie, &s->rfree, &s->rzombie};
        for (size_t i = 0; i < sizeof stacks / sizeof stacks[0]; i++) {
            uint32_t *grown = realloc(*stacks[i], scap * sizeof **stacks[i]);
            if (!grown) /* what was reallocated stays, bigger: harmless */
                return DFR_ENOMEM;
            *stacks[i] = grown;
        }
        s->scap = scap;
    }
    dfrgo_rec *block = malloc(BLOCK * sizeof *block);
    if (!block)
        return DFR_ENOMEM;
    s->blocks[n] = block;
    for (uint32_t i = 0; i < BLOCK; i++) {
        block[i].slab = s;
        block[i].idx = s->cap + i;
        block[i].ran = 0;
        s->free[s->nfree++] = s->cap + BLOCK - 1 - i; /* lowest slot on top */
    }
    s->cap = cap;
    return 0;
}

int dfrgo_slab_refill(dfrgo_slab *s)
{
    int rc = 0;
    pthread_mutex_lock(&s->mu); /* grow moves the r* stacks: under mu too */
    memcpy(s->free + s->nfree, s->rfree, s->nrfree * sizeof *s->free);
    s->nfree += s->nrfree;
    memcpy(s->zombie + s->nzombie, s->rzombie, s->nrzombie * sizeof *s->zombie);
    s->nzombie += s->nrzombie;
    s->nrfree = s->nrzombie = 0;
    s->live -= s->rlive;
    s->rlive = 0;
    if (s->nfree == 0 && s->nzombie == 0)
        rc = grow(s);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int dfrgo_slab_orphan(dfrgo_slab *s)
{
    pthread_mutex_lock(&s->mu);
    long live = s->live - s->rlive;
    s->orphaned = 1;
    pthread_mutex_unlock(&s->mu);
    if (live == 0) {
        slab_free(s);
        return 1;
    }
    pthread_mutex_lock(&orphans_mu);
    orphan_live += live;
    pthread_mutex_unlock(&orphans_mu);
    return 0;
}

/* Ids of orphaned slabs their last release freed (under orphans_mu): Go
 * reclaims them in newSlab, else each reactor whose deferreds outlived it kept
 * its Go half (functions' blocks, the reactor) for the life of the process. */
static uint32_t *dead_ids;
static size_t ndead, capdead;

size_t dfrgo_take_dead_slabs(uint32_t *out, size_t n)
{
    pthread_mutex_lock(&orphans_mu);
    if (n > ndead)
        n = ndead;
    ndead -= n;
    memcpy(out, dead_ids + ndead, n * sizeof *out);
    pthread_mutex_unlock(&orphans_mu);
    return n;
}

long dfrgo_slab_live(dfrgo_slab *s)
{
    long n;
    if (!s) {
        pthread_mutex_lock(&orphans_mu);
        n = orphan_live;
        pthread_mutex_unlock(&orphans_mu);
        return n;
    }
    pthread_mutex_lock(&s->mu);
    n = s->live - s->rlive;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* The destroy side: exactly once per slot handed out. */
void dfrgo_slot_release(dfrgo_rec *rec, int ran)
{
    dfrgo_slab *s = rec->slab;
    rec->ran = 0;
    if (dfrgo_tid() == s->tid && !s->orphaned) {
        if (ran)
            s->free[s->nfree++] = rec->idx;
        else
            s->zombie[s->nzombie++] = rec->idx;
        s->live--;
        return;
    }
    pthread_mutex_lock(&s->mu);
    if (ran)
        s->rfree[s->nrfree++] = rec->idx;
    else
        s->rzombie[s->nrzombie++] = rec->idx;
    s->rlive++;
    int orphaned = s->orphaned;
    int dead = orphaned && s->live == s->rlive; /* live is the owner's until then */
    pthread_mutex_unlock(&s->mu);
    if (orphaned) {
        pthread_mutex_lock(&orphans_mu);
        orphan_live--;
        if (dead) {
            if (ndead == capdead) {
                size_t cap = capdead ? 2 * capdead : 16;
                uint32_t *p = realloc(dead_ids, cap * sizeof *p);
                if (p) {
                    dead_ids = p;
                    capdead = cap;
                }
            }
            if (ndead < capdead) /* out of memory: the id is not reused */
                dead_ids[ndead++] = s->id;
        }
        pthread_mutex_unlock(&orphans_mu);
    }
    if (dead)
        slab_free(s);
}

dfrgo_rec *dfrgo_slot_rec(dfrgo_slab *s, uint32_t idx)
{
    return &s->blocks[idx / BLOCK][idx % BLOCK];
}
