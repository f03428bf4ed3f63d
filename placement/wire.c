/* wire.c - protobuf encoding of models and bindings (proto/topology.proto).
 *
 * Decoding is of network input: the size is bounded before protobuf-c sees
 * it, protobuf-c allocates through cl_malloc (so fault injection reaches
 * it), every count is bounded before anything is copied, and the decoded
 * model goes through the same place__model_finish() checks as one built
 * from hwloc. The unpacked message is always freed here.
 */
#include "placement/place_int.h"

#include "common/cl_heap.h"

#include "topology.pb-c.h"

#include <inttypes.h>
#include <string.h>

/* protobuf-c returns NULL both for bad input and for a failed allocation;
 * the allocator notes the latter so it is reported as CL_ENOMEM. */
static void *pb_alloc(void *data, size_t size)
{
    void *p = cl_malloc(size);
    if (p == NULL)
        *(bool *)data = true;
    return p;
}

static void pb_free(void *data, void *p)
{
    (void)data;
    cl_free(p);
}

/* ------------------------------------------------------------------ */
/* Model                                                                */

/* All the submessages of one Topology, allocated in a few arrays. */
struct pk {
    Couler__Topology__Topology top;
    Couler__Topology__Package *pkg;
    Couler__Topology__Package **pkgp;
    Couler__Topology__NumaNode *numa;
    Couler__Topology__NumaNode **numap;
    Couler__Topology__Core *core;
    Couler__Topology__Core **corep;
    uint32_t *pus;
    Couler__Topology__Gpu *gpu;
    Couler__Topology__Gpu **gpup;
    Couler__Topology__LinkMatrix *link;
    Couler__Topology__LinkMatrix **linkp;
    Couler__Topology__LinkMember *mem;
    Couler__Topology__LinkMember **memp;
};

static void pk_free(struct pk *p)
{
    cl_free(p->pkg);
    cl_free(p->pkgp);
    cl_free(p->numa);
    cl_free(p->numap);
    cl_free(p->core);
    cl_free(p->corep);
    cl_free(p->pus);
    cl_free(p->gpu);
    cl_free(p->gpup);
    cl_free(p->link);
    cl_free(p->linkp);
    cl_free(p->mem);
    cl_free(p->memp);
}

