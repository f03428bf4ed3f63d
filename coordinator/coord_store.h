/* coord_store.h - the coordinator's durable state over RocksDB.
 *
 * The only coordinator file that includes rocksdb/c.h. Keys are text:
 *   w/<name>                               WorkflowRecord
 *   e/<uid>/<seq:016x>                     EngineEvent, in apply order
 *   a/<uid>.<node id>.<seq>                AttemptRecord
 *   l/<uid>/<node id>.<seq>/<offset:016x>  a chunk of a step's log
 *   m/<cache>/<key>                        MemoRecord (Argo memoize)
 * The WAL is on. Writes that accept work (a submit) are synced; the others
 * are batched per event and reach the WAL at once, which survives a kill -9
 * of the process (the OS holds the pages); `sync_all` makes every write
 * survive a power loss as well, at a cost in latency.
 */
#ifndef COULER_COORD_STORE_H
#define COULER_COORD_STORE_H

#include "common/cl_err.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct coord_store coord_store;
typedef struct coord_batch coord_batch;

int coord_store_open(const char *dir, coord_store **out, cl_errmsg *err);
void coord_store_close(coord_store *s);

/* coord_store_get - *val is cl_malloc'd (NUL-terminated beyond vlen);
 * CL_ENOENT when absent. */
int coord_store_get(coord_store *s, const char *key, char **val, size_t *vlen,
                    cl_errmsg *err);

/* coord_store_scan - visit keys >= `from` (or >= prefix when from is NULL)
 * that start with `prefix`, in order; cb returns non-zero to stop. The
 * buffers are borrowed for the duration of the callback. */
typedef int (*coord_scan_cb)(void *data, const char *key, size_t klen,
                             const char *val, size_t vlen);
int coord_store_scan(coord_store *s, const char *prefix, const char *from,
                     coord_scan_cb cb, void *data, cl_errmsg *err);

coord_batch *coord_batch_new(void);
void coord_batch_free(coord_batch *b);
void coord_batch_put(coord_batch *b, const char *key, const void *val,
                     size_t vlen);
void coord_batch_del(coord_batch *b, const char *key);
/* Delete every key starting with prefix. */
void coord_batch_del_prefix(coord_batch *b, const char *prefix);
size_t coord_batch_count(const coord_batch *b);

/* coord_store_write - apply atomically; CL_ENOSPC, CL_EPERM or CL_EDB with
 * the reason in err. A write that would leave less than the reserve free on
 * the store's file system (32 MiB, or a quarter of a smaller one: room for
 * a memtable flush) is refused before it reaches RocksDB: a WAL append
 * that fails for want of space leaves RocksDB refusing every later write
 * until the process restarts, while a refusal here ends as soon as space
 * is freed. */
int coord_store_write(coord_store *s, coord_batch *b, bool sync,
                      cl_errmsg *err);

#endif
