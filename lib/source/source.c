/* source.c - the source driver registry. */
#include "source/source.h"

#include <stddef.h>
#include <string.h>

static const dp_source_driver *const drivers[DP_DB__COUNT] = {
    [DP_DB_SQLITE] = &dp_source_sqlite,  [DP_DB_POSTGRES] = &dp_source_postgres, [DP_DB_MYSQL] = &dp_source_mysql,
    [DP_DB_REDIS] = &dp_source_redis,    [DP_DB_MONGODB] = &dp_source_mongodb,
};

int dp_source_driver_valid(const dp_source_driver *d)
{
    if (!d || !d->name || !d->resolve_format)
        return 0;
    if ((d->features & DP_SOURCE_FEAT_BACKUP) && !d->backup)
        return 0;
    if ((d->features & DP_SOURCE_FEAT_RESTORE) && (!d->restore || !d->restore_formats || !d->restore_formats[0]))
        return 0;
    return 1;
}

const dp_source_driver *dp_source_for(dp_db_type type)
{
    if ((unsigned)type >= DP_DB__COUNT)
        return NULL;
    const dp_source_driver *d = drivers[type];
    return dp_source_driver_valid(d) ? d : NULL;
}

int dp_source_restores(const dp_source_driver *d, const char *format)
{
    if (!d || !format || !(d->features & DP_SOURCE_FEAT_RESTORE))
        return 0;
    for (const char *const *f = d->restore_formats; *f; f++)
        if (!strcmp(*f, format))
            return 1;
    return 0;
}

int dp_source_known_format(const char *format)
{
    for (int t = 0; t < DP_DB__COUNT; t++)
        if (dp_source_restores(dp_source_for((dp_db_type)t), format))
            return 1;
    return 0;
}
