/* wf_lint.c - `argo lint`, offline: parse files without running them. */
#include "workflow/wf_int.h"

#include "common/cl_heap.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define WF__LINT_MAX (64u << 20) /* a workflow file above 64 MiB is refused */

static int wf__read_file(const char *path, char **out, size_t *len,
                         cl_errmsg *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        cl_errmsg_set(err, "%s: %s", path, strerror(errno));
        return CL_EIO;
    }
    cl_buf b = CL_BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        cl_buf_append(&b, chunk, n);
        if (b.len > WF__LINT_MAX) {
            fclose(f);
            cl_buf_free(&b);
            cl_errmsg_set(err, "%s: file too large", path);
            return CL_ETOOBIG;
        }
    }
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad) {
        cl_buf_free(&b);
        cl_errmsg_set(err, "%s: read error", path);
        return CL_EIO;
    }
    if (!cl_buf_ok(&b)) {
        cl_buf_free(&b);
        cl_errmsg_set(err, "%s: out of memory", path);
        return CL_ENOMEM;
    }
    *out = cl_buf_steal(&b, len);
    return *out ? 0 : CL_ENOMEM;
}

static void wf__lint_add_err(wf_diag *diag, const char *msg)
{
    size_t have = strlen(diag->err.msg);
    if (have == 0) {
        cl_errmsg_set(&diag->err, "%s", msg);
        return;
    }
    if (have + 2 < sizeof(diag->err.msg))
        snprintf(diag->err.msg + have, sizeof(diag->err.msg) - have, "\n%s",
                 msg);
}

static int wf__lint_file(const char *path, wf_diag *diag)
{
    cl_errmsg em;
    cl_errmsg_clear(&em);
    char *text = NULL;
    size_t len = 0;
    int rv = wf__read_file(path, &text, &len, &em);
    if (rv != 0) {
        wf__lint_add_err(diag, em.msg);
        return rv;
    }
    wf_diag d;
    wf_diag_init(&d);
    wf_spec *s = NULL;
    rv = wf_parse(text, len, path, &s, &d);
    cl_free(text);
    if (rv != 0)
        wf__lint_add_err(diag, d.err.msg);
    /* move the warnings over */
    if (d.nwarnings > 0) {
        char **w = cl_realloc(diag->warnings,
                              (diag->nwarnings + d.nwarnings) * sizeof(char *));
        if (w != NULL) {
            diag->warnings = w;
            for (size_t i = 0; i < d.nwarnings; i++) {
                w[diag->nwarnings++] = d.warnings[i];
                d.warnings[i] = NULL;
            }
        }
    }
    wf_diag_free(&d);
    wf_spec_free(s);
    return rv;
}

static int wf__cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int wf_lint_path(const char *path, wf_diag *diag)
{
    struct stat st;
    if (path == NULL || stat(path, &st) != 0) {
        cl_errmsg_set(&diag->err, "%s: %s", path ? path : "(null)",
                      path ? strerror(errno) : "no path");
        return CL_EIO;
    }
    if (!S_ISDIR(st.st_mode))
        return wf__lint_file(path, diag);
    DIR *d = opendir(path);
    if (d == NULL) {
        cl_errmsg_set(&diag->err, "%s: %s", path, strerror(errno));
        return CL_EIO;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int rv = 0;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        bool yaml = (l > 5 && !strcmp(de->d_name + l - 5, ".yaml")) ||
                    (l > 4 && !strcmp(de->d_name + l - 4, ".yml"));
        if (!yaml)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **v = cl_realloc(names, cap * sizeof(char *));
            if (v == NULL) {
                rv = CL_ENOMEM;
                break;
            }
            names = v;
        }
        size_t pl = strlen(path) + l + 2;
        names[n] = cl_malloc(pl);
        if (names[n] == NULL) {
            rv = CL_ENOMEM;
            break;
        }
        snprintf(names[n], pl, "%s/%s", path, de->d_name);
        n++;
    }
    closedir(d);
    if (rv == 0 && n > 0)
        qsort(names, n, sizeof(char *), wf__cmp);
    int first = 0;
    for (size_t i = 0; i < n && rv == 0; i++) {
        int frv = wf__lint_file(names[i], diag);
        if (frv != 0 && first == 0)
            first = frv;
    }
    for (size_t i = 0; i < n; i++)
        cl_free(names[i]);
    cl_free(names);
    if (rv != 0) {
        cl_errmsg_set(&diag->err, "%s: out of memory", path);
        return rv;
    }
    return first;
}
