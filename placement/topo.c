/* topo.c - the hwloc wrapper: the only file of Couler that includes
 * hwloc.h. It turns an hwloc topology (live, or an XML export) into a
 * place_model and converts hwloc's -1/errno convention into CL_E* codes.
 *
 * hwloc facts this code relies on (libhwloc 2.9; see
 * tests/data/topologies/README.md):
 *  - I/O objects are dropped unless the filter is set before the load.
 *  - One physical GPU shows up as several OS devices (CUDA, NVML, OpenCL,
 *    RSMI, DRM) under one PCI device; NVML devices are typed GPU or COPROC
 *    depending on the export.
 *  - A BMC VGA chip appears as a DRM device: it is not a GPU.
 *  - Without a runtime or DRM device (a container, an hwloc built without
 *    the NVML/CUDA plugins), a GPU is still a PCI device of its class.
 *  - A GPU's nearest non-I/O ancestor may be a Package, an L3 cache, a
 *    Group or the Machine.
 *  - HWLOC_XMLFILE silently falls back to the live machine when the file
 *    is missing; an explicit hwloc_topology_set_xml() wins over it.
 */
#include "placement/place_int.h"

#include "common/cl_heap.h"

#include <hwloc.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PCI_VENDOR_NVIDIA 0x10de
#define PCI_VENDOR_AMD 0x1002

/* One physical GPU while it is being assembled from its OS devices. */
struct topo_gpu {
    hwloc_obj_t key;   /* the PCI device, or the OS device if not on PCI */
    hwloc_obj_t first; /* first OS device, for locality */
    bool compute;      /* some OS device is a compute runtime */
    enum place_vendor vendor;
    int32_t cuda, nvml, rsmi;
    const char *model[5]; /* by preference: NVML, RSMI, CUDA, ZE, OpenCL */
    cl_buf names;
    uint32_t domain, bus, dev, func;
    uint16_t pci_vendor, pci_device, pci_class;
    bool on_pci;
};

static int32_t suffix_index(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    if (name == NULL || strncmp(name, prefix, n) != 0)
        return -1;
    const char *p = name + n;
    if (*p < '0' || *p > '9')
        return -1;
    long v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
        if (v > 1000000)
            return -1;
    }
    return *p == '\0' ? (int32_t)v : -1;
}

static bool is_backend(hwloc_obj_t o, const char *backend, const char *prefix)
{
    const char *b = hwloc_obj_get_info_by_name(o, "Backend");
    if (b != NULL && strcmp(b, backend) == 0)
        return true;
    if (o->subtype != NULL && strcmp(o->subtype, backend) == 0)
        return true;
    return o->name != NULL && strncmp(o->name, prefix, strlen(prefix)) == 0 &&
           suffix_index(o->name, prefix) >= 0;
}

static void gpu_add_osdev(struct topo_gpu *g, hwloc_obj_t o)
{
    const char *model = hwloc_obj_get_info_by_name(o, "GPUModel");
    if (g->names.len > 0)
        cl_buf_putc(&g->names, ',');
    cl_buf_puts(&g->names, o->name ? o->name : "?");
    if (is_backend(o, "NVML", "nvml")) {
        g->compute = true;
        if (g->vendor == PLACE_VENDOR_NONE)
            g->vendor = PLACE_VENDOR_NVIDIA;
        if (g->nvml < 0)
            g->nvml = suffix_index(o->name, "nvml");
        if (model && !g->model[0])
            g->model[0] = model;
    } else if (is_backend(o, "RSMI", "rsmi")) {
        g->compute = true;
        if (g->vendor == PLACE_VENDOR_NONE)
            g->vendor = PLACE_VENDOR_AMD;
        if (g->rsmi < 0)
            g->rsmi = suffix_index(o->name, "rsmi");
        if (model && !g->model[1])
            g->model[1] = model;
    } else if (is_backend(o, "CUDA", "cuda")) {
        g->compute = true;
        if (g->vendor == PLACE_VENDOR_NONE)
            g->vendor = PLACE_VENDOR_NVIDIA;
        if (g->cuda < 0)
            g->cuda = suffix_index(o->name, "cuda");
        if (model && !g->model[2])
            g->model[2] = model;
    } else if (is_backend(o, "LevelZero", "ze")) {
        g->compute = true;
        if (model && !g->model[3])
            g->model[3] = model;
    } else if (is_backend(o, "OpenCL", "opencl")) {
        g->compute = true;
        if (model && !g->model[4])
            g->model[4] = model;
    }
}

