/* Unit tests for placement/binding.c: lifecycle, copies and the
 * CUDA_VISIBLE_DEVICES / ROCR_VISIBLE_DEVICES text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/cl_heap.h"
#include "placement/place.h"
#include "tests/unit/placement/fixture.h"

#include <string.h>

static void make(place_binding *b)
{
    place_binding_init(b);
    b->node_id = cl_strdup("n1");
    b->cpuset = cl_strdup("0-1");
    b->npus = 2;
    b->pus = cl_calloc(2, sizeof(uint32_t));
    b->pus[1] = 1;
    b->ngpus = 3;
    b->gpus = cl_calloc(3, sizeof(place_binding_gpu));
    b->gpus[0] = (place_binding_gpu){4, PLACE_VENDOR_AMD, 2, "0000:03:00.0"};
    b->gpus[1] = (place_binding_gpu){5, PLACE_VENDOR_AMD, 7, "0000:a3:00.0"};
    b->gpus[2] = (place_binding_gpu){0, PLACE_VENDOR_NVIDIA, 0, "0000:18:00.0"};
    b->nmems = 1;
    b->mems = cl_calloc(1, sizeof(place_binding_mem));
}

static void test_init_free(void **state)
{
    (void)state;
    place_binding b;
    place_binding_init(&b);
    assert_int_equal(b.degree, 1);
    assert_null(b.pus);
    place_binding_free(&b); /* empty: fine */
    make(&b);
    place_binding_free(&b);
    assert_null(b.node_id);
    place_binding_free(&b); /* twice: fine */
    place_binding_free(NULL);
}

static void test_copy(void **state)
{
    (void)state;
    place_binding a, b;
    make(&a);
    assert_int_equal(place_binding_copy(&a, &b), 0);
    assert_ptr_not_equal(a.gpus, b.gpus);
    assert_string_equal(b.node_id, "n1");
    assert_string_equal(b.gpus[1].pci_bus_id, "0000:a3:00.0");
    place_binding_free(&a);
    assert_int_equal(b.pus[1], 1);
    place_binding_free(&b);
    /* Out of memory: nothing leaks, the copy is empty. */
    make(&a);
    for (long n = 0; n < 5; n++) {
        fx_heap_fail_after(n);
        int rv = place_binding_copy(&a, &b);
        fx_heap_fail_after(-1);
        assert_int_equal(rv, CL_ENOMEM);
        assert_null(b.node_id);
    }
    place_binding_free(&a);
}

static void test_visible_devices(void **state)
{
    (void)state;
    place_binding b;
    make(&b);
    cl_buf s = CL_BUF_INIT;
    place_binding_visible_devices(&b, PLACE_VENDOR_AMD, &s);
    assert_string_equal(s.data, "2,7");
    cl_buf_reset(&s);
    place_binding_visible_devices(&b, PLACE_VENDOR_NVIDIA, &s);
    assert_string_equal(s.data, "0");
    cl_buf_reset(&s);
    place_binding_visible_devices(&b, PLACE_VENDOR_OTHER, &s);
    assert_int_equal(s.len, 0);
    cl_buf_free(&s);
    place_binding_free(&b);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_init_free),
        T(test_copy),
        T(test_visible_devices),
    };
    return cmocka_run_group_tests_name("placement/binding", tests, NULL, NULL);
}