static int pk_build(const place_model *m, bool canonical, struct pk *p)
{
    memset(p, 0, sizeof(*p));
    Couler__Topology__Topology init = COULER__TOPOLOGY__TOPOLOGY__INIT;
    p->top = init;
    size_t nmem = 0;
    for (uint32_t i = 0; i < m->nlinks; i++)
        nmem += m->links[i].n;
    p->pkg = cl_calloc(m->npackages + 1, sizeof(*p->pkg));
    p->pkgp = cl_calloc(m->npackages + 1, sizeof(*p->pkgp));
    p->numa = cl_calloc(m->nnuma + 1, sizeof(*p->numa));
    p->numap = cl_calloc(m->nnuma + 1, sizeof(*p->numap));
    p->core = cl_calloc(m->ncores + 1, sizeof(*p->core));
    p->corep = cl_calloc(m->ncores + 1, sizeof(*p->corep));
    p->pus = cl_calloc(m->npus + 1, sizeof(*p->pus));
    p->gpu = cl_calloc(m->ngpus + 1, sizeof(*p->gpu));
    p->gpup = cl_calloc(m->ngpus + 1, sizeof(*p->gpup));
    p->link = cl_calloc(m->nlinks + 1, sizeof(*p->link));
    p->linkp = cl_calloc(m->nlinks + 1, sizeof(*p->linkp));
    p->mem = cl_calloc(nmem + 1, sizeof(*p->mem));
    p->memp = cl_calloc(nmem + 1, sizeof(*p->memp));
    if (!p->pkg || !p->pkgp || !p->numa || !p->numap || !p->core ||
        !p->corep || !p->pus || !p->gpu || !p->gpup || !p->link ||
        !p->linkp || !p->mem || !p->memp) {
        pk_free(p);
        return CL_ENOMEM;
    }
    Couler__Topology__Topology *t = &p->top;
    t->format = PLACE__FORMAT;
    t->hostname = canonical ? (char *)"" : m->hostname;
    t->is_this_system = canonical ? 0 : m->is_this_system;
    t->caches = m->ncaches;
    t->trailer = PLACE__TRAILER;
    for (uint32_t i = 0; i < m->npackages; i++) {
        Couler__Topology__Package in = COULER__TOPOLOGY__PACKAGE__INIT;
        p->pkg[i] = in;
        p->pkg[i].os_index = m->packages[i].os_index;
        p->pkgp[i] = &p->pkg[i];
    }
    t->n_packages = m->npackages;
    t->packages = p->pkgp;
    for (uint32_t i = 0; i < m->nnuma; i++) {
        Couler__Topology__NumaNode in = COULER__TOPOLOGY__NUMA_NODE__INIT;
        p->numa[i] = in;
        p->numa[i].os_index = m->numa[i].os_index;
        p->numa[i].memory = m->numa[i].memory;
        p->numa[i].package = m->numa[i].package;
        p->numap[i] = &p->numa[i];
    }
    t->n_numa_nodes = m->nnuma;
    t->numa_nodes = p->numap;
    for (uint32_t i = 0; i < m->npus; i++)
        p->pus[i] = m->pus[i].os_index;
    for (uint32_t i = 0; i < m->ncores; i++) {
        const place_core *k = &m->cores[i];
        Couler__Topology__Core in = COULER__TOPOLOGY__CORE__INIT;
        Couler__Topology__Core *c = &p->core[i];
        *c = in;
        c->os_index = k->os_index;
        c->n_pus = k->npus;
        c->pus = p->pus + k->pu_first;
        c->package = k->package;
        c->numa = k->numa;
        c->cache = k->cache;
        c->kind = k->kind;
        p->corep[i] = c;
    }
    t->n_cores = m->ncores;
    t->cores = p->corep;
    for (uint32_t i = 0; i < m->ngpus; i++) {
        const place_gpu *g = &m->gpus[i];
        Couler__Topology__Gpu in = COULER__TOPOLOGY__GPU__INIT;
        Couler__Topology__Gpu *o = &p->gpu[i];
        *o = in;
        o->vendor = (Couler__Topology__Vendor)g->vendor;
        o->index = g->index;
        o->index_from_pci = g->index_from_pci;
        o->pci_bus_id = (char *)g->pci_bus_id;
        o->pci_vendor = g->pci_vendor;
        o->pci_device = g->pci_device;
        o->pci_class = g->pci_class;
        o->model = g->model;
        o->os_devices = g->os_devices;
        o->numa = g->numa;
        o->package = g->package;
        o->locality = g->locality;
        o->n_near_cores = g->nnear;
        o->near_cores = g->near_cores;
        p->gpup[i] = o;
    }
    t->n_gpus = m->ngpus;
    t->gpus = p->gpup;
    size_t mi = 0;
    for (uint32_t i = 0; i < m->nlinks; i++) {
        const place_link *l = &m->links[i];
        Couler__Topology__LinkMatrix in = COULER__TOPOLOGY__LINK_MATRIX__INIT;
        Couler__Topology__LinkMatrix *o = &p->link[i];
        *o = in;
        o->name = l->name;
        o->n_members = l->n;
        o->members = p->memp + mi;
        for (uint32_t j = 0; j < l->n; j++) {
            Couler__Topology__LinkMember min = COULER__TOPOLOGY__LINK_MEMBER__INIT;
            p->mem[mi] = min;
            p->mem[mi].kind = (Couler__Topology__LinkMemberKind)l->members[j].kind;
            p->mem[mi].index = l->members[j].index;
            p->mem[mi].name = l->members[j].name;
            p->memp[mi] = &p->mem[mi];
            mi++;
        }
        o->n_values = (size_t)l->n * l->n;
        o->values = l->values;
        p->linkp[i] = o;
    }
    t->n_links = m->nlinks;
    t->links = p->linkp;
    return 0;
}