static int cmp_gpu_pci(const void *a, const void *b)
{
    const struct topo_gpu *x = a, *y = b;
    if (x->on_pci != y->on_pci)
        return x->on_pci ? -1 : 1;
    uint64_t kx = (uint64_t)x->domain << 24 | x->bus << 16 | x->dev << 8 |
                  x->func;
    uint64_t ky = (uint64_t)y->domain << 24 | y->bus << 16 | y->dev << 8 |
                  y->func;
    if (kx != ky)
        return kx < ky ? -1 : 1;
    return 0;
}

static uint32_t obj_index(hwloc_obj_t o)
{
    return o->os_index != HWLOC_UNKNOWN_INDEX ? o->os_index
                                              : o->logical_index;
}

struct conv {
    hwloc_topology_t t;
    place_model *m;
    hwloc_obj_t *numa_objs;
    hwloc_obj_t *core_objs; /* or PUs when the topology has no cores */
    struct topo_gpu *gpus;
    uint32_t ngpus;
    cl_errmsg *err;
};

static int conv_cpus(struct conv *cv)
{
    hwloc_topology_t t = cv->t;
    place_model *m = cv->m;
    int npkg = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PACKAGE);
    int nnuma = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE);
    int npu = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PU);
    int ncore = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE);
    hwloc_obj_type_t core_type = HWLOC_OBJ_CORE;
    if (ncore <= 0) {
        core_type = HWLOC_OBJ_PU; /* no core level: each PU is a core */
        ncore = npu;
    }
    if (npkg < 0 || nnuma <= 0 || npu <= 0 || ncore <= 0) {
        cl_errmsg_set(cv->err, "topology has no NUMA node or no CPU");
        return CL_ETOPO;
    }
    if (npkg > PLACE_MAX_PACKAGES || nnuma > PLACE_MAX_NUMA ||
        npu > PLACE_MAX_PUS || ncore > PLACE_MAX_CORES) {
        cl_errmsg_set(cv->err, "topology too large: %d packages, %d NUMA "
                               "nodes, %d cores, %d PUs",
                      npkg, nnuma, ncore, npu);
        return CL_ETOOBIG;
    }
    m->packages = cl_calloc((size_t)npkg + 1, sizeof(place_package));
    m->numa = cl_calloc((size_t)nnuma, sizeof(place_numa));
    m->cores = cl_calloc((size_t)ncore, sizeof(place_core));
    m->pus = cl_calloc((size_t)npu, sizeof(place_pu));
    cv->numa_objs = cl_calloc((size_t)nnuma, sizeof(hwloc_obj_t));
    cv->core_objs = cl_calloc((size_t)ncore, sizeof(hwloc_obj_t));
    if (!m->packages || !m->numa || !m->cores || !m->pus || !cv->numa_objs ||
        !cv->core_objs)
        return CL_ENOMEM;
    m->npackages = (uint32_t)npkg;
    for (int i = 0; i < npkg; i++)
        m->packages[i].os_index =
            obj_index(hwloc_get_obj_by_type(t, HWLOC_OBJ_PACKAGE, (unsigned)i));
    m->nnuma = (uint32_t)nnuma;
    for (int i = 0; i < nnuma; i++) {
        hwloc_obj_t n = hwloc_get_obj_by_type(t, HWLOC_OBJ_NUMANODE,
                                              (unsigned)i);
        cv->numa_objs[i] = n;
        m->numa[i].os_index = obj_index(n);
        m->numa[i].memory = n->attr->numanode.local_memory;
        m->numa[i].package = -2; /* resolved from the cores below */
    }
    int nl3 = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_L3CACHE);
    m->ncaches = nl3 > 0 ? (uint32_t)nl3 : 0;
    int nkinds = hwloc_cpukinds_get_nr(t, 0);
    uint32_t pu = 0;
    for (int c = 0; c < ncore; c++) {
        hwloc_obj_t co = hwloc_get_obj_by_type(t, core_type, (unsigned)c);
        place_core *k = &m->cores[c];
        cv->core_objs[c] = co;
        k->os_index = obj_index(co);
        k->pu_first = pu;
        for (hwloc_obj_t p = NULL; (p = hwloc_get_next_obj_inside_cpuset_by_type(
                                        t, co->cpuset, HWLOC_OBJ_PU, p));) {
            if (pu >= (uint32_t)npu || k->npus >= PLACE_MAX_PUS_PER_CORE) {
                cl_errmsg_set(cv->err, "topology: core L#%d has too many PUs",
                              c);
                return CL_ETOPO;
            }
            m->pus[pu].os_index = obj_index(p);
            m->pus[pu].core = (uint32_t)c;
            pu++;
            k->npus++;
        }
        if (k->npus == 0) {
            cl_errmsg_set(cv->err, "topology: core L#%d has no PU", c);
            return CL_ETOPO;
        }
        hwloc_obj_t pk = hwloc_get_ancestor_obj_by_type(t, HWLOC_OBJ_PACKAGE,
                                                        co);
        k->package = pk ? (int32_t)pk->logical_index : -1;
        k->numa = -1;
        for (int i = 0; i < nnuma; i++)
            if (!hwloc_bitmap_iszero(cv->numa_objs[i]->cpuset) &&
                hwloc_bitmap_isincluded(co->cpuset, cv->numa_objs[i]->cpuset)) {
                k->numa = i;
                break;
            }
        hwloc_obj_t l3 = hwloc_get_ancestor_obj_by_type(t, HWLOC_OBJ_L3CACHE,
                                                        co);
        k->cache = l3 ? (int32_t)l3->logical_index : -1;
        int kind = nkinds > 1 ? hwloc_cpukinds_get_by_cpuset(t, co->cpuset, 0)
                              : 0;
        k->kind = kind > 0 ? (uint32_t)kind : 0;
    }
    m->ncores = (uint32_t)ncore;
    m->npus = pu;
    /* A NUMA node's package: the one package of its cores, else its
     * ancestor package, else none (v1 exports put NUMA nodes in Groups). */
    for (uint32_t c = 0; c < m->ncores; c++) {
        place_core *k = &m->cores[c];
        if (k->numa < 0)
            continue;
        int32_t *np = &m->numa[k->numa].package;
        if (*np == -2)
            *np = k->package;
        else if (*np != k->package)
            *np = -1;
    }
    for (uint32_t i = 0; i < m->nnuma; i++) {
        if (m->numa[i].package != -2)
            continue;
        hwloc_obj_t pk = hwloc_get_ancestor_obj_by_type(t, HWLOC_OBJ_PACKAGE,
                                                        cv->numa_objs[i]);
        m->numa[i].package = pk ? (int32_t)pk->logical_index : -1;
    }
    return 0;
}

