/* model.c - the node resource model: lifecycle, validation and derived
 * indexes, the text description, and cpuset strings. Pure: no hwloc here
 * (see topo.c), no I/O. */
#include "placement/place_int.h"

#include "common/cl_heap.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

const char *place_vendor_name(enum place_vendor v)
{
    switch (v) {
    case PLACE_VENDOR_NVIDIA:
        return "nvidia";
    case PLACE_VENDOR_AMD:
        return "amd";
    case PLACE_VENDOR_OTHER:
        return "other";
    case PLACE_VENDOR_NONE:
        break;
    }
    return "none";
}

const char *place_fit_name(enum place_fit f)
{
    switch (f) {
    case PLACE_FIT_NUMA:
        return "numa";
    case PLACE_FIT_PACKAGE:
        return "package";
    case PLACE_FIT_SPREAD:
        break;
    }
    return "spread";
}

place_model *place__model_new(void)
{
    return cl_calloc(1, sizeof(place_model));
}

static void ix_free(struct place__model_ix *ix)
{
    if (ix == NULL)
        return;
    cl_free(ix->all_cores);
    cl_free(ix->numa_cores);
    cl_free(ix->pkg_cores);
    cl_free(ix->cache_cores);
    cl_free(ix->gpu_near);
    cl_free(ix->core_gpus);
    cl_free(ix->numa_gpus);
    cl_free(ix->pkg_gpus);
    cl_free(ix->group_gpus);
    cl_free(ix->cpu_numa);
    cl_free(ix->pkg_ncores);
    cl_free(ix->pkg_memory);
    cl_free(ix->pu_sorted);
    cl_free(ix);
}

void place_model_free(place_model *m)
{
    if (m == NULL)
        return;
    cl_free(m->hostname);
    cl_free(m->packages);
    cl_free(m->numa);
    cl_free(m->cores);
    cl_free(m->pus);
    if (m->gpus != NULL) {
        for (uint32_t i = 0; i < m->ngpus; i++) {
            cl_free(m->gpus[i].model);
            cl_free(m->gpus[i].os_devices);
            cl_free(m->gpus[i].locality);
            cl_free(m->gpus[i].near_cores);
        }
        cl_free(m->gpus);
    }
    if (m->links != NULL) {
        for (uint32_t i = 0; i < m->nlinks; i++) {
            place_link *l = &m->links[i];
            if (l->members != NULL)
                for (uint32_t j = 0; j < l->n; j++)
                    cl_free(l->members[j].name);
            cl_free(l->members);
            cl_free(l->values);
            cl_free(l->name);
        }
        cl_free(m->links);
    }
    cl_free(m->gpu_bw);
    ix_free(m->ix);
    cl_free(m);
}

int place_model_dup(const place_model *m, place_model **out)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rv = place_model_pack(m, &buf, &len);
    if (rv != 0)
        return rv;
    rv = place_model_unpack(buf, len, out, NULL);
    cl_free(buf);
    return rv;
}

/* ------------------------------------------------------------------ */
/* Validation and derived data                                          */

static bool str_ok(const char *s)
{
    return s != NULL && strnlen(s, PLACE_MAX_STRING + 1) <= PLACE_MAX_STRING;
}

static bool pci_id_ok(const char *s)
{
    /* "dddd:bb:dd.f" in lower-case hex, or empty. */
    size_t n = strnlen(s, PLACE_PCI_ID_SIZE);
    if (n == 0)
        return true;
    if (n != 12)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (i == 4 || i == 7) {
            if (ch != ':')
                return false;
        } else if (i == 10) {
            if (ch != '.')
                return false;
        } else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
            return false;
        }
    }
    return true;
}

struct os_pair {
    uint32_t os, idx;
};

static int cmp_os_pair(const void *a, const void *b)
{
    const struct os_pair *x = a, *y = b;
    if (x->os != y->os)
        return (x->os > y->os) - (x->os < y->os);
    return (x->idx > y->idx) - (x->idx < y->idx);
}