static int model_pack(const place_model *m, bool canonical, uint8_t **buf,
                      size_t *len)
{
    struct pk p;
    *buf = NULL;
    *len = 0;
    int rv = pk_build(m, canonical, &p);
    if (rv != 0)
        return rv;
    size_t n = couler__topology__topology__get_packed_size(&p.top);
    if (n > PLACE_MODEL_WIRE_MAX) {
        pk_free(&p);
        return CL_ETOOBIG;
    }
    uint8_t *b = cl_malloc(n);
    if (b == NULL) {
        pk_free(&p);
        return CL_ENOMEM;
    }
    size_t w = couler__topology__topology__pack(&p.top, b);
    pk_free(&p);
    if (w != n) {
        cl_free(b);
        return CL_EPROTO;
    }
    *buf = b;
    *len = n;
    return 0;
}

int place_model_pack(const place_model *m, uint8_t **buf, size_t *len)
{
    return model_pack(m, false, buf, len);
}

int place__model_fingerprint(const place_model *m, uint8_t **buf,
                             size_t *len)
{
    return model_pack(m, true, buf, len);
}

#define UFAIL(code, ...)                                                       \
    do {                                                                       \
        cl_errmsg_set(err, __VA_ARGS__);                                       \
        rv = (code);                                                           \
        goto out;                                                              \
    } while (0)

static bool wire_str(const char *s)
{
    return s != NULL && strnlen(s, PLACE_MAX_STRING + 1) <= PLACE_MAX_STRING;
}

static char *dup_str(const char *s)
{
    return cl_strdup(s ? s : "");
}

