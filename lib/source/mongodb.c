/* mongodb.c - mongodb source. Placeholder until the sources issue lands: recognised, refused clearly. */
#include "source/source.h"

const dp_source_driver dp_source_mongodb = {
    .name = "mongodb", .type = DP_DB_MONGODB, .features = 0, .resolve_format = dp_source_unsupported_format};