/* A GPU by its PCI ids: NVIDIA or AMD, display controller (0x03xx) or
 * processing accelerator (0x12xx). A BMC VGA chip (ASPEED, 0x1a03), an
 * NVSwitch (bridge class) or a GPU's audio function is not. */
static bool pci_is_gpu(uint16_t vendor, uint16_t class_id)
{
    return (vendor == PCI_VENDOR_NVIDIA || vendor == PCI_VENDOR_AMD) &&
           ((class_id >> 8) == 0x03 || (class_id >> 8) == 0x12);
}

static bool gpu_is_compute_device(const struct topo_gpu *g)
{
    if (g->compute)
        return true;
    /* DRM-only, or no OS device at all: trust the PCI ids. */
    return g->on_pci && pci_is_gpu(g->pci_vendor, g->pci_class);
}

static struct topo_gpu *gpu_slot(struct conv *cv, uint32_t *cap,
                                 hwloc_obj_t key, hwloc_obj_t first)
{
    if (cv->ngpus == *cap) {
        uint32_t nc = *cap ? *cap * 2 : 8;
        struct topo_gpu *ng = cl_realloc(cv->gpus, nc * sizeof(*ng));
        if (ng == NULL)
            return NULL;
        cv->gpus = ng;
        *cap = nc;
    }
    struct topo_gpu *g = &cv->gpus[cv->ngpus++];
    memset(g, 0, sizeof(*g));
    cl_buf_init(&g->names);
    g->key = key;
    g->first = first;
    g->cuda = g->nvml = g->rsmi = -1;
    if (key->type == HWLOC_OBJ_PCI_DEVICE) {
        struct hwloc_pcidev_attr_s *pa = &key->attr->pcidev;
        g->on_pci = true;
        g->domain = pa->domain;
        g->bus = pa->bus;
        g->dev = pa->dev;
        g->func = pa->func;
        g->pci_vendor = pa->vendor_id;
        g->pci_device = pa->device_id;
        g->pci_class = pa->class_id;
        if (pa->vendor_id == PCI_VENDOR_NVIDIA)
            g->vendor = PLACE_VENDOR_NVIDIA;
        else if (pa->vendor_id == PCI_VENDOR_AMD)
            g->vendor = PLACE_VENDOR_AMD;
        else
            g->vendor = PLACE_VENDOR_OTHER;
    }
    return g;
}