int place_model_unpack(const uint8_t *buf, size_t len, place_model **out,
                       cl_errmsg *err)
{
    *out = NULL;
    Couler__Topology__Topology *t = NULL;
    place_model *m = NULL;
    int rv = 0;
    bool oom = false;
    ProtobufCAllocator pba = {pb_alloc, pb_free, &oom};
    if (len > PLACE_MODEL_WIRE_MAX)
        UFAIL(CL_ETOOBIG, "topology: %zu bytes, at most %u", len,
              PLACE_MODEL_WIRE_MAX);
    if (buf == NULL && len > 0)
        UFAIL(CL_EINVAL, "topology: no buffer");
    t = couler__topology__topology__unpack(&pba, len, buf);
    if (t == NULL && oom)
        UFAIL(CL_ENOMEM, "topology: out of memory");
    if (t == NULL)
        UFAIL(CL_EPROTO, "topology: malformed message");
    if (t->format != PLACE__FORMAT)
        UFAIL(CL_EVERSION, "topology: format %" PRIu32 ", this build reads %d",
              t->format, PLACE__FORMAT);
    if (t->trailer != PLACE__TRAILER)
        UFAIL(CL_EPROTO, "topology: truncated (no trailer)");
    if (t->n_packages > PLACE_MAX_PACKAGES || t->n_numa_nodes > PLACE_MAX_NUMA ||
        t->n_cores > PLACE_MAX_CORES || t->n_gpus > PLACE_MAX_GPUS ||
        t->n_links > PLACE_MAX_LINKS || t->caches > PLACE_MAX_CORES)
        UFAIL(CL_ETOOBIG, "topology: too many packages, NUMA nodes, cores, "
                          "GPUs, link matrices or caches");
    if (!wire_str(t->hostname))
        UFAIL(CL_EPROTO, "topology: hostname too long");
    size_t npus = 0;
    for (size_t i = 0; i < t->n_cores; i++) {
        size_t n = t->cores[i]->n_pus;
        if (n == 0 || n > PLACE_MAX_PUS_PER_CORE)
            UFAIL(CL_EPROTO, "topology: core %zu has %zu PUs", i, n);
        npus += n;
    }
    if (npus > PLACE_MAX_PUS)
        UFAIL(CL_ETOOBIG, "topology: %zu PUs, at most %d", npus, PLACE_MAX_PUS);
    m = place__model_new();
    if (m == NULL)
        UFAIL(CL_ENOMEM, "topology: out of memory");
    m->hostname = dup_str(t->hostname);
    m->is_this_system = t->is_this_system;
    m->ncaches = t->caches;
    m->packages = cl_calloc(t->n_packages + 1, sizeof(place_package));
    m->numa = cl_calloc(t->n_numa_nodes + 1, sizeof(place_numa));
    m->cores = cl_calloc(t->n_cores + 1, sizeof(place_core));
    m->pus = cl_calloc(npus + 1, sizeof(place_pu));
    m->gpus = cl_calloc(t->n_gpus + 1, sizeof(place_gpu));
    m->links = cl_calloc(t->n_links + 1, sizeof(place_link));
    if (!m->hostname || !m->packages || !m->numa || !m->cores || !m->pus ||
        !m->gpus || !m->links)
        UFAIL(CL_ENOMEM, "topology: out of memory");
    m->npackages = (uint32_t)t->n_packages;
    for (size_t i = 0; i < t->n_packages; i++)
        m->packages[i].os_index = t->packages[i]->os_index;
    m->nnuma = (uint32_t)t->n_numa_nodes;
    for (size_t i = 0; i < t->n_numa_nodes; i++) {
        m->numa[i].os_index = t->numa_nodes[i]->os_index;
        m->numa[i].memory = t->numa_nodes[i]->memory;
        m->numa[i].package = t->numa_nodes[i]->package;
    }
    uint32_t pu = 0;
    m->ncores = (uint32_t)t->n_cores;
    for (size_t i = 0; i < t->n_cores; i++) {
        const Couler__Topology__Core *c = t->cores[i];
        place_core *k = &m->cores[i];
        k->os_index = c->os_index;
        k->package = c->package;
        k->numa = c->numa;
        k->cache = c->cache;
        k->kind = c->kind;
        k->pu_first = pu;
        k->npus = (uint32_t)c->n_pus;
        for (size_t j = 0; j < c->n_pus; j++) {
            m->pus[pu].os_index = c->pus[j];
            m->pus[pu].core = (uint32_t)i;
            pu++;
        }
    }
    m->npus = pu;
    m->ngpus = (uint32_t)t->n_gpus;
    for (size_t i = 0; i < t->n_gpus; i++) {
        const Couler__Topology__Gpu *g = t->gpus[i];
        place_gpu *o = &m->gpus[i];
        if (!wire_str(g->model) || !wire_str(g->os_devices) ||
            !wire_str(g->locality) || g->pci_bus_id == NULL ||
            strnlen(g->pci_bus_id, PLACE_PCI_ID_SIZE) >= PLACE_PCI_ID_SIZE)
            UFAIL(CL_EPROTO, "topology: GPU %zu: bad string field", i);
        if (g->vendor < 0 || g->vendor > COULER__TOPOLOGY__VENDOR__VENDOR_OTHER)
            UFAIL(CL_EPROTO, "topology: GPU %zu: unknown vendor %d", i,
                  (int)g->vendor);
        if (g->pci_vendor > UINT16_MAX || g->pci_device > UINT16_MAX ||
            g->pci_class > UINT16_MAX)
            UFAIL(CL_EPROTO, "topology: GPU %zu: PCI ids out of range", i);
        if (g->n_near_cores > PLACE_MAX_CORES)
            UFAIL(CL_EPROTO, "topology: GPU %zu: too many near cores", i);
        o->vendor = (enum place_vendor)g->vendor;
        o->index = g->index;
        o->index_from_pci = g->index_from_pci;
        memcpy(o->pci_bus_id, g->pci_bus_id, strlen(g->pci_bus_id) + 1);
        o->pci_vendor = (uint16_t)g->pci_vendor;
        o->pci_device = (uint16_t)g->pci_device;
        o->pci_class = (uint16_t)g->pci_class;
        o->model = dup_str(g->model);
        o->os_devices = dup_str(g->os_devices);
        o->locality = dup_str(g->locality);
        o->numa = g->numa;
        o->package = g->package;
        o->nnear = (uint32_t)g->n_near_cores;
        o->near_cores = cl_calloc(g->n_near_cores + 1, sizeof(uint32_t));
        if (!o->model || !o->os_devices || !o->locality || !o->near_cores)
            UFAIL(CL_ENOMEM, "topology: out of memory");
        if (g->n_near_cores > 0)
            memcpy(o->near_cores, g->near_cores,
                   g->n_near_cores * sizeof(uint32_t));
    }
    m->nlinks = (uint32_t)t->n_links;
    for (size_t i = 0; i < t->n_links; i++) {
        const Couler__Topology__LinkMatrix *l = t->links[i];
        place_link *o = &m->links[i];
        if (!wire_str(l->name) || l->n_members > PLACE_MAX_LINK_MEMBERS ||
            l->n_values != l->n_members * l->n_members)
            UFAIL(CL_EPROTO, "topology: link matrix %zu: %zu members, %zu "
                             "values",
                  i, l->n_members, l->n_values);
        o->name = dup_str(l->name);
        o->n = (uint32_t)l->n_members;
        o->members = cl_calloc(l->n_members + 1, sizeof(place_link_member));
        o->values = cl_calloc(l->n_values + 1, sizeof(uint64_t));
        if (!o->name || !o->members || !o->values)
            UFAIL(CL_ENOMEM, "topology: out of memory");
        if (l->n_values > 0)
            memcpy(o->values, l->values, l->n_values * sizeof(uint64_t));
        for (size_t j = 0; j < l->n_members; j++) {
            const Couler__Topology__LinkMember *mb = l->members[j];
            if (!wire_str(mb->name) || mb->kind < 1 ||
                mb->kind > COULER__TOPOLOGY__LINK_MEMBER_KIND__LINK_MEMBER_OTHER)
                UFAIL(CL_EPROTO, "topology: link matrix %zu: member %zu "
                                 "malformed",
                      i, j);
            o->members[j].kind = (enum place_link_member_kind)mb->kind;
            o->members[j].index = mb->index;
            o->members[j].name = dup_str(mb->name);
            if (o->members[j].name == NULL)
                UFAIL(CL_ENOMEM, "topology: out of memory");
        }
    }
    rv = place__model_finish(m, err);
    if (rv != 0)
        goto out;
    *out = m;
    m = NULL;
out:
    if (t != NULL)
        couler__topology__topology__free_unpacked(t, &pba);
    place_model_free(m);
    return rv;
}

