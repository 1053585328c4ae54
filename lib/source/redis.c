/* redis.c - redis source. Placeholder until the sources issue lands: recognised, refused clearly. */
#include "source/source.h"

const dp_source_driver dp_source_redis = {
    .name = "redis", .type = DP_DB_REDIS, .features = 0, .resolve_format = dp_source_unsupported_format};