static int conv_gpus(struct conv *cv)
{
    hwloc_topology_t t = cv->t;
    place_model *m = cv->m;
    uint32_t cap = 0;
    for (hwloc_obj_t o = NULL; (o = hwloc_get_next_osdev(t, o));) {
        if (o->attr->osdev.type != HWLOC_OBJ_OSDEV_GPU &&
            o->attr->osdev.type != HWLOC_OBJ_OSDEV_COPROC)
            continue;
        hwloc_obj_t key = o->parent && o->parent->type == HWLOC_OBJ_PCI_DEVICE
                              ? o->parent
                              : o;
        struct topo_gpu *g = NULL;
        for (uint32_t i = 0; i < cv->ngpus; i++)
            if (cv->gpus[i].key == key)
                g = &cv->gpus[i];
        if (g == NULL && (g = gpu_slot(cv, &cap, key, o)) == NULL)
            return CL_ENOMEM;
        gpu_add_osdev(g, o);
    }
    /* GPUs hwloc knows only as PCI devices: no runtime or DRM device
     * (a container without /sys/class/drm, an hwloc without the NVML or
     * CUDA plugin). */
    for (hwloc_obj_t p = NULL; (p = hwloc_get_next_pcidev(t, p));) {
        if (!pci_is_gpu(p->attr->pcidev.vendor_id, p->attr->pcidev.class_id))
            continue;
        bool known = false;
        for (uint32_t i = 0; i < cv->ngpus && !known; i++)
            known = cv->gpus[i].key == p;
        if (!known && gpu_slot(cv, &cap, p, p) == NULL)
            return CL_ENOMEM;
    }
    /* Drop what is not a GPU, then order by PCI bus id. */
    uint32_t n = 0;
    for (uint32_t i = 0; i < cv->ngpus; i++) {
        if (gpu_is_compute_device(&cv->gpus[i]))
            cv->gpus[n++] = cv->gpus[i];
        else
            cl_buf_free(&cv->gpus[i].names);
    }
    cv->ngpus = n;
    if (n > PLACE_MAX_GPUS) {
        cl_errmsg_set(cv->err, "topology: %" PRIu32 " GPUs, at most %d", n,
                      PLACE_MAX_GPUS);
        return CL_ETOOBIG;
    }
    if (n == 0)
        return 0;
    qsort(cv->gpus, n, sizeof(*cv->gpus), cmp_gpu_pci);
    m->gpus = cl_calloc(n, sizeof(place_gpu));
    if (m->gpus == NULL)
        return CL_ENOMEM;
    m->ngpus = n;
    for (uint32_t i = 0; i < n; i++) {
        struct topo_gpu *tg = &cv->gpus[i];
        place_gpu *g = &m->gpus[i];
        g->vendor = tg->vendor == PLACE_VENDOR_NONE ? PLACE_VENDOR_OTHER
                                                    : tg->vendor;
        g->index = -1;
        if (g->vendor == PLACE_VENDOR_NVIDIA)
            g->index = tg->cuda >= 0 ? tg->cuda : tg->nvml;
        else if (g->vendor == PLACE_VENDOR_AMD)
            g->index = tg->rsmi;
        if (tg->on_pci)
            snprintf(g->pci_bus_id, sizeof(g->pci_bus_id),
                     "%04x:%02x:%02x.%01x", tg->domain & 0xffff,
                     tg->bus & 0xff, tg->dev & 0xff, tg->func & 0xf);
        g->pci_vendor = tg->pci_vendor;
        g->pci_device = tg->pci_device;
        g->pci_class = tg->pci_class;
        const char *model = NULL;
        for (int k = 0; k < 5 && model == NULL; k++)
            model = tg->model[k];
        if (model == NULL && tg->on_pci) /* "TU104GL [Tesla T4]" */
            model = hwloc_obj_get_info_by_name(tg->key, "PCIDevice");
        if (model == NULL)
            model = "";
        g->model = cl_strndup(model, PLACE_MAX_STRING);
        g->os_devices = cl_buf_steal(&tg->names, NULL);
        if (g->os_devices != NULL && strlen(g->os_devices) > PLACE_MAX_STRING)
            g->os_devices[PLACE_MAX_STRING] = '\0';
        hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(t, tg->first);
        char tname[64];
        hwloc_obj_type_snprintf(tname, sizeof(tname), anc, 1);
        char loc[96];
        snprintf(loc, sizeof(loc), "%s L#%u", tname, anc->logical_index);
        g->locality = cl_strdup(loc);
        if (g->model == NULL || g->os_devices == NULL || g->locality == NULL)
            return CL_ENOMEM;
        /* Near cores: cores with a PU in the ancestor's cpuset. */
        g->near_cores = cl_calloc(m->ncores, sizeof(uint32_t));
        if (g->near_cores == NULL)
            return CL_ENOMEM;
        int32_t pkg = -2;
        for (uint32_t c = 0; c < m->ncores; c++)
            if (hwloc_bitmap_intersects(cv->core_objs[c]->cpuset,
                                        anc->cpuset)) {
                g->near_cores[g->nnear++] = c;
                if (pkg == -2)
                    pkg = m->cores[c].package;
                else if (pkg != m->cores[c].package)
                    pkg = -1;
            }
        g->package = pkg < 0 ? -1 : pkg;
        /* NUMA: the one CPU NUMA node the locality falls in. */
        g->numa = -1;
        int hits = 0;
        for (uint32_t d = 0; d < m->nnuma; d++)
            if (!hwloc_bitmap_iszero(cv->numa_objs[d]->cpuset) &&
                hwloc_bitmap_intersects(cv->numa_objs[d]->cpuset,
                                        anc->cpuset)) {
                hits++;
                g->numa = (int32_t)d;
            }
        if (hits != 1)
            g->numa = -1;
    }
    /* Runtime index from PCI order when no runtime device names any GPU of
     * a vendor. */
    for (int v = PLACE_VENDOR_NVIDIA; v <= PLACE_VENDOR_OTHER; v++) {
        bool any = false;
        for (uint32_t i = 0; i < n; i++)
            if ((int)m->gpus[i].vendor == v && m->gpus[i].index >= 0)
                any = true;
        if (any)
            continue;
        int32_t next = 0;
        for (uint32_t i = 0; i < n; i++)
            if ((int)m->gpus[i].vendor == v) {
                m->gpus[i].index = next++;
                m->gpus[i].index_from_pci = true;
            }
    }
    return 0;
}