/* ------------------------------------------------------------------ */
/* Binding                                                              */

int place_binding_pack(const place_binding *b, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    Couler__Topology__Binding msg = COULER__TOPOLOGY__BINDING__INIT;
    Couler__Topology__BoundGpu *g = cl_calloc(b->ngpus + 1, sizeof(*g));
    Couler__Topology__BoundGpu **gp = cl_calloc(b->ngpus + 1, sizeof(*gp));
    Couler__Topology__BoundMemory *mm = cl_calloc(b->nmems + 1, sizeof(*mm));
    Couler__Topology__BoundMemory **mp = cl_calloc(b->nmems + 1, sizeof(*mp));
    int rv = CL_ENOMEM;
    uint8_t *out = NULL;
    if (!g || !gp || !mm || !mp)
        goto done;
    msg.format = PLACE__FORMAT;
    msg.id = b->id;
    msg.node_id = b->node_id ? b->node_id : (char *)"";
    msg.n_pus = b->npus;
    msg.pus = b->pus;
    msg.cpuset = b->cpuset ? b->cpuset : (char *)"";
    for (size_t i = 0; i < b->ngpus; i++) {
        Couler__Topology__BoundGpu in = COULER__TOPOLOGY__BOUND_GPU__INIT;
        g[i] = in;
        g[i].slot = b->gpus[i].slot;
        g[i].vendor = (Couler__Topology__Vendor)b->gpus[i].vendor;
        g[i].index = b->gpus[i].index;
        g[i].pci_bus_id = (char *)b->gpus[i].pci_bus_id;
        gp[i] = &g[i];
    }
    msg.n_gpus = b->ngpus;
    msg.gpus = gp;
    for (size_t i = 0; i < b->nmems; i++) {
        Couler__Topology__BoundMemory in = COULER__TOPOLOGY__BOUND_MEMORY__INIT;
        mm[i] = in;
        mm[i].numa_os = b->mems[i].numa_os;
        mm[i].bytes = b->mems[i].bytes;
        mp[i] = &mm[i];
    }
    msg.n_mems = b->nmems;
    msg.mems = mp;
    msg.cpu_milli = b->cpu_milli;
    msg.cpu_quota_milli = b->cpu_quota_milli;
    msg.memory = b->memory;
    msg.memory_limit = b->memory_limit;
    msg.shared = b->shared;
    msg.degree = b->degree;
    msg.fit = (Couler__Topology__Fit)b->fit;
    msg.gpus_linked = b->gpus_linked;
    msg.trailer = PLACE__TRAILER;
    size_t n = couler__topology__binding__get_packed_size(&msg);
    rv = CL_ETOOBIG;
    if (n > PLACE_BINDING_WIRE_MAX)
        goto done;
    rv = CL_ENOMEM;
    out = cl_malloc(n);
    if (out == NULL)
        goto done;
    if (couler__topology__binding__pack(&msg, out) != n) {
        rv = CL_EPROTO;
        cl_free(out);
        goto done;
    }
    *buf = out;
    *len = n;
    rv = 0;
done:
    cl_free(g);
    cl_free(gp);
    cl_free(mm);
    cl_free(mp);
    return rv;
}

