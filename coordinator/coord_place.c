/* coord_place.c - the coordinator's placement: a cluster view (placement/)
 * of the registered agents' resource models, the request of each queued
 * step, and the binding each placed step runs with.
 *
 * A binding travels in the StepAssign (cpuset, GPUs, NUMA nodes, cpu quota,
 * memory limit and the environment a step expects: COULER_CPUS,
 * COULER_GPUS, CUDA_VISIBLE_DEVICES or ROCR_/HIP_VISIBLE_DEVICES,
 * OMP_NUM_THREADS, COULER_PARALLELISM) and is kept with the attempt, so a
 * restarted coordinator restores its view as agents re-register.
 */
#include "coordinator/coord_int.h"

#include "common/cl_heap.h"
#include "common/cl_log.h"
#include "common/cl_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct coord_req {
    place_request r;
    place_kv *selector; /* owned strings */
    size_t nselector;
    place_input *inputs; /* owned node ids */
    size_t ninputs;
    uint32_t gang; /* couler.io/nodes: ranks on distinct nodes; 0: none */
};

int coord__place_init(coord *c)
{
    place_options o = place_options_default();
    cl_rng_seed(&c->rng, (uint64_t)cl_wall_ms());
    return place_cluster_new(&o, &c->pc);
}

void coord__place_free(coord *c)
{
    place_cluster_free(c->pc);
    c->pc = NULL;
}

void coord__req_free(coord_req *q)
{
    if (q == NULL)
        return;
    for (size_t i = 0; i < q->nselector; i++) {
        cl_free((char *)q->selector[i].name);
        cl_free((char *)q->selector[i].value);
    }
    cl_free(q->selector);
    for (size_t i = 0; i < q->ninputs; i++)
        cl_free((char *)q->inputs[i].node_id);
    cl_free(q->inputs);
    cl_free(q);
}

static const char *annotation(const wf_task *t, const char *name)
{
    for (size_t i = 0; i < t->nannotations; i++)
        if (strcmp(t->annotations[i].name, name) == 0)
            return t->annotations[i].value;
    return NULL;
}

int coord__req_from_task(const wf_task *t, coord_req **out, cl_errmsg *err)
{
    coord_req *q = cl_calloc(1, sizeof(*q));
    if (q == NULL)
        return CL_ENOMEM;
    place_request_init(&q->r);
    int rv = place_request_parse(&q->r, (const place_kv *)t->requests,
                                 t->nrequests, (const place_kv *)t->limits,
                                 t->nlimits, err);
    if (rv != 0) {
        cl_free(q);
        return rv;
    }
    q->selector = cl_calloc(t->nnode_selector + 1, sizeof(*q->selector));
    q->inputs = cl_calloc(t->ninputs + 1, sizeof(*q->inputs));
    if (q->selector == NULL || q->inputs == NULL)
        goto oom;
    for (size_t i = 0; i < t->nnode_selector; i++) {
        q->selector[i].name = cl_strdup(t->node_selector[i].name);
        q->selector[i].value = cl_strdup(t->node_selector[i].value
                                             ? t->node_selector[i].value
                                             : "");
        q->nselector = i + 1;
        if (!q->selector[i].name || !q->selector[i].value)
            goto oom;
    }
    for (size_t i = 0; i < t->ninputs; i++) {
        const wf_input_artifact *in = &t->inputs[i];
        if (in->host == NULL || in->host[0] == '\0')
            continue;
        q->inputs[q->ninputs].node_id = cl_strdup(in->host);
        /* Sizes are not known here; every input weighs the same. */
        q->inputs[q->ninputs].bytes = 1u << 20;
        if (q->inputs[q->ninputs].node_id == NULL)
            goto oom;
        q->ninputs++;
    }
    q->r.selector = q->selector;
    q->r.nselector = q->nselector;
    q->r.inputs = q->inputs;
    q->r.ninputs = q->ninputs;
    const char *par = annotation(t, "couler.io/parallelism");
    q->r.auto_parallel = par != NULL && strcmp(par, "auto") == 0;
    const char *nodes = annotation(t, "couler.io/nodes");
    if (nodes != NULL) {
        char *end;
        unsigned long n = strtoul(nodes, &end, 10);
        if (*end != '\0' || n == 0 || n > 4096) {
            cl_errmsg_set(err, "annotation couler.io/nodes: '%s' is not a "
                               "number of nodes",
                          nodes);
            coord__req_free(q);
            return CL_EINVAL;
        }
        q->gang = n > 1 ? (uint32_t)n : 0;
    }
    *out = q;
    return 0;
oom:
    coord__req_free(q);
    return CL_ENOMEM;
}

uint32_t coord__req_gang(const coord_req *q)
{
    return q ? q->gang : 0;
}

const place_request *coord__req_place(const coord_req *q)
{
    return &q->r;
}

static place_kv *labels_of(const Couler__AgentRegister *reg)
{
    place_kv *kv = cl_calloc(reg->n_labels + 1, sizeof(*kv));
    for (size_t i = 0; kv && i < reg->n_labels; i++) {
        kv[i].name = reg->labels[i]->name;
        kv[i].value = reg->labels[i]->value;
    }
    return kv;
}

