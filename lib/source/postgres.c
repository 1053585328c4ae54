/* postgres.c - postgresql source. Placeholder until the sources issue lands: recognised, refused clearly. */
#include "source/source.h"

const dp_source_driver dp_source_postgres = {
    .name = "postgresql", .type = DP_DB_POSTGRES, .features = 0, .resolve_format = dp_source_unsupported_format};
