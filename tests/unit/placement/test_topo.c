/* Unit tests for placement/topo.c: models built from every hwloc XML file
 * in tests/data/topologies/, checked against the facts table of its
 * README, and the refusals of unreadable or non-XML input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "placement/place.h"
#include "tests/unit/placement/fixture.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GIB (1024.0 * 1024.0 * 1024.0)
#define NONE -1

/* One row of the README table. GPU facts are keyed by the runtime index
 * (cudaN / nvmlN / rsmiN, or PCI order for DRM-only exports). */
struct facts {
    const char *file;
    const char *host;
    uint32_t pkgs, numa;
    double numa_gib[24]; /* per NUMA node, in model order */
    uint32_t numa_os[8]; /* first OS indexes, when notable (0 = skip) */
    uint32_t cores, pus;
    uint32_t gpus;
    enum place_vendor vendor;
    int32_t gpu_numa_os[16]; /* by runtime index: NUMA OS index */
    int32_t gpu_pkg[16];     /* by runtime index: package index */
    const char *locality;    /* locality kind of every GPU */
};

static const struct facts table[] = {
    {FX_DGX2, "", 2, 2, {754.6, 756.0}, {0}, 4, 4, 16, PLACE_VENDOR_NVIDIA,
     {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1},
     {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1}, "Package"},
    {FX_POWER8, "drac-12.grenoble.grid5000.fr", 2, 2, {63.8, 63.7}, {0}, 8,
     16, 4, PLACE_VENDOR_NVIDIA, {0, 0, 1, 1}, {0, 0, 1, 1}, "Package"},
    {FX_LASSEN, "lassen28", 2, 2, {127.7, 127.7}, {0, 8}, 40, 160, 4,
     PLACE_VENDOR_NVIDIA, {0, 0, 8, 8}, {0, 0, 1, 1}, "Package"},
    {FX_LASSEN_V1, "lassen28", 2, 6, {127.7, 127.7, 15.8, 15.8, 15.8, 15.8},
     {0, 8, 252, 253, 254, 255}, 40, 160, 4, PLACE_VENDOR_NVIDIA,
     {0, 0, 8, 8}, {0, 0, 1, 1}, "Group"},
    {FX_G4DN, "gpu-st-g4dnmetal-1", 2, 2, {188.5, 189.0}, {0}, 48, 96, 8,
     PLACE_VENDOR_NVIDIA, {0, 0, 0, 0, 1, 1, 1, 1}, {0, 0, 0, 0, 1, 1, 1, 1},
     "Package"},
    {FX_PASCAL, "pascal4", 2, 2, {125.5, 126.0}, {0}, 36, 72, 2,
     PLACE_VENDOR_NVIDIA, {0, 0}, {0, 0}, "Package"},
    {FX_TIOGA, "tioga29", 1, 4, {125.5, 125.9, 126.0, 126.0}, {0}, 64, 128, 8,
     PLACE_VENDOR_AMD, {3, 3, 1, 1, 0, 0, 2, 2}, {0, 0, 0, 0, 0, 0, 0, 0},
     "L3Cache"},
    {FX_CORONA, "corona282", 2, 2, {125.5, 126.0}, {0}, 48, 96, 8,
     PLACE_VENDOR_AMD, {0, 0, 0, 0, 1, 1, 1, 1}, {0, 0, 0, 0, 1, 1, 1, 1},
     "Package"},
    {FX_QUARTZ, "quartz386", 2, 2, {62.5, 63.0}, {0}, 36, 36, 0,
     PLACE_VENDOR_NONE, {NONE}, {NONE}, NULL},
    {FX_EPYC_V1, "inti6000", 2, 8,
     {31.9, 32.0, 32.0, 32.0, 32.0, 32.0, 32.0, 32.0}, {0}, 64, 128, 0,
     PLACE_VENDOR_NONE, {NONE}, {NONE}, NULL},
    {FX_SGI, "uv2000", 24, 24, {31.0, 31.0, 31.0, 31.0, 31.0, 31.0, 31.0, 31.0,
                                31.0, 31.0, 31.0, 31.0, 31.0, 31.0, 31.0, 31.0,
                                31.0, 31.0, 31.0, 31.0, 31.0, 31.0, 31.0, 31.0},
     {0}, 192, 384, 0, PLACE_VENDOR_NONE, {NONE}, {NONE}, NULL},
    {FX_LAPTOP, "vesubie", 1, 1, {31.0}, {0}, 14, 20, 0, PLACE_VENDOR_NONE,
     {NONE}, {NONE}, NULL},
};
#define NFACTS (sizeof(table) / sizeof(table[0]))

