/* fixture.h - shared helpers for the placement unit tests: a counting heap
 * (every test ends with no live allocation), topology files from
 * $COULER_TESTDATA, request and cluster builders, binding checks. */
#ifndef COULER_TEST_PLACE_FIXTURE_H
#define COULER_TEST_PLACE_FIXTURE_H

#include "placement/place.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FX_DGX2 "dgx2-2xXeon8174-16xV100-nvswitch.xml"
#define FX_POWER8 "power8-minsky-4xP100-nvlink.xml"
#define FX_LASSEN "lassen-power9-4xV100.xml"
#define FX_LASSEN_V1 "lassen-power9-4xV100-gpumem-numa.v1.xml"
#define FX_G4DN "aws-g4dn-metal-2xXeon8259CL-8xT4.xml"
#define FX_PASCAL "pascal-2xE5-2695v4-2xP100-onesocket.xml"
#define FX_TIOGA "tioga-epyc7A53-nps4-8xMI250X-gcd.xml"
#define FX_CORONA "corona-2xEPYC7402-8xMI50.xml"
#define FX_QUARTZ "quartz-2xE5-2695v4-cpuonly.xml"
#define FX_EPYC_V1 "epyc-2x7551-8numa-cpuonly.v1.xml"
#define FX_SGI "sgi-uv2000-24xE5-4640-384pu.xml"
#define FX_LAPTOP "laptop-i7-1370P-hybrid.xml"

/* Counting heap: installed by fx_setup, checked by fx_teardown. */
void fx_heap_install(void);
void fx_heap_uninstall(void);
long fx_heap_live(void);
/* Fail every allocation after `n` more succeed; -1 turns failures off. */
void fx_heap_fail_after(long n);
int fx_setup(void **state);    /* cmocka per-test setup */
int fx_teardown(void **state); /* asserts no live allocation */

/* Path of a topology file under $COULER_TESTDATA/topologies (static
 * buffer, valid until the next call). */
const char *fx_path(const char *file);
/* Load a topology file or fail the test. Free with place_model_free. */
place_model *fx_load(const char *file);

/* Parse a request from cpu/memory/GPU strings (NULL: absent). */
void fx_req(place_request *r, const char *cpu, const char *mem,
            const char *gpu_name, const char *gpus);

/* A cluster holding `count` nodes "<prefix>-<i>" of one topology. */
place_cluster *fx_cluster(const char *file, const char *prefix,
                          unsigned count);
void fx_cluster_add(place_cluster *c, const char *file, const char *id,
                    const place_kv *labels, size_t nlabels);

/* Every PU of the binding belongs to cores of package p / NUMA index d. */
bool fx_pus_in_package(const place_model *m, const place_binding *b,
                       int32_t p);
bool fx_pus_in_numa(const place_model *m, const place_binding *b, int32_t d);
/* Every PU is near the GPU (its locality cores). */
bool fx_pus_near_gpu(const place_model *m, const place_binding *b,
                     uint32_t slot);
/* The model core index of an OS PU. */
int32_t fx_core_of(const place_model *m, uint32_t pu_os);

#endif