void coord__place_agent_up(coord *c, coord_agent *ag)
{
    const Couler__AgentRegister *reg = ag->reg;
    place_model *m = NULL;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    if (reg->model.len == 0 ||
        place_model_unpack(reg->model.data, reg->model.len, &m, &err) != 0) {
        CL_ERROR("agent %s sent no usable resource model (%s); it gets no "
                 "steps",
                 ag->id, err.msg[0] ? err.msg : "none");
        place_cluster_remove_node(c->pc, ag->id);
        return;
    }
    /* A re-registration may bring another model (a different --topology):
     * start the node afresh and restore the bindings of its steps. */
    place_cluster_remove_node(c->pc, ag->id);
    place_kv *labels = labels_of(reg);
    int rv = place_cluster_add_node(c->pc, ag->id, m, labels,
                                    labels ? reg->n_labels : 0, &err);
    cl_free(labels);
    place_model_free(m);
    if (rv != 0) {
        CL_ERROR("agent %s: %s", ag->id, err.msg);
        return;
    }
    for (coord_attempt *a = c->attempts; a; a = a->hh.next) {
        if (!a->bound || a->agent == NULL || strcmp(a->agent, ag->id) ||
            (a->state != COORD_ATT_ASSIGNED && a->state != COORD_ATT_STARTED))
            continue;
        if (place_cluster_commit(c->pc, &a->binding, &err) != 0)
            CL_WARN("step %s: its binding could not be restored: %s", a->id,
                    err.msg);
    }
}

void coord__place_agent_state(coord *c, coord_agent *ag, bool ready)
{
    place_cluster_set_state(c->pc, ag->id,
                            ready ? PLACE_NODE_READY : PLACE_NODE_DOWN);
}

void coord__place_release(coord *c, coord_attempt *a)
{
    if (!a->bound)
        return;
    place_cluster_release(c->pc, a->binding.id);
    /* Keep the binding itself: `get` shows where the step ran. */
    a->bound = false;
}

/* The environment a bound step expects. */
static int binding_env(const place_binding *b, const wf_kv *extra,
                       size_t nextra, Couler__KV ***out, size_t *n,
                       char ***strs)
{
    char gpus[512] = "", vis[512] = "", threads[16], degree[16];
    enum place_vendor vendor = PLACE_VENDOR_NONE;
    for (size_t i = 0; i < b->ngpus; i++) {
        size_t l = strlen(gpus);
        snprintf(gpus + l, sizeof(gpus) - l, "%s%d", i ? "," : "",
                 b->gpus[i].index);
        vendor = b->gpus[i].vendor;
    }
    if (vendor != PLACE_VENDOR_NONE) {
        cl_buf vb = CL_BUF_INIT;
        place_binding_visible_devices(b, vendor, &vb);
        snprintf(vis, sizeof(vis), "%s", vb.data ? vb.data : "");
        cl_buf_free(&vb);
    }
    uint32_t cores = b->shared ? 1 : (b->cpu_milli + 999) / 1000;
    snprintf(threads, sizeof(threads), "%u", cores ? cores : 1);
    snprintf(degree, sizeof(degree), "%u", b->degree ? b->degree : 1);
    const char *kv[32][2];
    size_t k = 0;
    for (size_t i = 0; i < nextra && i < 16; i++) {
        kv[k][0] = extra[i].name;
        kv[k++][1] = extra[i].value;
    }
    kv[k][0] = "COULER_CPUS";
    kv[k++][1] = b->cpuset ? b->cpuset : "";
    kv[k][0] = "COULER_GPUS";
    kv[k++][1] = gpus;
    kv[k][0] = "OMP_NUM_THREADS";
    kv[k++][1] = threads;
    if (b->degree > 1 || b->ngpus > 0) {
        kv[k][0] = "COULER_PARALLELISM";
        kv[k++][1] = degree;
    }
    if (vendor == PLACE_VENDOR_NVIDIA) {
        kv[k][0] = "CUDA_VISIBLE_DEVICES";
        kv[k++][1] = vis;
        kv[k][0] = "CUDA_DEVICE_ORDER";
        kv[k++][1] = "PCI_BUS_ID";
    } else if (vendor == PLACE_VENDOR_AMD) {
        kv[k][0] = "ROCR_VISIBLE_DEVICES";
        kv[k++][1] = vis;
        kv[k][0] = "HIP_VISIBLE_DEVICES";
        kv[k++][1] = vis;
    } else {
        /* A CPU-only step sees no GPU, whatever the host has. */
        kv[k][0] = "CUDA_VISIBLE_DEVICES";
        kv[k++][1] = "";
    }
    Couler__KV **arr = cl_calloc(k + 1, sizeof(*arr));
    char **s = cl_calloc(2 * k + 1, sizeof(char *));
    if (arr == NULL || s == NULL) {
        cl_free(arr);
        cl_free(s);
        return CL_ENOMEM;
    }
    for (size_t i = 0; i < k; i++) {
        arr[i] = cl_calloc(1, sizeof(Couler__KV));
        s[2 * i] = cl_strdup(kv[i][0]);
        s[2 * i + 1] = cl_strdup(kv[i][1]);
        if (arr[i] == NULL || !s[2 * i] || !s[2 * i + 1])
            return CL_ENOMEM; /* freed by the caller */
        couler__kv__init(arr[i]);
        arr[i]->name = s[2 * i];
        arr[i]->value = s[2 * i + 1];
    }
    *out = arr;
    *n = k;
    *strs = s;
    return 0;
}