/* The GPU an object of a link matrix stands for, or -1. */
static int32_t link_gpu(const struct conv *cv, hwloc_obj_t o)
{
    hwloc_obj_t key = o;
    if (o->type == HWLOC_OBJ_OS_DEVICE && o->parent &&
        o->parent->type == HWLOC_OBJ_PCI_DEVICE)
        key = o->parent;
    for (uint32_t i = 0; i < cv->ngpus; i++)
        if (cv->gpus[i].key == key)
            return (int32_t)i;
    return -1;
}

static int conv_links(struct conv *cv)
{
    hwloc_topology_t t = cv->t;
    place_model *m = cv->m;
    if (cv->ngpus == 0)
        return 0;
    unsigned nr = 0;
    if (hwloc_distances_get(t, &nr, NULL, 0, 0) != 0 || nr == 0)
        return 0;
    struct hwloc_distances_s **ds = cl_calloc(nr, sizeof(*ds));
    if (ds == NULL)
        return CL_ENOMEM;
    int rv = 0;
    if (hwloc_distances_get(t, &nr, ds, 0, 0) != 0) {
        cl_free(ds);
        return 0;
    }
    m->links = cl_calloc(PLACE_MAX_LINKS, sizeof(place_link));
    if (m->links == NULL) {
        rv = CL_ENOMEM;
        goto out;
    }
    for (unsigned i = 0; i < nr; i++) {
        struct hwloc_distances_s *d = ds[i];
        const char *name = hwloc_distances_get_name(t, d);
        if (name == NULL || strstr(name, "Bandwidth") == NULL ||
            d->nbobjs > PLACE_MAX_LINK_MEMBERS || m->nlinks >= PLACE_MAX_LINKS)
            continue;
        bool has_gpu = false;
        for (unsigned j = 0; j < d->nbobjs; j++)
            if (link_gpu(cv, d->objs[j]) >= 0)
                has_gpu = true;
        if (!has_gpu)
            continue;
        place_link *l = &m->links[m->nlinks++];
        l->name = cl_strndup(name, PLACE_MAX_STRING);
        l->n = d->nbobjs;
        l->members = cl_calloc(l->n, sizeof(place_link_member));
        l->values = cl_calloc((size_t)l->n * l->n, sizeof(uint64_t));
        if (!l->name || !l->members || !l->values) {
            rv = CL_ENOMEM;
            goto out;
        }
        memcpy(l->values, d->values, (size_t)l->n * l->n * sizeof(uint64_t));
        for (unsigned j = 0; j < d->nbobjs; j++) {
            hwloc_obj_t o = d->objs[j];
            place_link_member *mb = &l->members[j];
            int32_t g = link_gpu(cv, o);
            char nm[64];
            if (o->type == HWLOC_OBJ_PCI_DEVICE)
                snprintf(nm, sizeof(nm), "%04x:%02x:%02x.%01x",
                         o->attr->pcidev.domain & 0xffff,
                         o->attr->pcidev.bus & 0xff, o->attr->pcidev.dev & 0xff,
                         o->attr->pcidev.func & 0xf);
            else if (o->name != NULL)
                snprintf(nm, sizeof(nm), "%s", o->name);
            else
                hwloc_obj_type_snprintf(nm, sizeof(nm), o, 1);
            if (g >= 0) {
                mb->kind = PLACE_LINK_GPU;
                mb->index = (uint32_t)g;
            } else if (o->type == HWLOC_OBJ_PACKAGE) {
                mb->kind = PLACE_LINK_PACKAGE;
                mb->index = o->logical_index;
                snprintf(nm, sizeof(nm), "Package L#%u", o->logical_index);
            } else if (o->type == HWLOC_OBJ_PCI_DEVICE ||
                       o->type == HWLOC_OBJ_OS_DEVICE) {
                mb->kind = PLACE_LINK_SWITCH;
            } else {
                mb->kind = PLACE_LINK_OTHER;
            }
            mb->name = cl_strdup(nm);
            if (mb->name == NULL) {
                rv = CL_ENOMEM;
                goto out;
            }
        }
    }
out:
    for (unsigned i = 0; i < nr; i++)
        hwloc_distances_release(t, ds[i]);
    cl_free(ds);
    return rv;
}

