/* Unit tests for placement/queue.c: priority-then-age order, removal,
 * and draining with backfill inside a priority, strict priority across
 * priorities, and refusals of items that can never run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/cl_heap.h"
#include "placement/place.h"
#include "tests/unit/placement/fixture.h"

#include <stdio.h>
#include <string.h>

static void test_order(void **state)
{
    (void)state;
    place_queue *q = NULL;
    assert_int_equal(place_queue_new(&q), 0);
    place_request r;
    fx_req(&r, "1", NULL, NULL, NULL);
    /* id, priority, time */
    static const int items[][3] = {{1, 0, 50}, {2, 5, 90}, {3, 0, 10},
                                   {4, 5, 20}, {5, 0, 10}, {6, -1, 0}};
    for (int i = 0; i < 6; i++)
        assert_int_equal(place_queue_push(q, (uint64_t)items[i][0],
                                          items[i][1], items[i][2], &r, NULL),
                         0);
    static const uint64_t want[] = {4, 2, 3, 5, 1, 6};
    for (size_t i = 0; i < 6; i++) {
        uint64_t id;
        assert_true(place_queue_at(q, i, &id, NULL, NULL));
        assert_int_equal(id, want[i]);
    }
    assert_false(place_queue_at(q, 6, NULL, NULL, NULL));
    assert_int_equal(place_queue_push(q, 4, 0, 0, &r, NULL), CL_EEXIST);
    assert_int_equal(place_queue_push(q, 0, 0, 0, &r, NULL), CL_EINVAL);
    int data = 7;
    void *got = NULL;
    assert_int_equal(place_queue_push(q, 9, 5, 20, &r, &data), 0);
    assert_int_equal(place_queue_remove(q, 9, &got), 0);
    assert_ptr_equal(got, &data);
    assert_int_equal(place_queue_remove(q, 9, NULL), CL_ENOENT);
    assert_int_equal(place_queue_remove(q, 3, NULL), 0);
    uint64_t id;
    assert_true(place_queue_at(q, 2, &id, NULL, NULL));
    assert_int_equal(id, 5);
    assert_int_equal(place_queue_len(q), 5);
    place_queue_free(q);
}

struct seen {
    uint64_t ids[32];
    int status[32];
    char why[32][128];
    int n;
    place_cluster *c;
};

static void on_settled(void *ctx, uint64_t id, void *data, int status,
                       place_binding *b, const char *why)
{
    (void)data;
    struct seen *s = ctx;
    s->ids[s->n] = id;
    s->status[s->n] = status;
    snprintf(s->why[s->n], sizeof(s->why[0]), "%s", why ? why : "");
    s->n++;
    if (b != NULL)
        place_binding_free(b); /* the step keeps running: id stays */
}

