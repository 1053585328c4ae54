/* storages.c - destinations: add, remove, list, open (see storages.h). */
#include "service/storages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "domain/names.h"

/* The credentials file: KEY=VALUE lines (blank lines and '#' comments skipped). */
static int read_credentials(const char *path, char **ak, char **sk, char **tok, dp_err *err)
{
    FILE *f = fopen(path, "re");
    char line[2048];
    if (!f)
        return dp_err_set(err, DUMPER_EAUTH, "unable to read the credentials file '%s'", path);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *eq = strchr(line, '=');
        if (!eq || line[0] == '#')
            continue;
        *eq = 0;
        char **to = !strcmp(line, "AWS_ACCESS_KEY_ID")       ? ak
                    : !strcmp(line, "AWS_SECRET_ACCESS_KEY") ? sk
                    : !strcmp(line, "AWS_SESSION_TOKEN")     ? tok
                                                             : NULL;
        if (to) {
            dp_free_secret(*to);
            *to = dp_strdup(eq + 1);
        }
    }
    fclose(f);
    dp_memzero(line, sizeof line);
    if (!*ak || !*sk)
        return dp_err_set(err, DUMPER_EAUTH,
                          "the credentials file '%s' has no AWS_ACCESS_KEY_ID=... and AWS_SECRET_ACCESS_KEY=... lines",
                          path);
    return 0;
}

int sd_storage_open_row(const sd_storage_row *row, int create, dp_storage **out, dp_err *err)
{
    dp_storage_opts o = {0};
    char *ak = NULL, *sk = NULL, *tok = NULL;
    int rc = 0;
    *out = NULL;
    o.endpoint = row->endpoint;
    o.region = row->region;
    o.path_style = (int)row->path_style;
    if (row->lock_mode) { /* S3 spells the modes in capitals */
        o.lock_mode = !strcmp(row->lock_mode, "compliance") ? "COMPLIANCE" : "GOVERNANCE";
        o.lock_days = (int)row->lock_days;
    }
    if (row->credentials_file && (rc = read_credentials(row->credentials_file, &ak, &sk, &tok, err)))
        goto done;
    o.access_key = ak;
    o.secret_key = sk;
    o.session_token = tok;
    rc = dp_storage_open(row->location, &o, create, out, err);
done:
    if (rc)
        dp_err_prefix(err, "storage '%s'", row->name);
    dp_free_secret(ak);
    dp_free_secret(sk);
    dp_free_secret(tok);
    return rc;
}

typedef struct {
    const sd_storage_spec *spec;
    sd_storage_list all;
    const char *name;
    int found;
    int64_t id;
} storage_arg;

static int add_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    storage_arg *a = a_;
    const sd_storage_spec *s = a->spec;
    sd_list_free(&a->all);
    SD_TRY(sd_store_storage_list(ctx->db, NULL, &a->all, &st->err));
    for (int i = 0; i < a->all.n; i++) {
        if (!strcmp(a->all.v[i].name, s->name))
            return sd_fail(st, SD_CONFLICT, "storage '%s' exists", s->name);
        if (!strcmp(a->all.v[i].location, s->location))
            return sd_fail(st, SD_CONFLICT, "storage '%s' has the location '%s' already", a->all.v[i].name,
                           s->location);
    }
    sd_storage_row r = {.name = s->name,
                        .location = s->location,
                        .endpoint = s->endpoint,
                        .region = s->region,
                        .path_style = s->path_style,
                        .credentials_file = s->credentials_file,
                        .retention = s->retention,
                        .lock_mode = s->lock_mode,
                        .lock_days = s->lock_days};
    return sd_store_storage_insert(ctx->db, &r, sd_ctx_now(ctx), &a->id, &st->err);
}

int sd_storage_add(sd_ctx *ctx, const sd_storage_spec *s, sd_status *st)
{
    int s3 = !strncmp(s->location, "s3://", 5);
    if (!sd_label_valid(s->name, 64))
        return sd_fail(st, SD_INVALID, "invalid storage name '%s' (1-64 of A-Z a-z 0-9 _ . -)", s->name);
    if (!s3 && s->location[0] != '/')
        return sd_fail(st, SD_INVALID, "storage location '%s' must be an absolute directory or s3://bucket/prefix",
                       s->location);
    if (!s3 && (s->endpoint || s->region || s->path_style || s->credentials_file || s->lock_mode))
        return sd_fail(st, SD_INVALID, "--endpoint, --region, --path-style, --virtual-host, --credentials-file and"
                                       " --object-lock-mode are for s3:// locations");
    if (s->lock_mode && strcmp(s->lock_mode, "governance") && strcmp(s->lock_mode, "compliance"))
        return sd_fail(st, SD_INVALID, "invalid --object-lock-mode '%s' (governance or compliance)", s->lock_mode);
    if (!s->lock_mode != !s->lock_days)
        return sd_fail(st, SD_INVALID, "--object-lock-mode and --object-lock-days go together");
    if (dp_streq(s->location, ctx->cfg->storage))
        return sd_fail(st, SD_CONFLICT, "'%s' is the first destination already (--storage)", s->location);
    /* Reachable with these credentials now, not at the first copy. */
    sd_storage_row probe = {.name = s->name,
                            .location = s->location,
                            .endpoint = s->endpoint,
                            .region = s->region,
                            .path_style = s->path_style,
                            .credentials_file = s->credentials_file};
    dp_storage *stg = NULL;
    dp_err err = {0};
    if (sd_storage_open_row(&probe, 1, &stg, &err))
        return sd_fail_code(st, SD_STORAGE_FAILED, err.code, "%s", err.msg);
    dp_storage_close(stg);
    storage_arg a = {.spec = s};
    int rc = sd_txn(ctx, SD_TXN_WRITE, add_txn, &a, st);
    sd_list_free(&a.all);
    return rc;
}

static int remove_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    storage_arg *a = a_;
    SD_TRY(sd_store_storage_delete(ctx->db, a->name, &a->found, &st->err));
    return a->found ? 0 : sd_fail(st, SD_NOT_FOUND, "unknown storage '%s'", a->name);
}

int sd_storage_remove(sd_ctx *ctx, const char *name, sd_status *st)
{
    storage_arg a = {.name = name};
    return sd_txn(ctx, SD_TXN_WRITE, remove_txn, &a, st);
}

static int list_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    storage_arg *a = a_;
    sd_list_free(&a->all);
    return sd_store_storage_list(ctx->db, NULL, &a->all, &st->err);
}

int sd_storages(sd_ctx *ctx, sd_storage_list *out, sd_status *st)
{
    storage_arg a = {0};
    int rc = sd_txn(ctx, SD_TXN_READ, list_txn, &a, st);
    *out = a.all;
    return rc;
}

typedef struct {
    int64_t app;
    int limit;
    sd_copy_list l;
} copies_arg;

static int copies_txn(sd_ctx *ctx, void *a_, sd_status *st)
{
    copies_arg *a = a_;
    sd_list_free(&a->l);
    return sd_store_copy_of_app(ctx->db, a->app, a->limit, &a->l, &st->err);
}

int sd_copies_of_app(sd_ctx *ctx, int64_t app, int limit, sd_copy_list *out, sd_status *st)
{
    copies_arg a = {.app = app, .limit = limit};
    int rc = sd_txn(ctx, SD_TXN_READ, copies_txn, &a, st);
    *out = a.l;
    return rc;
}
