/* web.c - lookups in the embedded dashboard files (see web.h). */
#include "web/web.h"

#include <string.h>

const web_asset *web_find(const char *path)
{
    for (size_t i = 0; i < web_nassets; i++)
        if (strcmp(web_assets[i].path, path) == 0)
            return &web_assets[i];
    return NULL;
}
