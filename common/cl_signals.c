#include "common/cl_signals.h"

#include "common/cl_err.h"
#include "common/cl_log.h"

#include <signal.h>
#include <string.h>

static void on_stop_signal(uv_signal_t *h, int sig)
{
    cl_signals *s = h->data;
    if (s->stopping) {
        CL_INFO("signal %d: already stopping", sig);
        return;
    }
    CL_INFO("signal %d: stopping", sig);
    s->stopping = true;
    s->on_stop(s->data, sig);
}

static void on_hup(uv_signal_t *h, int sig)
{
    (void)sig;
    cl_signals *s = h->data;
    if (!s->stopping && s->on_reload != NULL)
        s->on_reload(s->data);
}

int cl_signals_start(cl_signals *s, uv_loop_t *loop,
                     void (*on_stop)(void *data, int sig),
                     void (*on_reload)(void *data), void *data)
{
    memset(s, 0, sizeof(*s));
    s->on_stop = on_stop;
    s->on_reload = on_reload;
    s->data = data;
    uv_signal_t *hs[3] = {&s->term, &s->intr, &s->hup};
    int sigs[3] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(loop, hs[i]); /* cannot fail on Linux */
        hs[i]->data = s;
    }
    for (int i = 0; i < 3; i++) {
        int rv = uv_signal_start(hs[i], i < 2 ? on_stop_signal : on_hup,
                                 sigs[i]);
        if (rv != 0)
            return cl_err_from_errno(-rv);
    }
    return 0;
}

void cl_signals_close(cl_signals *s)
{
    uv_signal_t *hs[3] = {&s->term, &s->intr, &s->hup};
    for (int i = 0; i < 3; i++)
        if (!uv_is_closing((uv_handle_t *)hs[i]))
            uv_close((uv_handle_t *)hs[i], NULL);
}
