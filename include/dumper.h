/*
 * dumper.h - the public interface of libdumper.
 *
 * libdumper streams database dumps (source -> compression/checksum filters -> storage) and, in later
 * releases, runs the embedded Dumper agent. Everything here carries the dumper_ / DUMPER_ prefix; no
 * other symbol is exported from the shared library.
 *
 * Threading: every function here may be called from any thread unless its comment says otherwise.
 */
#ifndef DUMPER_H
#define DUMPER_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(DUMPER_BUILDING)
#define DUMPER_EXTERN __attribute__((visibility("default")))
#else
#define DUMPER_EXTERN
#endif

/*
 * Error codes. Stable: never renumbered, only appended. The `dumper` command exits with these
 * numbers, so they are also its documented exit codes.
 */
typedef enum dumper_code {
    DUMPER_OK = 0,
    DUMPER_EINTERNAL = 1,     /* unexpected internal error (a bug) */
    DUMPER_EUSAGE = 2,        /* invalid arguments or options */
    DUMPER_EURL = 3,          /* malformed database or storage URL */
    DUMPER_EUNSUPPORTED = 4,  /* recognised but not supported (yet) */
    DUMPER_ENOENT = 5,        /* database, backup or file not found */
    DUMPER_EEXIST = 6,        /* target exists and is not empty (use --force) */
    DUMPER_EIO = 7,           /* local read/write/fsync error */
    DUMPER_ENOSPC = 8,        /* no space left on the target */
    DUMPER_ECORRUPT = 9,      /* backup corrupt: checksum mismatch, truncated, bad compression */
    DUMPER_ESOURCE = 10,      /* the database or its dump tool failed */
    DUMPER_EAUTH = 11,        /* authentication refused (database, storage or control plane) */
    DUMPER_ECONNECT = 12,     /* could not connect */
    DUMPER_ESTORAGE = 13,     /* storage service error */
    DUMPER_EPROTO = 14,       /* protocol error: unexpected response from a server */
    DUMPER_ETOOLARGE = 15,    /* backup exceeds the allowed size */
    DUMPER_EBUSY = 16,        /* already running / resource busy */
    DUMPER_EINTR = 17,        /* interrupted by a signal */
    DUMPER_ENOMEM = 18,       /* out of memory */
    DUMPER_ETIMEOUT = 19,     /* operation timed out */
    DUMPER_ETOOL = 20         /* a required external tool is missing or incompatible */
} dumper_code;

/* Short static description of an error code ("checksum mismatch or truncated backup", ...).
 * Never NULL; the string lives for the life of the process. */
DUMPER_EXTERN const char *dumper_strerror(int code);

/* The library version as "MAJOR.MINOR.PATCH". Static string. */
DUMPER_EXTERN const char *dumper_version(void);

#ifdef __cplusplus
}
#endif
#endif /* DUMPER_H */