static void test_drain_backfill_and_priority(void **state)
{
    (void)state;
    place_cluster *c = fx_cluster(FX_G4DN, "g", 1);
    place_queue *q = NULL;
    assert_int_equal(place_queue_new(&q), 0);
    place_request four, eight, one;
    fx_req(&four, "4", NULL, "nvidia.com/gpu", "4");
    fx_req(&eight, "4", NULL, "nvidia.com/gpu", "8");
    fx_req(&one, "1", NULL, "nvidia.com/gpu", "1");
    place_binding running;
    assert_int_equal(place_cluster_place(c, &four, NULL, &running, NULL), 0);
    /* Equal priority: the 8-GPU item is older but cannot start; the small
     * ones behind it backfill. */
    assert_int_equal(place_queue_push(q, 1, 0, 100, &eight, NULL), 0);
    assert_int_equal(place_queue_push(q, 2, 0, 200, &one, NULL), 0);
    assert_int_equal(place_queue_push(q, 3, 0, 300, &one, NULL), 0);
    struct seen s;
    memset(&s, 0, sizeof(s));
    size_t placed = 0;
    assert_int_equal(place_queue_drain(q, c, NULL, on_settled, &s, &placed),
                     0);
    assert_int_equal(placed, 2);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.ids[0], 2);
    assert_int_equal(s.ids[1], 3);
    assert_int_equal(place_queue_len(q), 1);

    /* A higher-priority item that waits blocks lower priorities. */
    assert_int_equal(place_queue_push(q, 4, 9, 400, &eight, NULL), 0);
    assert_int_equal(place_queue_push(q, 5, 1, 500, &one, NULL), 0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(place_queue_drain(q, c, NULL, on_settled, &s, &placed),
                     0);
    assert_int_equal(placed, 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(place_queue_len(q), 3);

    /* Resources free up: the priority-9 item runs first. */
    place_cluster_stats st;
    place_cluster_stats_get(c, &st);
    for (uint64_t id = 1; id <= 3; id++)
        place_cluster_release(c, id);
    memset(&s, 0, sizeof(s));
    assert_int_equal(place_queue_drain(q, c, NULL, on_settled, &s, &placed),
                     0);
    assert_int_equal(placed, 1);
    assert_int_equal(s.ids[0], 4);
    assert_int_equal(place_queue_len(q), 2);
    place_binding_free(&running);
    place_queue_free(q);
    place_cluster_free(c);
}

static void test_drain_refuses_never_fits(void **state)
{
    (void)state;
    place_cluster *c = NULL;
    assert_int_equal(place_cluster_new(NULL, &c), 0);
    fx_cluster_add(c, FX_G4DN, "g", NULL, 0);
    fx_cluster_add(c, FX_QUARTZ, "q", NULL, 0);
    place_queue *q = NULL;
    assert_int_equal(place_queue_new(&q), 0);
    place_request gpu;
    fx_req(&gpu, "1", NULL, "nvidia.com/gpu", "2");
    /* The request copy is deep: the caller's selector may go away. */
    char name[8] = "gpu", value[8] = "t4";
    place_kv sel[1] = {{name, value}};
    gpu.selector = sel;
    gpu.nselector = 1;
    assert_int_equal(place_queue_push(q, 1, 0, 0, &gpu, NULL), 0);
    strcpy(value, "xx");
    gpu.nselector = 0;
    assert_int_equal(place_queue_push(q, 2, 0, 1, &gpu, NULL), 0);
    /* The GPU node leaves: the plain GPU item can now never run. */
    assert_int_equal(place_cluster_remove_node(c, "g"), 0);
    struct seen s;
    memset(&s, 0, sizeof(s));
    size_t placed;
    assert_int_equal(place_queue_drain(q, c, NULL, on_settled, &s, &placed),
                     0);
    assert_int_equal(placed, 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.ids[0], 1);
    assert_int_equal(s.status[0], CL_ENOFIT);
    assert_non_null(strstr(s.why[0], "nodeSelector"));
    assert_int_equal(s.status[1], CL_ENOFIT);
    assert_non_null(strstr(s.why[1], "needs 2 nvidia GPUs"));
    assert_int_equal(place_queue_len(q), 0);
    place_queue_free(q);
    place_cluster_free(c);
}

/* Many waiting items of one shape cost one decision per drain pass. */
static void test_drain_many_waiting(void **state)
{
    (void)state;
    place_cluster *c = fx_cluster(FX_QUARTZ, "q", 4);
    place_queue *q = NULL;
    assert_int_equal(place_queue_new(&q), 0);
    place_request r;
    fx_req(&r, "18", NULL, NULL, NULL);
    for (uint64_t id = 1; id <= 500; id++)
        assert_int_equal(place_queue_push(q, id, 0, (int64_t)id, &r, NULL),
                         0);
    struct seen s;
    size_t placed = 0, total = 0;
    for (int round = 0; round < 3; round++) {
        memset(&s, 0, sizeof(s));
        assert_int_equal(place_queue_drain(q, c, NULL, on_settled, &s,
                                           &placed),
                         0);
        total += placed;
    }
    assert_int_equal(total, 8); /* 4 nodes x 2 NUMA-sized items */
    assert_int_equal(place_queue_len(q), 492);
    uint64_t first;
    assert_true(place_queue_at(q, 0, &first, NULL, NULL));
    assert_int_equal(first, 9); /* oldest first */
    place_queue_free(q);
    place_cluster_free(c);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_order),
        T(test_drain_backfill_and_priority),
        T(test_drain_refuses_never_fits),
        T(test_drain_many_waiting),
    };
    return cmocka_run_group_tests_name("placement/queue", tests, NULL, NULL);
}