int place_binding_unpack(const uint8_t *buf, size_t len, place_binding *b,
                         cl_errmsg *err)
{
    place_binding_init(b);
    Couler__Topology__Binding *t = NULL;
    cl_buf cs = CL_BUF_INIT;
    int rv = 0;
    bool oom = false;
    ProtobufCAllocator pba = {pb_alloc, pb_free, &oom};
    if (len > PLACE_BINDING_WIRE_MAX)
        UFAIL(CL_ETOOBIG, "binding: %zu bytes, at most %u", len,
              PLACE_BINDING_WIRE_MAX);
    if (buf == NULL && len > 0)
        UFAIL(CL_EINVAL, "binding: no buffer");
    t = couler__topology__binding__unpack(&pba, len, buf);
    if (t == NULL && oom)
        UFAIL(CL_ENOMEM, "binding: out of memory");
    if (t == NULL)
        UFAIL(CL_EPROTO, "binding: malformed message");
    if (t->format != PLACE__FORMAT)
        UFAIL(CL_EVERSION, "binding: format %" PRIu32 ", this build reads %d",
              t->format, PLACE__FORMAT);
    if (t->trailer != PLACE__TRAILER)
        UFAIL(CL_EPROTO, "binding: truncated (no trailer)");
    if (!wire_str(t->node_id) || t->node_id[0] == '\0')
        UFAIL(CL_EPROTO, "binding: missing or overlong node id");
    if (t->n_pus == 0 || t->n_pus > PLACE_MAX_PUS ||
        t->n_gpus > PLACE_MAX_GPUS || t->n_mems > PLACE_MAX_NUMA)
        UFAIL(CL_EPROTO, "binding: %zu PUs, %zu GPUs, %zu memory nodes",
              t->n_pus, t->n_gpus, t->n_mems);
    for (size_t i = 1; i < t->n_pus; i++)
        if (t->pus[i] <= t->pus[i - 1])
            UFAIL(CL_EPROTO, "binding: PUs not ascending");
    place_cpuset_format(t->pus, t->n_pus, &cs);
    if (!cl_buf_ok(&cs))
        UFAIL(CL_ENOMEM, "binding: out of memory");
    if (t->cpuset == NULL || strcmp(t->cpuset, cs.data) != 0)
        UFAIL(CL_EPROTO, "binding: cpuset text does not match its PUs");
    if (t->fit < 0 || t->fit > COULER__TOPOLOGY__FIT__FIT_SPREAD)
        UFAIL(CL_EPROTO, "binding: unknown fit %d", (int)t->fit);
    b->node_id = cl_strdup(t->node_id);
    b->pus = cl_malloc(t->n_pus * sizeof(uint32_t));
    b->gpus = cl_calloc(t->n_gpus + 1, sizeof(place_binding_gpu));
    b->mems = cl_calloc(t->n_mems + 1, sizeof(place_binding_mem));
    b->cpuset = cl_buf_steal(&cs, NULL);
    if (!b->node_id || !b->pus || !b->gpus || !b->mems || !b->cpuset)
        UFAIL(CL_ENOMEM, "binding: out of memory");
    memcpy(b->pus, t->pus, t->n_pus * sizeof(uint32_t));
    b->npus = t->n_pus;
    for (size_t i = 0; i < t->n_gpus; i++) {
        const Couler__Topology__BoundGpu *g = t->gpus[i];
        if (g->slot >= PLACE_MAX_GPUS || g->vendor < 0 ||
            g->vendor > COULER__TOPOLOGY__VENDOR__VENDOR_OTHER ||
            g->index < -1 || g->pci_bus_id == NULL ||
            strnlen(g->pci_bus_id, PLACE_PCI_ID_SIZE) >= PLACE_PCI_ID_SIZE)
            UFAIL(CL_EPROTO, "binding: GPU %zu malformed", i);
        for (size_t j = 0; j < i; j++)
            if (b->gpus[j].slot == g->slot)
                UFAIL(CL_EPROTO, "binding: GPU slot %" PRIu32 " twice",
                      g->slot);
        b->gpus[i].slot = g->slot;
        b->gpus[i].vendor = (enum place_vendor)g->vendor;
        b->gpus[i].index = g->index;
        memcpy(b->gpus[i].pci_bus_id, g->pci_bus_id,
               strlen(g->pci_bus_id) + 1);
    }
    b->ngpus = t->n_gpus;
    uint64_t total = 0;
    for (size_t i = 0; i < t->n_mems; i++) {
        if (i > 0 && t->mems[i]->numa_os <= t->mems[i - 1]->numa_os)
            UFAIL(CL_EPROTO, "binding: memory nodes not ascending");
        b->mems[i].numa_os = t->mems[i]->numa_os;
        b->mems[i].bytes = t->mems[i]->bytes;
        if (total + t->mems[i]->bytes < total)
            UFAIL(CL_EPROTO, "binding: memory overflows");
        total += t->mems[i]->bytes;
    }
    b->nmems = t->n_mems;
    if (total != t->memory)
        UFAIL(CL_EPROTO, "binding: memory %" PRIu64 " but nodes hold %" PRIu64,
              t->memory, total);
    b->id = t->id;
    b->cpu_milli = t->cpu_milli;
    b->cpu_quota_milli = t->cpu_quota_milli;
    b->memory = t->memory;
    b->memory_limit = t->memory_limit;
    b->shared = t->shared;
    b->degree = t->degree ? t->degree : 1;
    b->fit = (enum place_fit)t->fit;
    b->gpus_linked = t->gpus_linked;
out:
    cl_buf_free(&cs);
    if (t != NULL)
        couler__topology__binding__free_unpacked(t, &pba);
    if (rv != 0)
        place_binding_free(b);
    return rv;
}