static const place_gpu *gpu_by_index(const place_model *m, int32_t index)
{
    for (uint32_t i = 0; i < m->ngpus; i++)
        if (m->gpus[i].index == index)
            return &m->gpus[i];
    return NULL;
}

static void check_facts(const struct facts *f)
{
    place_model *m = fx_load(f->file);
    print_message("  %s\n", f->file);
    assert_string_equal(m->hostname, f->host);
    assert_false(m->is_this_system);
    assert_int_equal(m->npackages, f->pkgs);
    assert_int_equal(m->nnuma, f->numa);
    for (uint32_t i = 0; i < f->numa; i++) {
        double gib = (double)m->numa[i].memory / GIB;
        if (fabs(gib - f->numa_gib[i]) > 0.051) /* README rounds to 0.1 */
            fail_msg("%s: NUMA %u has %.2f GiB, README says %.1f", f->file,
                     i, gib, f->numa_gib[i]);
        if (i < 8 && f->numa_os[i] != 0)
            assert_int_equal(m->numa[i].os_index, f->numa_os[i]);
    }
    assert_int_equal(m->ncores, f->cores);
    assert_int_equal(m->npus, f->pus);
    assert_int_equal(m->ngpus, f->gpus);
    for (uint32_t i = 0; i < f->gpus; i++) {
        const place_gpu *g = gpu_by_index(m, (int32_t)i);
        if (g == NULL)
            fail_msg("%s: no GPU with runtime index %u", f->file, i);
        assert_int_equal(g->vendor, f->vendor);
        assert_true(g->numa >= 0);
        if ((int32_t)m->numa[g->numa].os_index != f->gpu_numa_os[i])
            fail_msg("%s: GPU %u on NUMA P#%u, README says P#%d", f->file, i,
                     m->numa[g->numa].os_index, f->gpu_numa_os[i]);
        assert_int_equal(g->package, f->gpu_pkg[i]);
        if (strncmp(g->locality, f->locality, strlen(f->locality)) != 0)
            fail_msg("%s: GPU %u near '%s', expected %s", f->file, i,
                     g->locality, f->locality);
        /* Its near cores are on its NUMA node. */
        assert_true(g->nnear > 0);
        for (uint32_t j = 0; j < g->nnear; j++)
            assert_int_equal(m->cores[g->near_cores[j]].numa, g->numa);
    }
    /* Every PU appears once and belongs to its core's range. */
    uint32_t pus = 0;
    for (uint32_t c = 0; c < m->ncores; c++) {
        assert_true(m->cores[c].npus >= 1);
        for (uint32_t p = 0; p < m->cores[c].npus; p++)
            assert_int_equal(m->pus[m->cores[c].pu_first + p].core, c);
        pus += m->cores[c].npus;
    }
    assert_int_equal(pus, m->npus);
    place_model_free(m);
}

static void test_facts_every_file(void **state)
{
    (void)state;
    for (size_t i = 0; i < NFACTS; i++)
        check_facts(&table[i]);
}

/* Every XML file in the directory has a row, so a new file cannot slip in
 * untested. */
static void test_every_file_has_facts(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/topologies", getenv("COULER_TESTDATA"));
    DIR *d = opendir(dir);
    assert_non_null(d);
    int seen = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 4, ".xml") != 0)
            continue;
        bool found = false;
        for (size_t i = 0; i < NFACTS && !found; i++)
            found = strcmp(table[i].file, e->d_name) == 0;
        if (!found)
            fail_msg("%s has no facts row", e->d_name);
        seen++;
    }
    closedir(d);
    assert_int_equal(seen, (int)NFACTS);
}

