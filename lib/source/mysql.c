/* mysql.c - mysql source. Placeholder until the sources issue lands: recognised, refused clearly. */
#include "source/source.h"

const dp_source_driver dp_source_mysql = {
    .name = "mysql", .type = DP_DB_MYSQL, .features = 0, .resolve_format = dp_source_unsupported_format};
