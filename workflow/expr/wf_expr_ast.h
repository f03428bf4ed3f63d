/* wf_expr_ast.h - the syntax tree of an expr-lang expression (private).
 *
 * wf_expr__parse builds the tree in an arena; every node, string and
 * constant belongs to the arena and goes away with wf_expr__arena_free.
 * Trees are read-only during evaluation, so one parsed tree can be
 * evaluated many times and from several threads at once.
 */
#ifndef COULER_WF_EXPR_AST_H
#define COULER_WF_EXPR_AST_H

#include "workflow/expr/wf_expr_int.h"

enum wf_expr__kind {
    WF_EXPR__N_CONST,   /* literal: val */
    WF_EXPR__N_IDENT,   /* variable: s/slen */
    WF_EXPR__N_POINTER, /* # (slen 0), #index, #acc inside closures */
    WF_EXPR__N_ARRAY,   /* [args...] */
    WF_EXPR__N_MAP,     /* {args[2i]: args[2i+1]} */
    WF_EXPR__N_MEMBER,  /* a[b], a.b; opt for ?. */
    WF_EXPR__N_SLICE,   /* a[b:c], b and c optional */
    WF_EXPR__N_CALL,    /* def(args) or cfn(args); a = receiver, if any */
    WF_EXPR__N_UNARY,   /* op a */
    WF_EXPR__N_BINARY,  /* a op b */
    WF_EXPR__N_COND,    /* a ? b : c */
    WF_EXPR__N_CLOSURE, /* { a } argument of a closure builtin */
    WF_EXPR__N_LET,     /* let s = a; b */
};

enum wf_expr__op {
    WF_EXPR__OP_NONE,
    WF_EXPR__OP_OR,
    WF_EXPR__OP_AND,
    WF_EXPR__OP_EQ,
    WF_EXPR__OP_NE,
    WF_EXPR__OP_LT,
    WF_EXPR__OP_LE,
    WF_EXPR__OP_GT,
    WF_EXPR__OP_GE,
    WF_EXPR__OP_IN,
    WF_EXPR__OP_MATCHES,
    WF_EXPR__OP_CONTAINS,
    WF_EXPR__OP_STARTS,
    WF_EXPR__OP_ENDS,
    WF_EXPR__OP_RANGE,
    WF_EXPR__OP_ADD,
    WF_EXPR__OP_SUB,
    WF_EXPR__OP_MUL,
    WF_EXPR__OP_DIV,
    WF_EXPR__OP_MOD,
    WF_EXPR__OP_POW,
    WF_EXPR__OP_COALESCE,
    WF_EXPR__OP_NOT, /* unary ! and not */
    WF_EXPR__OP_NEG, /* unary - */
    WF_EXPR__OP_POS, /* unary + */
};

/* Builtins that take a closure, evaluated by the evaluator itself. */
enum wf_expr__cfn {
    WF_EXPR__C_NONE,
    WF_EXPR__C_ALL,
    WF_EXPR__C_ANY,
    WF_EXPR__C_NONE_OF,
    WF_EXPR__C_ONE,
    WF_EXPR__C_FILTER,
    WF_EXPR__C_MAP,
    WF_EXPR__C_COUNT,
    WF_EXPR__C_SUM,
    WF_EXPR__C_FIND,
    WF_EXPR__C_FIND_INDEX,
    WF_EXPR__C_FIND_LAST,
    WF_EXPR__C_FIND_LAST_INDEX,
    WF_EXPR__C_GROUP_BY,
    WF_EXPR__C_SORT_BY,
    WF_EXPR__C_REDUCE,
};

struct wf_expr__node {
    unsigned char kind;   /* enum wf_expr__kind */
    unsigned char op;     /* enum wf_expr__op */
    unsigned char cfn;    /* enum wf_expr__cfn for calls */
    bool opt;             /* ?. member access */
    bool soft;            /* a missing key gives nil: the next link is ?. */
    bool negate;          /* not in, not matches, ... */
    bool chain_end;       /* last link of a chain holding ?. */
    int col;              /* 1-based column of the node's token */
    const char *s;        /* identifier / pointer / let name (arena) */
    size_t slen;
    json_t *val;          /* N_CONST (arena-owned reference) */
    const struct wf_expr__fndef *def; /* N_CALL of a plain function */
    wf_expr__node *a, *b, *c;
    wf_expr__node **args; /* arena array */
    size_t nargs;
};

/* wf_expr__parse - parse src (len bytes) into *root, allocated in a new
 * arena returned in *arena (free it with wf_expr__arena_free, also after a
 * failure, when *arena may be NULL). CL_EEXPR with the column, or
 * CL_ENOMEM. */
int wf_expr__parse(const char *src, size_t len, wf_expr__arena **arena,
                   wf_expr__node **root, cl_errmsg *err);
void wf_expr__arena_free(wf_expr__arena *arena);

#endif
