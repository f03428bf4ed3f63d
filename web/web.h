/* web.h - the dashboard's static files (prefix web_), embedded in
 * couler-coord at build time.
 *
 * web/CMakeLists.txt turns every dashboard file in web/ (*.html, *.css,
 * *.js, *.svg, *.png, *.ico) into a byte array in a generated C source,
 * with the content type its extension names. The coordinator's HTTP server
 * (coordinator/coord_http.c) serves them from memory: the daemon needs no
 * files on disk and works with no internet.
 */
#ifndef COULER_WEB_H
#define COULER_WEB_H

#include <stddef.h>

typedef struct web_asset {
    const char *path;          /* as served: "/index.html" */
    const char *type;          /* Content-Type */
    const unsigned char *data; /* static, never freed */
    size_t len;
} web_asset;

/* web_find - the file served at path ("/app.js"), or NULL. */
const web_asset *web_find(const char *path);

/* The generated table (web_assets.c in the build tree). */
extern const web_asset web_assets[];
extern const size_t web_nassets;

#endif