static void test_missing_file_refused(void **state)
{
    (void)state;
    place_model *m = (place_model *)&m;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = place_model_load_xml("/nonexistent/couler/topo.xml", &m, &err);
    assert_int_equal(rv, CL_ENOENT);
    assert_null(m);
    assert_non_null(strstr(err.msg, "/nonexistent/couler/topo.xml"));
    assert_non_null(strstr(err.msg, "cannot read"));
    rv = place_model_load_xml("", &m, &err);
    assert_int_equal(rv, CL_EINVAL);
}

static void test_non_xml_refused(void **state)
{
    (void)state;
    place_model *m = NULL;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = place_model_load_xml(fx_path("README.md"), &m, &err);
    assert_int_equal(rv, CL_ETOPO);
    assert_null(m);
    assert_non_null(strstr(err.msg, "README.md"));
    assert_non_null(strstr(err.msg, "not an hwloc XML export"));
    /* A directory. */
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/topologies", getenv("COULER_TESTDATA"));
    rv = place_model_load_xml(dir, &m, &err);
    assert_int_equal(rv, CL_EIO);
    assert_non_null(strstr(err.msg, "not a regular file"));
}

static void test_format3_refused(void **state)
{
    (void)state;
    char path[] = "/tmp/couler-place-v3-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<topology version=\"3.0\">\n"
          "  <object type=\"Machine\" os_index=\"0\"/>\n</topology>\n",
          f);
    fclose(f);
    place_model *m = NULL;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = place_model_load_xml(path, &m, &err);
    unlink(path);
    assert_int_equal(rv, CL_ETOPO);
    assert_null(m);
    assert_non_null(strstr(err.msg, "hwloc cannot load it"));
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static void test_xml_buffer(void **state)
{
    (void)state;
    size_t len;
    char *xml = slurp(fx_path(FX_G4DN), &len);
    place_model *m = NULL;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    assert_int_equal(place_model_load_xml_buffer(xml, len, &m, &err), 0);
    assert_int_equal(m->ngpus, 8);
    assert_int_equal(m->npus, 96);
    place_model_free(m);
    assert_int_equal(place_model_load_xml_buffer("not xml at all", 14, &m,
                                                 &err),
                     CL_ETOPO);
    assert_null(m);
    assert_int_equal(place_model_load_xml_buffer(NULL, 0, &m, &err),
                     CL_EINVAL);
    free(xml);
}

/* HWLOC_XMLFILE pointing at a missing file: hwloc alone would silently
 * describe the live machine; we refuse. */
static void test_hwloc_xmlfile_missing_refused(void **state)
{
    (void)state;
    place_model *m = NULL;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    setenv("HWLOC_XMLFILE", "/nonexistent/couler/machine.xml", 1);
    int rv = place_model_load_live(&m, &err);
    unsetenv("HWLOC_XMLFILE");
    assert_int_equal(rv, CL_ENOENT);
    assert_null(m);
    assert_non_null(strstr(err.msg, "HWLOC_XMLFILE"));
    assert_non_null(strstr(err.msg, "/nonexistent/couler/machine.xml"));
    /* A readable one is loaded as XML: not this system. */
    setenv("HWLOC_XMLFILE", fx_path(FX_PASCAL), 1);
    rv = place_model_load_live(&m, &err);
    unsetenv("HWLOC_XMLFILE");
    assert_int_equal(rv, 0);
    assert_string_equal(m->hostname, "pascal4");
    assert_false(m->is_this_system);
    place_model_free(m);
}

static void test_live_machine(void **state)
{
    (void)state;
    unsetenv("HWLOC_XMLFILE");
    place_model *m = NULL;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = place_model_load_live(&m, &err);
    if (rv != 0)
        fail_msg("live: %s", err.msg);
    assert_true(m->is_this_system);
    assert_true(m->npus >= 1);
    assert_true(m->ncores >= 1 && m->ncores <= m->npus);
    assert_true(m->nnuma >= 1);
    place_model_free(m);
}

/* One GPU per PCI device; COPROC and GPU types both count; a BMC VGA chip
 * is not a GPU. */
