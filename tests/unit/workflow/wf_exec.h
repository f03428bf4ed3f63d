/* wf_exec.h - a fake executor policy that runs steps for real with /bin/sh,
 * each in its own directory standing for "/" (absolute paths under /tmp and
 * the declared artifact and parameter paths are remapped into it), with
 * `sleep` replaced by a shim that adds virtual time instead of waiting.
 * Output parameters are read from files, artifacts are copied into a
 * content store keyed by digest and staged again for consumers.
 */
#ifndef COULER_TEST_WF_EXEC_H
#define COULER_TEST_WF_EXEC_H

#include "wf_fake.h"

typedef struct wf_exec {
    char root[512];   /* scratch directory of this executor */
    char bin[600];    /* shims: sleep, cowsay, argosay, python */
    bool has_python;
    bool has_jq;
    unsigned seq;     /* step directories */
    char *labels;     /* agent labels "k=v,k=v" for nodeSelector */
} wf_exec;

int wf_exec_init(wf_exec *x);  /* 0, or -1 when no scratch dir */
void wf_exec_free(wf_exec *x); /* removes the scratch directory */
void wf_exec_policy(void *ud, const wf_task *t, fake_outcome *o);

#endif