static void conv_done(struct conv *cv)
{
    for (uint32_t i = 0; i < cv->ngpus; i++)
        cl_buf_free(&cv->gpus[i].names);
    cl_free(cv->gpus);
    cl_free(cv->numa_objs);
    cl_free(cv->core_objs);
}

/* place_topo_convert - hwloc topology -> model. */
static int place_topo_convert(hwloc_topology_t t, place_model **out,
                              cl_errmsg *err)
{
    struct conv cv = {.t = t, .err = err};
    int rv = CL_ENOMEM;
    cv.m = place__model_new();
    if (cv.m == NULL)
        goto err;
    hwloc_obj_t root = hwloc_get_root_obj(t);
    const char *host = hwloc_obj_get_info_by_name(root, "HostName");
    cv.m->hostname = cl_strndup(host ? host : "", PLACE_MAX_STRING);
    if (cv.m->hostname == NULL)
        goto err;
    cv.m->is_this_system = hwloc_topology_is_thissystem(t) == 1;
    cl_errmsg_set(err, "topology: out of memory");
    if ((rv = conv_cpus(&cv)) != 0)
        goto err;
    if ((rv = conv_gpus(&cv)) != 0)
        goto err;
    if ((rv = conv_links(&cv)) != 0)
        goto err;
    cl_errmsg_clear(err);
    if ((rv = place__model_finish(cv.m, err)) != 0)
        goto err;
    conv_done(&cv);
    *out = cv.m;
    return 0;
err:
    conv_done(&cv);
    place_model_free(cv.m);
    return rv;
}

