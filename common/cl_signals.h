/* cl_signals.h - a daemon's signals, handled on its libuv loop.
 *
 * SIGTERM and SIGINT stop the daemon: `on_stop` runs on the first one only
 * (later ones are logged and ignored while it shuts down). SIGHUP runs
 * `on_reload` (until a stop began). Close the handles with cl_signals_close
 * once the daemon has stopped, so that the loop can end. */
#ifndef COULER_CL_SIGNALS_H
#define COULER_CL_SIGNALS_H

#include <stdbool.h>
#include <uv.h>

typedef struct cl_signals {
    uv_signal_t term, intr, hup;
    void (*on_stop)(void *data, int sig);
    void (*on_reload)(void *data);
    void *data;
    bool stopping;
} cl_signals;

/* cl_signals_start - install the handlers; 0 or a CL_E* code (close the
 * handles with cl_signals_close either way). */
int cl_signals_start(cl_signals *s, uv_loop_t *loop,
                     void (*on_stop)(void *data, int sig),
                     void (*on_reload)(void *data), void *data);

void cl_signals_close(cl_signals *s);

#endif