static void test_gpu_identity(void **state)
{
    (void)state;
    place_model *m = fx_load(FX_G4DN);
    assert_int_equal(m->ngpus, 8);
    assert_string_equal(m->gpus[0].pci_bus_id, "0000:18:00.0");
    assert_string_equal(m->gpus[7].pci_bus_id, "0000:f5:00.0");
    assert_string_equal(m->gpus[0].model, "Tesla T4");
    assert_non_null(strstr(m->gpus[0].os_devices, "cuda0"));
    assert_non_null(strstr(m->gpus[0].os_devices, "nvml0"));
    assert_non_null(strstr(m->gpus[0].os_devices, "opencl0d0"));
    assert_int_equal(m->gpus[0].pci_vendor, 0x10de);
    assert_int_equal(m->gpus[0].pci_class, 0x0302);
    place_model_free(m);

    m = fx_load(FX_DGX2); /* NVML devices typed COPROC */
    assert_int_equal(m->ngpus, 16);
    assert_string_equal(m->gpus[0].model, "Tesla V100-SXM3-32GB-H");
    place_model_free(m);

    m = fx_load(FX_EPYC_V1); /* only an ASPEED BMC "card0" */
    assert_int_equal(m->ngpus, 0);
    place_model_free(m);

    m = fx_load(FX_LASSEN_V1); /* four DRM-only V100s plus the BMC */
    assert_int_equal(m->ngpus, 4);
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(m->gpus[i].pci_vendor, 0x10de);
        assert_true(m->gpus[i].index_from_pci);
        assert_int_equal(m->gpus[i].index, (int32_t)i);
    }
    assert_string_equal(m->gpus[0].pci_bus_id, "0004:04:00.0");
    place_model_free(m);

    m = fx_load(FX_CORONA); /* rsmi numbering is not PCI order */
    assert_string_equal(m->gpus[0].pci_bus_id, "0000:03:00.0");
    assert_int_equal(m->gpus[0].index, 2);
    assert_false(m->gpus[0].index_from_pci);
    assert_string_equal(m->gpus[0].model, "deon Instinct MI50 32GB");
    assert_non_null(strstr(m->gpus[0].os_devices, "rsmi2"));
    place_model_free(m);
}

/* Remove every OS device from an XML export: what hwloc reports on a host
 * whose GPUs have no runtime or DRM device visible. */
static size_t strip_osdevs(char *xml)
{
    size_t n = 0;
    char *p;
    while ((p = strstr(xml, "<object type=\"OSDev\"")) != NULL) {
        char *gt = strchr(p, '>');
        char *end = gt[-1] == '/' ? gt + 1 : strstr(gt, "</object>") + 9;
        memmove(p, end, strlen(end) + 1);
        n++;
    }
    return n;
}