/* coord__binding_field - the StepAssign `binding` field (field 16) for b,
 * serialized, so that appending it to a packed StepAssign sets it. */
int coord__binding_field(const place_binding *b, const wf_kv *extra,
                         size_t nextra, uint8_t **out, size_t *len)
{
    Couler__Binding bd = COULER__BINDING__INIT;
    bd.cpus = b->cpuset ? b->cpuset : "";
    uint32_t gpus[256];
    size_t ng = b->ngpus < 256 ? b->ngpus : 256;
    for (size_t i = 0; i < ng; i++)
        gpus[i] = (uint32_t)b->gpus[i].index;
    bd.gpus = gpus;
    bd.n_gpus = ng;
    bd.gpu_vendor = (char *)(ng ? place_vendor_name(b->gpus[0].vendor) : "");
    char mems[256] = "";
    for (size_t i = 0; i < b->nmems; i++) {
        size_t l = strlen(mems);
        snprintf(mems + l, sizeof(mems) - l, "%s%u", i ? "," : "",
                 b->mems[i].numa_os);
    }
    bd.mems = mems;
    bd.cpu_milli = b->cpu_quota_milli;
    bd.memory_limit = b->memory_limit;
    bd.parallelism = b->degree;
    char **strs = NULL;
    int rv = binding_env(b, extra, nextra, &bd.env, &bd.n_env, &strs);
    if (rv == 0) {
        Couler__StepAssign m = COULER__STEP_ASSIGN__INIT;
        m.binding = &bd;
        *len = couler__step_assign__get_packed_size(&m);
        *out = cl_malloc(*len ? *len : 1);
        if (*out == NULL)
            rv = CL_ENOMEM;
        else
            couler__step_assign__pack(&m, *out);
    }
    for (size_t i = 0; bd.env && i < bd.n_env; i++)
        cl_free(bd.env[i]);
    cl_free(bd.env);
    for (size_t i = 0; strs && i < 2 * bd.n_env; i++)
        cl_free(strs[i]);
    cl_free(strs);
    return rv;
}

/* coord__place_try - a binding for queued attempt `a` now: 0 (a->binding
 * committed), CL_EAGAIN (wait), or CL_ENOFIT / CL_EINVAL with the reason.
 * A nodeSelector that no node matches makes the step wait (a node with
 * those labels may join), as an unschedulable pod waits. */
int coord__place_try(coord *c, coord_attempt *a, cl_errmsg *err)
{
    if (a->req == NULL) {
        cl_errmsg_set(err, "the step has no resource request");
        return CL_EINVAL;
    }
    place_binding b;
    place_binding_init(&b);
    int rv = place_cluster_place(c->pc, &a->req->r, &c->rng, &b, err);
    if (rv == CL_ENOFIT && a->req->nselector > 0) {
        place_request loose = a->req->r;
        loose.selector = NULL;
        loose.nselector = 0;
        cl_errmsg why;
        if (place_cluster_fits_ever(c->pc, &loose, &why) == 0)
            rv = CL_EAGAIN; /* only the selector stands in the way */
    }
    if (rv != 0) {
        place_binding_free(&b);
        return rv;
    }
    place_binding_free(&a->binding);
    a->binding = b;
    a->bound = true;
    return 0;
}

json_t *coord__binding_json(const place_binding *b)
{
    if (b->node_id == NULL)
        return NULL;
    json_t *gpus = json_array();
    for (size_t i = 0; i < b->ngpus; i++)
        json_array_append_new(
            gpus, json_pack("{s:i,s:s,s:s}", "index", b->gpus[i].index,
                            "vendor", place_vendor_name(b->gpus[i].vendor),
                            "pciBusId", b->gpus[i].pci_bus_id));
    json_t *mems = json_array();
    for (size_t i = 0; i < b->nmems; i++)
        json_array_append_new(mems, json_integer(b->mems[i].numa_os));
    return json_pack("{s:s,s:s,s:o,s:o,s:i,s:i,s:I,s:I,s:b,s:i,s:s}", "node",
                     b->node_id, "cpus", b->cpuset ? b->cpuset : "", "gpus",
                     gpus, "memoryNodes", mems, "cpuMilli", b->cpu_milli,
                     "cpuQuotaMilli", b->cpu_quota_milli, "memory",
                     (json_int_t)b->memory, "memoryLimit",
                     (json_int_t)b->memory_limit, "sharedCores", b->shared,
                     "degree", b->degree ? b->degree : 1, "fit",
                     place_fit_name(b->fit));
}

void coord__place_describe(coord *c, const char *node, cl_buf *out)
{
    place_cluster_describe_node(c->pc, node, out);
}
