/* job_policy.c - the app_job_policy table (see job_policy.h). */
#include "store/job_policy.h"

#include <string.h>

#include "store/rows.h"

int sd_store_job_policy_get(sd_db *db, int64_t app, sd_job_policy_row *out, dp_err *err)
{
    sd_res r;
    memset(out, 0, sizeof *out);
    int rc = sd_q(db, &r, err, "SELECT recipients, nice, ionice, limit_rate FROM app_job_policy WHERE app_id = ?", "i",
                  app);
    if (rc)
        return rc;
    if (r.rows) {
        sd_cell_copy(out->recipients, sizeof out->recipients, sd_get(&r, 0, 0));
        out->has_nice = sd_get(&r, 0, 1) != NULL;
        out->nice = sd_geti(&r, 0, 1);
        sd_cell_copy(out->ionice, sizeof out->ionice, sd_get(&r, 0, 2));
        out->limit_rate = sd_geti(&r, 0, 3);
    }
    sd_res_free(&r);
    return 0;
}

int sd_store_job_policy_put(sd_db *db, int64_t app, const sd_job_policy_row *row, dp_err *err)
{
    char nice[8];
    snprintf(nice, sizeof nice, "%d", (int)row->nice);
    return sd_q(db, NULL, err,
                "INSERT INTO app_job_policy (app_id, recipients, nice, ionice, limit_rate) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (app_id) DO UPDATE SET recipients = excluded.recipients, nice = excluded.nice,"
                " ionice = excluded.ionice, limit_rate = excluded.limit_rate",
                "isssi", app, row->recipients, row->has_nice ? nice : NULL, row->ionice, row->limit_rate);
}