static void test_gpus_from_pci_alone(void **state)
{
    (void)state;
    size_t len;
    char *xml = slurp(fx_path(FX_G4DN), &len);
    assert_int_equal(strip_osdevs(xml), 24 + 5); /* GPU devices + NIC/disks */
    place_model *m = NULL;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = place_model_load_xml_buffer(xml, strlen(xml), &m, &err);
    free(xml);
    if (rv != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(m->ngpus, 8);
    for (uint32_t i = 0; i < 8; i++) {
        assert_int_equal(m->gpus[i].vendor, PLACE_VENDOR_NVIDIA);
        assert_int_equal(m->gpus[i].index, (int32_t)i);
        assert_true(m->gpus[i].index_from_pci);
        assert_string_equal(m->gpus[i].model, "TU104GL [Tesla T4]");
        assert_string_equal(m->gpus[i].os_devices, "");
        assert_int_equal(m->gpus[i].numa, i < 4 ? 0 : 1);
    }
    place_model_free(m);
    /* The BMC of the EPYC export stays out, OS devices or not. */
    xml = slurp(fx_path(FX_EPYC_V1), &len);
    strip_osdevs(xml);
    assert_int_equal(place_model_load_xml_buffer(xml, strlen(xml), &m, &err),
                     0);
    free(xml);
    assert_int_equal(m->ngpus, 0);
    place_model_free(m);
}

static void test_links(void **state)
{
    (void)state;
    place_model *m = fx_load(FX_DGX2);
    assert_int_equal(m->nlinks, 1);
    assert_string_equal(m->links[0].name, "NVLinkBandwidth");
    assert_int_equal(m->links[0].n, 28);
    uint32_t sw = 0;
    for (uint32_t i = 0; i < 28; i++)
        sw += m->links[0].members[i].kind == PLACE_LINK_SWITCH;
    assert_int_equal(sw, 12);
    assert_int_equal(m->nlink_groups, 2);
    for (uint32_t i = 0; i < 16; i++)
        assert_int_equal(m->gpus[i].link_group, i < 8 ? 0 : 1);
    /* GPU<->GPU is 0 in the matrix: the path is through a switch. */
    assert_int_equal(m->gpu_bw[0 * 16 + 7], 25000);
    assert_int_equal(m->gpu_bw[0 * 16 + 8], 0);
    place_model_free(m);

    m = fx_load(FX_POWER8);
    assert_int_equal(m->nlink_groups, 2);
    assert_int_equal(m->gpu_bw[0 * 4 + 1], 40000);
    assert_int_equal(m->gpu_bw[0 * 4 + 2], 0);
    uint32_t pk = 0;
    for (uint32_t i = 0; i < m->links[0].n; i++)
        pk += m->links[0].members[i].kind == PLACE_LINK_PACKAGE;
    assert_int_equal(pk, 2);
    place_model_free(m);

    m = fx_load(FX_TIOGA);
    assert_int_equal(m->nlink_groups, 1);
    assert_string_equal(m->links[0].name, "XGMIBandwidth");
    assert_int_equal(m->gpu_bw[3 * 8 + 5], 100000);
    place_model_free(m);

    m = fx_load(FX_G4DN);
    assert_int_equal(m->nlinks, 0);
    assert_int_equal(m->nlink_groups, 0);
    assert_int_equal(m->gpus[3].link_group, -1);
    place_model_free(m);
}

static void test_cpu_details(void **state)
{
    (void)state;
    place_model *m = fx_load(FX_LAPTOP);
    for (uint32_t c = 0; c < m->ncores; c++) {
        uint32_t first = m->pus[m->cores[c].pu_first].os_index;
        /* PUs 0-11 are the fast kind (6 P-cores x 2 threads). */
        assert_int_equal(m->cores[c].kind, first < 12 ? 1 : 0);
        assert_int_equal(m->cores[c].npus, first < 12 ? 2 : 1);
    }
    place_model_free(m);

    m = fx_load(FX_LASSEN); /* PUs 0-7 are reserved: not in the model */
    for (uint32_t i = 0; i < m->npus; i++)
        assert_true(m->pus[i].os_index >= 8);
    assert_int_equal(m->cores[0].npus, 4); /* SMT4 */
    place_model_free(m);

    m = fx_load(FX_G4DN); /* hyperthread siblings n and n+48 */
    assert_int_equal(m->cores[0].npus, 2);
    assert_int_equal(m->pus[m->cores[5].pu_first].os_index, 5);
    assert_int_equal(m->pus[m->cores[5].pu_first + 1].os_index, 53);
    assert_int_equal(m->ncaches, 2);
    place_model_free(m);

    m = fx_load(FX_TIOGA); /* 8 CCDs: 8 L3 groups of 8 cores */
    assert_int_equal(m->ncaches, 8);
    uint32_t in_l3[8] = {0};
    for (uint32_t c = 0; c < m->ncores; c++)
        in_l3[m->cores[c].cache]++;
    for (int i = 0; i < 8; i++)
        assert_int_equal(in_l3[i], 8);
    place_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_facts_every_file, fx_setup,
                                        fx_teardown),
        cmocka_unit_test(test_every_file_has_facts),
        cmocka_unit_test_setup_teardown(test_missing_file_refused, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_non_xml_refused, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_format3_refused, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_xml_buffer, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_hwloc_xmlfile_missing_refused,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_live_machine, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_gpu_identity, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_gpus_from_pci_alone, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_links, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cpu_details, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests_name("placement/topo", tests, NULL, NULL);
}
