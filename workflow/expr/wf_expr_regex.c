/* wf_expr_regex.c - the PCRE2 wrapper. Go's regexp (RE2) syntax is a subset
 * of what PCRE2 reads with the same meaning for the constructs workflows use
 * (classes, alternation, groups, anchors, repetition). RE2 guarantees linear
 * time; PCRE2 backtracks, so every match runs under a match limit and a
 * depth limit, and exceeding them is an expression error, never a hang.
 * PCRE2 memory comes from its default allocator and is released here. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "workflow/expr/wf_expr_int.h"

#include "common/cl_heap.h"

#include <pcre2.h>
#include <stdint.h>
#include <string.h>

/* PCRE2 allocates through cl_heap, so fault-injection tests reach its
 * out-of-memory paths too. */
static void *re_malloc(PCRE2_SIZE n, void *data)
{
    (void)data;
    return cl_malloc(n);
}

static void re_free(void *p, void *data)
{
    (void)data;
    cl_free(p);
}

struct wf_expr__re {
    pcre2_code *code;
    pcre2_match_data *md;
    pcre2_match_context *mc;
};

void wf_expr__re_free(wf_expr__re *re)
{
    if (re == NULL)
        return;
    pcre2_match_data_free(re->md);
    pcre2_match_context_free(re->mc);
    pcre2_code_free(re->code);
    cl_free(re);
}

int wf_expr__re_compile(const char *pat, size_t plen, wf_expr__re **out,
                        cl_errmsg *err)
{
    *out = NULL;
    if (plen > 65536)
        return wf_expr__fail(err, CL_EEXPR, 0, "regular expression too long");
    wf_expr__re *re = cl_malloc(sizeof(*re));
    if (re == NULL)
        return wf_expr__fail(err, CL_ENOMEM, 0, "out of memory");
    memset(re, 0, sizeof(*re));
    int ecode = PCRE2_ERROR_NOMEMORY;
    PCRE2_SIZE eoff = 0;
    /* Every PCRE2 object copies the memory functions of the context it was
     * made from, so the contexts used for creation are freed right away. */
    pcre2_general_context *gc =
        pcre2_general_context_create(re_malloc, re_free, NULL);
    pcre2_compile_context *cc = gc ? pcre2_compile_context_create(gc) : NULL;
    /* PCRE2_UTF checks the pattern; subjects are checked per match (an
     * invalid subject simply does not match, as in Go). */
    if (cc != NULL)
        re->code = pcre2_compile((PCRE2_SPTR)pat, plen, PCRE2_UTF, &ecode,
                                 &eoff, cc);
    pcre2_compile_context_free(cc);
    if (re->code != NULL) {
        re->md = pcre2_match_data_create_from_pattern(re->code, gc);
        re->mc = pcre2_match_context_create(gc);
    }
    pcre2_general_context_free(gc);
    if (re->code == NULL) {
        char msg[160];
        pcre2_get_error_message(ecode, (PCRE2_UCHAR *)msg, sizeof(msg));
        wf_expr__re_free(re);
        if (ecode == PCRE2_ERROR_HEAP_FAILED || ecode == PCRE2_ERROR_NOMEMORY)
            return wf_expr__fail(err, CL_ENOMEM, 0, "out of memory");
        return wf_expr__fail(err, CL_EEXPR, 0,
                             "invalid regular expression at offset %zu: %s",
                             (size_t)eoff, msg);
    }
    if (re->md == NULL || re->mc == NULL) {
        wf_expr__re_free(re);
        return wf_expr__fail(err, CL_ENOMEM, 0, "out of memory");
    }
    pcre2_set_match_limit(re->mc, WF_EXPR__MAX_REGEX_MATCH);
    pcre2_set_depth_limit(re->mc, 10000);
    pcre2_set_heap_limit(re->mc, 64 * 1024); /* KiB */
    *out = re;
    return 0;
}

int wf_expr__re_exec(wf_expr__re *re, const char *s, size_t len, size_t start,
                     bool *found, size_t *ovec, size_t nov, cl_errmsg *err)
{
    *found = false;
    if (start > len)
        return 0;
    int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, start, 0, re->md,
                         re->mc);
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
        rc == PCRE2_ERROR_HEAPLIMIT)
        return wf_expr__fail(err, CL_EEXPR, 0,
                             "regular expression exceeds its match limit");
    if (rc == PCRE2_ERROR_NOMEMORY)
        return wf_expr__fail(err, CL_ENOMEM, 0, "out of memory");
    if (rc < 0) {
        /* Invalid UTF-8 in the subject and similar: no match. */
        if (rc <= PCRE2_ERROR_UTF8_ERR1 && rc >= PCRE2_ERROR_UTF8_ERR21)
            return 0;
        char msg[160];
        pcre2_get_error_message(rc, (PCRE2_UCHAR *)msg, sizeof(msg));
        return wf_expr__fail(err, CL_EEXPR, 0, "regular expression: %s", msg);
    }
    PCRE2_SIZE *v = pcre2_get_ovector_pointer(re->md);
    uint32_t n = pcre2_get_ovector_count(re->md);
    for (size_t i = 0; i < nov; i++) {
        if (i < n && v[2 * i] != PCRE2_UNSET) {
            ovec[2 * i] = v[2 * i];
            ovec[2 * i + 1] = v[2 * i + 1];
        } else {
            ovec[2 * i] = ovec[2 * i + 1] = SIZE_MAX;
        }
    }
    *found = true;
    return 0;
}

int wf_expr__re_match(const char *pat, size_t plen, const char *s, size_t len,
                      bool *out, cl_errmsg *err)
{
    wf_expr__re *re;
    int rv = wf_expr__re_compile(pat, plen, &re, err);
    if (rv != 0)
        return rv;
    size_t ov[2];
    rv = wf_expr__re_exec(re, s, len, 0, out, ov, 1, err);
    wf_expr__re_free(re);
    return rv;
}