int32_t place__pu_lookup(const place_model *m, uint32_t os)
{
    const uint32_t *s = m->ix->pu_sorted;
    size_t lo = 0, hi = m->npus;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t v = m->pus[s[mid]].os_index;
        if (v == os)
            return (int32_t)s[mid];
        if (v < os)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int32_t place__numa_lookup(const place_model *m, uint32_t os)
{
    for (uint32_t i = 0; i < m->nnuma; i++)
        if (m->numa[i].os_index == os)
            return (int32_t)i;
    return -1;
}

static uint32_t uf_find(uint32_t *p, uint32_t x)
{
    while (p[x] != x) {
        p[x] = p[p[x]];
        x = p[x];
    }
    return x;
}

static uint64_t link_val(const place_link *l, uint32_t a, uint32_t b)
{
    uint64_t x = l->values[(size_t)a * l->n + b];
    uint64_t y = l->values[(size_t)b * l->n + a];
    return x > y ? x : y;
}

/* GPU-to-GPU bandwidth, direct or through one switch, and link groups
 * (connected components of the GPUs a link matrix names). */
static int derive_links(place_model *m, cl_errmsg *err)
{
    uint32_t g = m->ngpus;
    m->nlink_groups = 0;
    for (uint32_t i = 0; i < g; i++)
        m->gpus[i].link_group = -1;
    if (g == 0)
        return 0;
    m->gpu_bw = cl_calloc((size_t)g * g, sizeof(uint64_t));
    uint32_t parent[PLACE_MAX_GPUS];
    bool known[PLACE_MAX_GPUS] = {false};
    if (m->gpu_bw == NULL) {
        cl_errmsg_set(err, "topology: out of memory");
        return CL_ENOMEM;
    }
    for (uint32_t i = 0; i < g; i++)
        parent[i] = i;
    for (uint32_t li = 0; li < m->nlinks; li++) {
        const place_link *l = &m->links[li];
        for (uint32_t a = 0; a < l->n; a++) {
            if (l->members[a].kind != PLACE_LINK_GPU)
                continue;
            uint32_t ga = l->members[a].index;
            known[ga] = true;
            for (uint32_t b = 0; b < l->n; b++) {
                if (b == a)
                    continue;
                if (l->members[b].kind == PLACE_LINK_GPU) {
                    uint32_t gb = l->members[b].index;
                    if (gb == ga)
                        continue;
                    uint64_t v = link_val(l, a, b);
                    uint64_t *cell = &m->gpu_bw[(size_t)ga * g + gb];
                    if (v > *cell)
                        *cell = v;
                } else if (l->members[b].kind == PLACE_LINK_SWITCH) {
                    uint64_t up = link_val(l, a, b);
                    if (up == 0)
                        continue;
                    for (uint32_t c = 0; c < l->n; c++) {
                        if (c == a || l->members[c].kind != PLACE_LINK_GPU)
                            continue;
                        uint32_t gc = l->members[c].index;
                        if (gc == ga)
                            continue;
                        uint64_t down = link_val(l, b, c);
                        uint64_t v = up < down ? up : down;
                        uint64_t *cell = &m->gpu_bw[(size_t)ga * g + gc];
                        if (v > *cell)
                            *cell = v;
                    }
                }
            }
        }
    }
    for (uint32_t a = 0; a < g; a++)
        for (uint32_t b = 0; b < g; b++)
            if (a != b && m->gpu_bw[(size_t)a * g + b] > 0) {
                uint32_t ra = uf_find(parent, a), rb = uf_find(parent, b);
                if (ra != rb)
                    parent[rb < ra ? ra : rb] = rb < ra ? rb : ra;
            }
    int32_t gid[PLACE_MAX_GPUS];
    for (uint32_t i = 0; i < g; i++)
        gid[i] = -1;
    for (uint32_t i = 0; i < g; i++) {
        if (!known[i])
            continue;
        uint32_t r = uf_find(parent, i);
        if (gid[r] < 0)
            gid[r] = (int32_t)m->nlink_groups++;
        m->gpus[i].link_group = gid[r];
    }
    return 0;
}

static int alloc_words(uint64_t **p, size_t n, uint32_t words)
{
    size_t cnt = n * words;
    *p = cl_calloc(cnt ? cnt : 1, sizeof(uint64_t));
    return *p ? 0 : CL_ENOMEM;
}

static int build_ix(place_model *m)
{
    struct place__model_ix *ix = cl_calloc(1, sizeof(*ix));
    if (ix == NULL)
        return CL_ENOMEM;
    m->ix = ix;
    uint32_t w = (m->ncores + 63) / 64;
    ix->words = w;
    int rv = 0;
    rv |= alloc_words(&ix->all_cores, 1, w);
    rv |= alloc_words(&ix->numa_cores, m->nnuma, w);
    rv |= alloc_words(&ix->pkg_cores, m->npackages, w);
    rv |= alloc_words(&ix->cache_cores, m->ncaches, w);
    rv |= alloc_words(&ix->gpu_near, m->ngpus, w);
    ix->core_gpus = cl_calloc(m->ncores, sizeof(uint64_t));
    ix->numa_gpus = cl_calloc(m->nnuma, sizeof(uint64_t));
    ix->pkg_gpus = cl_calloc(m->npackages + 1, sizeof(uint64_t));
    ix->group_gpus = cl_calloc(m->nlink_groups + 1, sizeof(uint64_t));
    ix->cpu_numa = cl_calloc(m->nnuma, sizeof(uint32_t));
    ix->pkg_ncores = cl_calloc(m->npackages + 1, sizeof(uint32_t));
    ix->pkg_memory = cl_calloc(m->npackages + 1, sizeof(uint64_t));
    ix->pu_sorted = cl_calloc(m->npus, sizeof(uint32_t));
    if (rv != 0 || !ix->core_gpus || !ix->numa_gpus || !ix->pkg_gpus ||
        !ix->group_gpus || !ix->cpu_numa || !ix->pkg_ncores ||
        !ix->pkg_memory || !ix->pu_sorted)
        return CL_ENOMEM;
    for (uint32_t c = 0; c < m->ncores; c++) {
        const place_core *k = &m->cores[c];
        place__bit_set(ix->all_cores, c);
        if (k->numa >= 0)
            place__bit_set(ix->numa_cores + (size_t)k->numa * w, c);
        if (k->package >= 0) {
            place__bit_set(ix->pkg_cores + (size_t)k->package * w, c);
            ix->pkg_ncores[k->package]++;
        }
        if (k->cache >= 0)
            place__bit_set(ix->cache_cores + (size_t)k->cache * w, c);
        if (k->kind > ix->max_kind)
            ix->max_kind = k->kind;
    }
    for (uint32_t i = 0; i < m->nnuma; i++) {
        if (m->numa[i].ncores > 0) {
            ix->cpu_numa[ix->ncpu_numa++] = i;
            if (m->numa[i].package >= 0)
                ix->pkg_memory[m->numa[i].package] += m->numa[i].memory;
        }
    }
    uint32_t vendors = 0;
    for (uint32_t g = 0; g < m->ngpus; g++) {
        const place_gpu *gp = &m->gpus[g];
        uint64_t bit = (uint64_t)1 << g;
        for (uint32_t j = 0; j < gp->nnear; j++) {
            place__bit_set(ix->gpu_near + (size_t)g * w, gp->near_cores[j]);
            ix->core_gpus[gp->near_cores[j]] |= bit;
        }
        if (gp->numa >= 0)
            ix->numa_gpus[gp->numa] |= bit;
        if (gp->package >= 0)
            ix->pkg_gpus[gp->package] |= bit;
        if (gp->link_group >= 0) {
            ix->group_gpus[gp->link_group] |= bit;
            ix->links_known = true;
        }
        ix->vendor_gpus[gp->vendor] |= bit;
        ix->all_gpus |= bit;
        vendors |= 1u << gp->vendor;
    }
    if (vendors == 0)
        ix->vclass = PLACE_VENDOR_NONE;
    else if (vendors == (1u << PLACE_VENDOR_NVIDIA))
        ix->vclass = PLACE_VENDOR_NVIDIA;
    else if (vendors == (1u << PLACE_VENDOR_AMD))
        ix->vclass = PLACE_VENDOR_AMD;
    else
        ix->vclass = PLACE_VENDOR_OTHER; /* other or mixed */
    struct os_pair *pairs = cl_malloc(m->npus * sizeof(*pairs));
    if (pairs == NULL)
        return CL_ENOMEM;
    for (uint32_t i = 0; i < m->npus; i++) {
        pairs[i].os = m->pus[i].os_index;
        pairs[i].idx = i;
    }
    qsort(pairs, m->npus, sizeof(*pairs), cmp_os_pair);
    for (uint32_t i = 0; i < m->npus; i++)
        ix->pu_sorted[i] = pairs[i].idx;
    cl_free(pairs);
    return 0;
}

#define FAIL(code, ...)                                                        \
    do {                                                                       \
        cl_errmsg_set(err, __VA_ARGS__);                                       \
        return (code);                                                         \
    } while (0)

int place__model_finish(place_model *m, cl_errmsg *err)
{
    if (m->hostname == NULL && (m->hostname = cl_strdup("")) == NULL)
        FAIL(CL_ENOMEM, "topology: out of memory");
    if (!str_ok(m->hostname))
        FAIL(CL_ETOOBIG, "topology: hostname longer than %d bytes",
             PLACE_MAX_STRING);
    if (m->npus == 0 || m->ncores == 0 || m->nnuma == 0)
        FAIL(CL_ETOPO,
             "topology: needs at least one PU, core and NUMA node "
             "(has %" PRIu32 ", %" PRIu32 ", %" PRIu32 ")",
             m->npus, m->ncores, m->nnuma);
    if (m->npus > PLACE_MAX_PUS || m->ncores > PLACE_MAX_CORES ||
        m->nnuma > PLACE_MAX_NUMA || m->npackages > PLACE_MAX_PACKAGES ||
        m->ngpus > PLACE_MAX_GPUS || m->nlinks > PLACE_MAX_LINKS ||
        m->ncaches > m->ncores)
        FAIL(CL_ETOOBIG,
             "topology: too large (%" PRIu32 " PUs, %" PRIu32 " cores, %" PRIu32
             " NUMA nodes, %" PRIu32 " packages, %" PRIu32 " GPUs, %" PRIu32
             " link matrices)",
             m->npus, m->ncores, m->nnuma, m->npackages, m->ngpus, m->nlinks);
    for (uint32_t i = 0; i < m->nnuma; i++) {
        place_numa *n = &m->numa[i];
        if (n->package < -1 || n->package >= (int32_t)m->npackages)
            FAIL(CL_EPROTO, "topology: NUMA node %" PRIu32
                            ": package %" PRId32 " out of range",
                 i, n->package);
        for (uint32_t j = 0; j < i; j++)
            if (m->numa[j].os_index == n->os_index)
                FAIL(CL_EPROTO, "topology: NUMA OS index %" PRIu32
                                " appears twice",
                     n->os_index);
        n->ncores = 0;
    }
    uint32_t next_pu = 0;
    for (uint32_t c = 0; c < m->ncores; c++) {
        place_core *k = &m->cores[c];
        if (k->package < -1 || k->package >= (int32_t)m->npackages ||
            k->numa < -1 || k->numa >= (int32_t)m->nnuma || k->cache < -1 ||
            k->cache >= (int32_t)m->ncaches || k->kind > 255)
            FAIL(CL_EPROTO, "topology: core %" PRIu32
                            ": package, NUMA, cache or kind out of range",
                 c);
        if (k->npus == 0 || k->npus > PLACE_MAX_PUS_PER_CORE ||
            k->pu_first != next_pu || k->npus > m->npus - next_pu)
            FAIL(CL_EPROTO, "topology: core %" PRIu32
                            ": bad PU range (%" PRIu32 " PUs)",
                 c, k->npus);
        for (uint32_t p = k->pu_first; p < k->pu_first + k->npus; p++)
            m->pus[p].core = c;
        next_pu += k->npus;
        if (k->numa >= 0)
            m->numa[k->numa].ncores++;
    }
    if (next_pu != m->npus)
        FAIL(CL_EPROTO, "topology: %" PRIu32 " PUs but cores hold %" PRIu32,
             m->npus, next_pu);
    for (uint32_t i = 0; i < m->ngpus; i++) {
        place_gpu *g = &m->gpus[i];
        if ((unsigned)g->vendor > PLACE_VENDOR_OTHER || g->index < -1 ||
            g->numa < -1 || g->numa >= (int32_t)m->nnuma ||
            g->package < -1 || g->package >= (int32_t)m->npackages)
            FAIL(CL_EPROTO, "topology: GPU %" PRIu32
                            ": vendor, index, NUMA or package out of range",
                 i);
        if (memchr(g->pci_bus_id, 0, sizeof(g->pci_bus_id)) == NULL ||
            !pci_id_ok(g->pci_bus_id))
            FAIL(CL_EPROTO, "topology: GPU %" PRIu32 ": bad PCI bus id", i);
        if (!str_ok(g->model) || !str_ok(g->os_devices) ||
            !str_ok(g->locality))
            FAIL(CL_EPROTO, "topology: GPU %" PRIu32
                            ": missing or overlong model, device or "
                            "locality name",
                 i);
        if (g->nnear > m->ncores || (g->nnear > 0 && g->near_cores == NULL))
            FAIL(CL_EPROTO, "topology: GPU %" PRIu32 ": bad near-core list",
                 i);
        for (uint32_t j = 0; j < g->nnear; j++) {
            if (g->near_cores[j] >= m->ncores)
                FAIL(CL_EPROTO, "topology: GPU %" PRIu32
                                ": near core %" PRIu32 " out of range",
                     i, g->near_cores[j]);
            if (j > 0 && g->near_cores[j] <= g->near_cores[j - 1])
                FAIL(CL_EPROTO, "topology: GPU %" PRIu32
                                ": near cores not ascending",
                     i);
        }
        if (g->pci_bus_id[0] != '\0')
            for (uint32_t j = 0; j < i; j++)
                if (strcmp(m->gpus[j].pci_bus_id, g->pci_bus_id) == 0)
                    FAIL(CL_EPROTO, "topology: PCI device %s listed twice",
                         g->pci_bus_id);
    }
    uint64_t cells = 0;
    for (uint32_t i = 0; i < m->nlinks; i++) {
        const place_link *l = &m->links[i];
        if (!str_ok(l->name) || l->n > PLACE_MAX_LINK_MEMBERS ||
            (l->n > 0 && (l->members == NULL || l->values == NULL)))
            FAIL(CL_EPROTO, "topology: link matrix %" PRIu32 " malformed", i);
        cells += (uint64_t)l->n * l->n;
        for (uint32_t j = 0; j < l->n; j++) {
            const place_link_member *mb = &l->members[j];
            bool ok = str_ok(mb->name);
            switch (mb->kind) {
            case PLACE_LINK_GPU:
                ok = ok && mb->index < m->ngpus;
                break;
            case PLACE_LINK_PACKAGE:
                ok = ok && mb->index < m->npackages;
                break;
            case PLACE_LINK_SWITCH:
            case PLACE_LINK_OTHER:
                break;
            default:
                ok = false;
            }
            if (!ok)
                FAIL(CL_EPROTO, "topology: link matrix '%s': member %" PRIu32
                                " malformed",
                     l->name, j);
        }
    }
    if (cells > (uint64_t)PLACE_MAX_LINK_MEMBERS * PLACE_MAX_LINK_MEMBERS)
        FAIL(CL_ETOOBIG, "topology: link matrices too large");
    int rv = derive_links(m, err);
    if (rv != 0)
        return rv;
    m->memory = 0;
    for (uint32_t i = 0; i < m->nnuma; i++)
        if (m->numa[i].ncores > 0) {
            if (m->memory + m->numa[i].memory < m->memory)
                FAIL(CL_EPROTO, "topology: memory total overflows");
            m->memory += m->numa[i].memory;
        }
    rv = build_ix(m);
    if (rv != 0)
        FAIL(rv, "topology: out of memory");
    for (uint32_t i = 1; i < m->npus; i++) {
        const uint32_t *s = m->ix->pu_sorted;
        if (m->pus[s[i]].os_index == m->pus[s[i - 1]].os_index)
            FAIL(CL_EPROTO, "topology: PU OS index %" PRIu32 " appears twice",
                 m->pus[s[i]].os_index);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* cpuset strings                                                       */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void format_sorted(const uint32_t *v, size_t n, cl_buf *out)
{
    bool first = true;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && (v[j + 1] == v[j] || v[j + 1] == v[j] + 1))
            j++;
        cl_buf_printf(out, "%s%" PRIu32, first ? "" : ",", v[i]);
        if (v[j] != v[i])
            cl_buf_printf(out, "-%" PRIu32, v[j]);
        first = false;
        i = j + 1;
    }
}

void place_cpuset_format(const uint32_t *ids, size_t n, cl_buf *out)
{
    if (n == 0)
        return;
    uint32_t *v = cl_malloc(n * sizeof(uint32_t));
    if (v == NULL) {
        out->oom = true;
        return;
    }
    memcpy(v, ids, n * sizeof(uint32_t));
    qsort(v, n, sizeof(uint32_t), cmp_u32);
    format_sorted(v, n, out);
    cl_free(v);
}

static int parse_u32(const char **p, uint32_t *v)
{
    const char *s = *p;
    if (*s < '0' || *s > '9')
        return CL_EINVAL;
    uint64_t x = 0;
    while (*s >= '0' && *s <= '9') {
        x = x * 10 + (uint64_t)(*s - '0');
        if (x > UINT32_MAX)
            return CL_ERANGE;
        s++;
    }
    *v = (uint32_t)x;
    *p = s;
    return 0;
}

int place_cpuset_parse(const char *s, uint32_t **ids, size_t *n,
                       cl_errmsg *err)
{
    *ids = NULL;
    *n = 0;
    uint32_t *v = NULL;
    size_t len = 0, cap = 0;
    const char *p = s;
    int rv = 0;
    if (*p == '\0')
        return 0;
    for (;;) {
        const char *tok = p;
        uint32_t a, b;
        rv = parse_u32(&p, &a);
        if (rv == 0) {
            b = a;
            if (*p == '-') {
                p++;
                rv = parse_u32(&p, &b);
            }
        }
        if (rv == 0 && (b < a || b - a >= PLACE_MAX_PUS))
            rv = CL_ERANGE;
        if (rv == 0 && *p != ',' && *p != '\0')
            rv = CL_EINVAL;
        if (rv != 0) {
            size_t tl = strcspn(tok, ",");
            cl_errmsg_set(err, "cpuset '%s': bad item '%.*s'", s, (int)tl,
                          tok);
            rv = CL_EINVAL;
            goto err;
        }
        for (uint64_t x = a; x <= b; x++) {
            if (len == cap) {
                size_t nc = cap ? cap * 2 : 16;
                if (nc > PLACE_MAX_PUS * 2) {
                    cl_errmsg_set(err, "cpuset '%s': too many CPUs", s);
                    rv = CL_ETOOBIG;
                    goto err;
                }
                uint32_t *nv = cl_realloc(v, nc * sizeof(uint32_t));
                if (nv == NULL) {
                    rv = CL_ENOMEM;
                    goto err;
                }
                v = nv;
                cap = nc;
            }
            v[len++] = (uint32_t)x;
        }
        if (*p == '\0')
            break;
        p++;
    }
    qsort(v, len, sizeof(uint32_t), cmp_u32);
    size_t k = 0;
    for (size_t i = 0; i < len; i++)
        if (k == 0 || v[i] != v[k - 1])
            v[k++] = v[i];
    *ids = v;
    *n = k;
    return 0;
err:
    cl_free(v);
    return rv;
}

/* ------------------------------------------------------------------ */
/* Description                                                          */

static void put_gib(cl_buf *out, uint64_t bytes)
{
    cl_buf_printf(out, "%.1f GiB", (double)bytes / (1024.0 * 1024 * 1024));
}

/* PUs of the cores set in bitmap bm (NULL: all). */
static void put_pus(const place_model *m, const uint64_t *bm, cl_buf *out)
{
    uint32_t *v = cl_malloc(m->npus * sizeof(uint32_t));
    if (v == NULL) {
        out->oom = true;
        return;
    }
    size_t n = 0;
    for (uint32_t c = 0; c < m->ncores; c++) {
        if (bm != NULL && !place__bit(bm, c))
            continue;
        for (uint32_t p = 0; p < m->cores[c].npus; p++)
            v[n++] = m->pus[m->cores[c].pu_first + p].os_index;
    }
    if (n == 0)
        cl_buf_puts(out, "none");
    else
        place_cpuset_format(v, n, out);
    cl_free(v);
}

static uint32_t count_bits(const uint64_t *bm, uint32_t words)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < words; i++)
        n += place__popc(bm[i]);
    return n;
}