/* place_topo_prepare - init and set the I/O filter (before any load). */
static int place_topo_prepare(hwloc_topology_t *t, cl_errmsg *err)
{
    if (hwloc_topology_init(t) != 0) {
        cl_errmsg_set(err, "hwloc: cannot initialize a topology");
        return CL_ENOMEM;
    }
    /* Keep PCI devices that lead to GPUs and their OS devices; without this
     * every GPU and the NVLink matrices are dropped. */
    hwloc_topology_set_io_types_filter(*t, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    return 0;
}

static int place_topo_load(hwloc_topology_t t, const char *what,
                           place_model **out, cl_errmsg *err)
{
    if (hwloc_topology_load(t) != 0) {
        int e = errno;
        cl_errmsg_set(err, "%s: hwloc cannot load it (%s); an XML export "
                           "must be hwloc format 1.x or 2.x",
                      what, strerror(e));
        return CL_ETOPO;
    }
    int rv = place_topo_convert(t, out, err);
    if (rv != 0)
        cl_errmsg_wrap(err, "%s", what);
    return rv;
}

int place_model_load_xml(const char *path, place_model **out, cl_errmsg *err)
{
    *out = NULL;
    if (path == NULL || path[0] == '\0') {
        cl_errmsg_set(err, "topology: no file given");
        return CL_EINVAL;
    }
    /* Check the file ourselves: a clear error for a path we cannot read,
     * never a silent fallback. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        cl_errmsg_set(err, "topology '%s': cannot read: %s", path,
                      strerror(e));
        return e == ENOENT ? CL_ENOENT : e == EACCES ? CL_EPERM : CL_EIO;
    }
    struct stat st;
    int srv = fstat(fd, &st);
    close(fd);
    if (srv != 0 || !S_ISREG(st.st_mode)) {
        cl_errmsg_set(err, "topology '%s': not a regular file", path);
        return CL_EIO;
    }
    hwloc_topology_t t;
    int rv = place_topo_prepare(&t, err);
    if (rv != 0)
        return rv;
    if (hwloc_topology_set_xml(t, path) != 0) {
        int e = errno;
        hwloc_topology_destroy(t);
        cl_errmsg_set(err, "topology '%s': not an hwloc XML export (%s)",
                      path, strerror(e));
        return CL_ETOPO;
    }
    char what[PLACE_MAX_STRING + 16];
    snprintf(what, sizeof(what), "topology '%s'", path);
    rv = place_topo_load(t, what, out, err);
    hwloc_topology_destroy(t);
    return rv;
}

int place_model_load_xml_buffer(const char *xml, size_t len,
                                place_model **out, cl_errmsg *err)
{
    *out = NULL;
    if (xml == NULL || len == 0 || len > INT32_MAX) {
        cl_errmsg_set(err, "topology: empty or oversized XML buffer");
        return CL_EINVAL;
    }
    hwloc_topology_t t;
    int rv = place_topo_prepare(&t, err);
    if (rv != 0)
        return rv;
    if (hwloc_topology_set_xmlbuffer(t, xml, (int)len) != 0) {
        int e = errno;
        hwloc_topology_destroy(t);
        cl_errmsg_set(err, "topology buffer: not an hwloc XML export (%s)",
                      strerror(e));
        return CL_ETOPO;
    }
    rv = place_topo_load(t, "topology buffer", out, err);
    hwloc_topology_destroy(t);
    return rv;
}

int place_model_load_live(place_model **out, cl_errmsg *err)
{
    *out = NULL;
    const char *env = getenv("HWLOC_XMLFILE");
    if (env != NULL && env[0] != '\0') {
        int rv = place_model_load_xml(env, out, err);
        if (rv != 0)
            cl_errmsg_wrap(err, "HWLOC_XMLFILE");
        return rv;
    }
    hwloc_topology_t t;
    int rv = place_topo_prepare(&t, err);
    if (rv != 0)
        return rv;
    rv = place_topo_load(t, "this machine", out, err);
    hwloc_topology_destroy(t);
    return rv;
}
