/*
 * preinit.h - environment fixes that must happen before any shared library initialises.
 *
 * Debian's libmongoc initialises itself from an ELF constructor when it is loaded (automatic init)
 * and puts performance counters in /dev/shm/mongoc-<pid>, removed only at a clean exit. A process
 * killed with SIGKILL leaves its file behind, and a later process that reuses the pid prints
 * "WARNING: mongoc: Falling back to malloc for counters." on stderr at load time, before main():
 * a stray line in front of our one-line errors, in every program linking the engine. We never read
 * the counters.
 *
 * An executable's .preinit_array runs before the constructors of every shared library, but also
 * before libc has set up the environment (a setenv() there is lost), so instead it removes a stale
 * /dev/shm/mongoc-<our pid>: no live process can own that name, since the pid is ours now. Only
 * async-signal-safe calls, no libc formatting. An executable that links the engine (libdumper)
 * includes this header once, in the file with main:
 *
 *     #include "core/preinit.h"
 *     DP_PREINIT_ENVIRONMENT
 *
 * When the stale file belongs to another user (a root process killed earlier, and now a program run
 * as someone else), it cannot be removed: then stderr points at /dev/null while the shared libraries
 * initialise, and an ELF constructor of the executable (those run after every library's) puts it
 * back before main(). Nothing else is ever silenced.
 *
 * Only the engine links libmongoc: the agent library that host processes load (the Ruby gem's
 * extension, examples/host.c) does not, and needs none of this. A host that loads the whole
 * libdumper.so into its own process sets MONGOC_DISABLE_SHM=1 before it loads it.
 */
#ifndef DP_PREINIT_H
#define DP_PREINIT_H

#include <fcntl.h>
#include <unistd.h>

#define DP_PREINIT_ENVIRONMENT                                                                         \
    static int dp_preinit_saved_stderr = -1;                                                           \
    static void dp_preinit_environment(int argc, char **argv, char **envp)                             \
    {                                                                                                  \
        (void)argc;                                                                                    \
        (void)argv;                                                                                    \
        (void)envp;                                                                                    \
        char path[40] = "/dev/shm/mongoc-";                                                            \
        char digits[16];                                                                               \
        int n = 0;                                                                                     \
        for (long pid = (long)getpid(); pid > 0 && n < 15; pid /= 10)                                  \
            digits[n++] = (char)('0' + pid % 10);                                                      \
        int at = 16;                                                                                   \
        while (n > 0)                                                                                  \
            path[at++] = digits[--n];                                                                  \
        path[at] = 0;                                                                                  \
        if (unlink(path) != 0 && access(path, F_OK) == 0) {                                            \
            int devnull = open("/dev/null", O_WRONLY);                                                 \
            if (devnull >= 0) {                                                                        \
                dp_preinit_saved_stderr = dup(2);                                                      \
                if (dp_preinit_saved_stderr >= 0)                                                      \
                    dup2(devnull, 2);                                                                  \
                close(devnull);                                                                        \
            }                                                                                          \
        }                                                                                              \
    }                                                                                                  \
    __attribute__((section(".preinit_array"), used)) static void (*const dp_preinit_environment_ptr)( \
        int, char **, char **) = dp_preinit_environment;                                               \
    __attribute__((constructor)) static void dp_preinit_restore_stderr(void)                           \
    {                                                                                                  \
        if (dp_preinit_saved_stderr >= 0) {                                                            \
            dup2(dp_preinit_saved_stderr, 2);                                                          \
            close(dp_preinit_saved_stderr);                                                            \
            dp_preinit_saved_stderr = -1;                                                              \
        }                                                                                              \
    }

#endif