static void put_gpu_list(cl_buf *out, uint64_t mask)
{
    uint32_t v[PLACE_MAX_GPUS];
    size_t n = 0;
    for (uint32_t i = 0; i < PLACE_MAX_GPUS; i++)
        if (mask >> i & 1)
            v[n++] = i;
    place_cpuset_format(v, n, out);
}

void place_model_describe(const place_model *m, cl_buf *out)
{
    place__model_describe_as(m, m->hostname, m->is_this_system, out);
}

void place__model_describe_as(const place_model *m, const char *host,
                              bool this_system, cl_buf *out)
{
    const struct place__model_ix *ix = m->ix;
    uint32_t w = ix->words;
    cl_buf_printf(out, "host %s%s\n", host[0] ? host : "(unnamed)",
                  this_system ? " (this system)" : "");
    cl_buf_printf(out,
                  "  %" PRIu32 " packages, %" PRIu32 " NUMA nodes, %" PRIu32
                  " cores, %" PRIu32 " PUs, %" PRIu32 " GPUs, memory ",
                  m->npackages, m->nnuma, m->ncores, m->npus, m->ngpus);
    put_gib(out, m->memory);
    cl_buf_putc(out, '\n');
    for (uint32_t p = 0; p < m->npackages; p++) {
        cl_buf_printf(out,
                      "  package P#%" PRIu32 ": %" PRIu32 " cores, PUs ",
                      m->packages[p].os_index, ix->pkg_ncores[p]);
        put_pus(m, ix->pkg_cores + (size_t)p * w, out);
        cl_buf_putc(out, '\n');
    }
    for (uint32_t i = 0; i < m->nnuma; i++) {
        const place_numa *n = &m->numa[i];
        cl_buf_printf(out, "  NUMA P#%" PRIu32 ": ", n->os_index);
        put_gib(out, n->memory);
        if (n->package >= 0)
            cl_buf_printf(out, ", package P#%" PRIu32,
                          m->packages[n->package].os_index);
        if (n->ncores == 0) {
            cl_buf_puts(out, ", no CPUs (memory only)\n");
            continue;
        }
        cl_buf_printf(out, ", %" PRIu32 " cores, PUs ", n->ncores);
        put_pus(m, ix->numa_cores + (size_t)i * w, out);
        cl_buf_putc(out, '\n');
    }
    if (ix->max_kind > 0) {
        for (uint32_t k = ix->max_kind + 1; k-- > 0;) {
            uint64_t *bm = cl_calloc(w, sizeof(uint64_t));
            if (bm == NULL) {
                out->oom = true;
                return;
            }
            for (uint32_t c = 0; c < m->ncores; c++)
                if (m->cores[c].kind == k)
                    place__bit_set(bm, c);
            cl_buf_printf(out, "  CPU kind %" PRIu32 "%s: %" PRIu32
                               " cores, PUs ",
                          k, k == ix->max_kind ? " (fastest)" : "",
                          count_bits(bm, w));
            put_pus(m, bm, out);
            cl_buf_putc(out, '\n');
            cl_free(bm);
        }
    }
    for (uint32_t g = 0; g < m->ngpus; g++) {
        const place_gpu *gp = &m->gpus[g];
        cl_buf_printf(out, "  GPU %" PRIu32 ": %s ", g,
                      place_vendor_name(gp->vendor));
        if (gp->model[0])
            cl_buf_puts(out, gp->model);
        else
            cl_buf_printf(out, "PCI device %04x:%04x", gp->pci_vendor,
                          gp->pci_device);
        cl_buf_printf(out, ", index %" PRId32 "%s", gp->index,
                      gp->index_from_pci ? " (PCI order)" : "");
        if (gp->pci_bus_id[0])
            cl_buf_printf(out, ", PCI %s", gp->pci_bus_id);
        if (gp->numa >= 0)
            cl_buf_printf(out, ", NUMA P#%" PRIu32,
                          m->numa[gp->numa].os_index);
        else
            cl_buf_puts(out, ", NUMA -");
        cl_buf_printf(out, ", near %s (PUs ", gp->locality);
        put_pus(m, ix->gpu_near + (size_t)g * w, out);
        cl_buf_puts(out, ")");
        if (gp->link_group >= 0)
            cl_buf_printf(out, ", link group %" PRId32, gp->link_group);
        cl_buf_printf(out, " [%s]\n", gp->os_devices);
    }
    for (uint32_t l = 0; l < m->nlinks; l++) {
        const place_link *lk = &m->links[l];
        uint32_t cnt[5] = {0};
        for (uint32_t j = 0; j < lk->n; j++)
            cnt[lk->members[j].kind]++;
        cl_buf_printf(out, "  links %s: %" PRIu32 " members (%" PRIu32
                           " GPUs, %" PRIu32 " switches, %" PRIu32
                           " CPU packages, %" PRIu32 " other)\n",
                      lk->name, lk->n, cnt[PLACE_LINK_GPU],
                      cnt[PLACE_LINK_SWITCH], cnt[PLACE_LINK_PACKAGE],
                      cnt[PLACE_LINK_OTHER]);
    }
    for (uint32_t grp = 0; grp < m->nlink_groups; grp++) {
        uint64_t mask = ix->group_gpus[grp];
        uint64_t best = 0;
        for (uint32_t a = 0; a < m->ngpus; a++)
            for (uint32_t b = 0; b < m->ngpus; b++)
                if ((mask >> a & 1) && (mask >> b & 1) &&
                    m->gpu_bw[(size_t)a * m->ngpus + b] > best)
                    best = m->gpu_bw[(size_t)a * m->ngpus + b];
        cl_buf_printf(out, "  link group %" PRIu32 ": GPUs ", grp);
        put_gpu_list(out, mask);
        cl_buf_printf(out, ", up to %" PRIu64 " per pair\n", best);
    }
}
