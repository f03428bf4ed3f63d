/* test_cl_signals.c - a daemon's signals on a libuv loop: SIGHUP reloads,
 * the first SIGTERM or SIGINT stops and later ones are ignored, and the
 * loop ends once the handles are closed. */
#include "common/cl_signals.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

struct counts {
    int stops, last_sig, reloads;
};

static void on_stop(void *data, int sig)
{
    struct counts *c = data;
    c->stops++;
    c->last_sig = sig;
}

static void on_reload(void *data)
{
    struct counts *c = data;
    c->reloads++;
}

/* Signals are delivered through the loop: run it until `done` says so. */
static void run_until(uv_loop_t *loop, const int *v, int want)
{
    for (int i = 0; i < 1000 && *v < want; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    assert_int_equal(*v, want);
}

static void test_reload_then_stop_once(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    cl_signals s;
    struct counts c = {0, 0, 0};
    assert_int_equal(cl_signals_start(&s, &loop, on_stop, on_reload, &c), 0);

    raise(SIGHUP);
    run_until(&loop, &c.reloads, 1);
    assert_int_equal(c.stops, 0);

    raise(SIGTERM);
    run_until(&loop, &c.stops, 1);
    assert_int_equal(c.last_sig, SIGTERM);

    /* Stopping: another stop signal and a reload are ignored. */
    raise(SIGINT);
    raise(SIGHUP);
    for (int i = 0; i < 50; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(c.stops, 1);
    assert_int_equal(c.reloads, 1);

    cl_signals_close(&s);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_sigint_stops(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    cl_signals s;
    struct counts c = {0, 0, 0};
    assert_int_equal(cl_signals_start(&s, &loop, on_stop, NULL, &c), 0);
    raise(SIGHUP); /* no reload callback: ignored */
    raise(SIGINT);
    run_until(&loop, &c.stops, 1);
    assert_int_equal(c.last_sig, SIGINT);
    cl_signals_close(&s);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reload_then_stop_once),
        cmocka_unit_test(test_sigint_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
