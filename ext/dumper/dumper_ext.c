/*
 * dumper_ext.c - the Ruby gem's C glue over libdumper's embedded agent (include/dumper.h).
 *
 * Dumper::Native.start(hash) copies the options (strings and the database list) into C structs and
 * calls dumper_agent_start(), which copies them again and returns without network I/O; the agent
 * thread never touches the Ruby VM. Dumper::Native.stop releases the GVL (it may wait ~1 s for the
 * thread). Fork safety is the agent's own (pthread_atfork in libdumper): in a forked child
 * Dumper::Native.status reports running: false and a new start is allowed.
 */
#include <ruby.h>
#include <ruby/thread.h>
#include <string.h>

#include "dumper.h"

#define MAX_DBS 64

static VALUE sym(const char *s) { return ID2SYM(rb_intern(s)); }

/* String option from a Hash with symbol keys; NULL when absent or nil. The Ruby string is kept
 * alive by the hash for the duration of the call. */
static const char *opt_str(VALUE h, const char *key)
{
    VALUE v = rb_hash_aref(h, sym(key));
    if (NIL_P(v)) return NULL;
    if (!RB_TYPE_P(v, T_STRING)) rb_raise(rb_eTypeError, "dumper: option %s must be a String", key);
    return StringValueCStr(v);
}

static int opt_bool(VALUE h, const char *key)
{
    VALUE v = rb_hash_aref(h, sym(key));
    return RTEST(v) ? 1 : 0;
}

/* Dumper::Native.start(opts) -> Integer (a DUMPER_* code; 0 = started) */
static VALUE native_start(VALUE self, VALUE h)
{
    Check_Type(h, T_HASH);
    dumper_agent_opts o = DUMPER_AGENT_OPTS_INIT;
    dumper_database dbs[MAX_DBS];
    memset(dbs, 0, sizeof dbs);
    o.app_key = opt_str(h, "app_key");
    o.api_base = opt_str(h, "api_base");
    o.environment = opt_str(h, "environment");
    o.app_name = opt_str(h, "app_name");
    o.framework = opt_str(h, "framework");
    o.dispatcher = opt_str(h, "dispatcher");
    o.dumper_path = opt_str(h, "dumper_path");
    o.log_file = opt_str(h, "log_file");
    o.ca_file = opt_str(h, "ca_file");
    o.proxy = opt_str(h, "proxy");
    o.hostname = opt_str(h, "hostname");
    o.debug = opt_bool(h, "debug");
    o.tls_insecure = opt_bool(h, "tls_insecure");
    VALUE nice = rb_hash_aref(h, sym("job_nice")); /* an Integer; -1: the host's own (Dumper::Agent maps :keep) */
    if (!NIL_P(nice)) {
        if (!RB_INTEGER_TYPE_P(nice)) rb_raise(rb_eTypeError, "dumper: option job_nice must be an Integer or :keep");
        o.job_nice = NUM2INT(nice);
    }
    o.job_ionice = opt_str(h, "job_ionice");
    o.drill_scratch = opt_str(h, "drill_scratch");
    o.drill_scratch_password = opt_str(h, "drill_scratch_password");
    const char *ids[DUMPER_DRILL_IDENTITIES_MAX];
    VALUE idl = rb_hash_aref(h, sym("drill_identities"));
    if (!NIL_P(idl)) {
        Check_Type(idl, T_ARRAY);
        long len = RARRAY_LEN(idl);
        if (len > DUMPER_DRILL_IDENTITIES_MAX)
            rb_raise(rb_eArgError, "dumper: at most %d drill identity files", DUMPER_DRILL_IDENTITIES_MAX);
        for (long i = 0; i < len; i++) {
            VALUE v = rb_ary_entry(idl, i);
            if (!RB_TYPE_P(v, T_STRING)) rb_raise(rb_eTypeError, "dumper: a drill identity must be a String path");
            ids[i] = StringValueCStr(v);
        }
        o.drill_identities = ids;
        o.ndrill_identities = (size_t)len;
    }

    VALUE list = rb_hash_aref(h, sym("databases"));
    size_t n = 0;
    if (!NIL_P(list)) {
        Check_Type(list, T_ARRAY);
        long len = RARRAY_LEN(list);
        if (len > MAX_DBS) rb_raise(rb_eArgError, "dumper: at most %d databases", MAX_DBS);
        for (long i = 0; i < len; i++) {
            VALUE d = rb_ary_entry(list, i);
            Check_Type(d, T_HASH);
            dbs[n].url = opt_str(d, "url");
            if (!dbs[n].url) rb_raise(rb_eArgError, "dumper: database %ld has no url", i);
            dbs[n].key = opt_str(d, "key");
            dbs[n].format = opt_str(d, "format");
            dbs[n].custom_options = opt_str(d, "custom_options");
            n++;
        }
    }
    o.databases = n ? dbs : NULL;
    o.ndatabases = n;
    int rc = dumper_agent_start(&o);
    RB_GC_GUARD(h);
    RB_GC_GUARD(list);
    return INT2NUM(rc);
}

static void *stop_nogvl(void *arg)
{
    *(int *)arg = dumper_agent_stop();
    return NULL;
}

/* Dumper::Native.stop -> Integer (0 = stopped, DUMPER_ENOENT = no agent in this process) */
static VALUE native_stop(VALUE self)
{
    int rc = 0;
    rb_thread_call_without_gvl(stop_nogvl, &rc, RUBY_UBF_IO, NULL);
    return INT2NUM(rc);
}

/* Dumper::Native.status -> Hash */
static VALUE native_status(VALUE self)
{
    dumper_agent_status st;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    dumper_agent_status_get(&st);
    VALUE h = rb_hash_new();
    rb_hash_aset(h, sym("running"), st.running ? Qtrue : Qfalse);
    rb_hash_aset(h, sym("role"), rb_str_new_cstr(dumper_agent_role_name(st.role)));
    rb_hash_aset(h, sym("agent_id"), rb_str_new_cstr(st.agent_id));
    rb_hash_aset(h, sym("last_error"), INT2NUM(st.last_error));
    rb_hash_aset(h, sym("disabled"), st.disabled ? Qtrue : Qfalse);
    return h;
}

/* Dumper::Native.strerror(code) -> String */
static VALUE native_strerror(VALUE self, VALUE code)
{
    return rb_str_new_cstr(dumper_strerror(NUM2INT(code)));
}

static VALUE native_version(VALUE self) { return rb_str_new_cstr(dumper_version()); }

RUBY_FUNC_EXPORTED void Init_dumper_ext(void)
{
    VALUE mDumper = rb_define_module("Dumper");
    VALUE mNative = rb_define_module_under(mDumper, "Native");
    rb_define_module_function(mNative, "start", native_start, 1);
    rb_define_module_function(mNative, "stop", native_stop, 0);
    rb_define_module_function(mNative, "status", native_status, 0);
    rb_define_module_function(mNative, "strerror", native_strerror, 1);
    rb_define_module_function(mNative, "version", native_version, 0);
    rb_define_const(mNative, "OK", INT2NUM(DUMPER_OK));
    rb_define_const(mNative, "EBUSY", INT2NUM(DUMPER_EBUSY));
    rb_define_const(mNative, "ENOENT", INT2NUM(DUMPER_ENOENT));
}
