/*
 * libFuzzer driver for .NET fuzz targets run by SharpFuzz (Fuzzer.LibFuzzer.Run), see tests/fuzz/run.sh.
 *
 * libFuzzer runs in this process; the target runs in a .NET child process started once. They share one System V
 * shared-memory segment: its first 64 KiB are SharpFuzz's edge-coverage map (the instrumented assemblies count
 * branch pairs there), the rest holds the current input. Per input: clear the map, copy the input after it, write
 * its length (int32) on the control pipe, read the outcome (int32: 0 passed, non-zero the target threw) from the
 * status pipe, then hand the map to libFuzzer as extra counters (coverage feedback) and abort on a failure so that
 * libFuzzer saves the input as a crash. The child finds the segment and the pipes from the __LIBFUZZER_* variables
 * (the names SharpFuzz reads) and writes one status when it is ready.
 *
 * Usage: driver [libFuzzer flags] [corpus dirs] --exec=PROGRAM [--arg=ARG]...
 * (libFuzzer ignores flags that start with "--"; each --arg is one argument of PROGRAM, in order).
 *
 * Build: clang -O1 -o driver driver.c -lFuzzer (Debian's libfuzzer-NN-dev), or clang -fsanitize=fuzzer driver.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

enum {
    COVERAGE_BYTES = 1 << 16,  /* SharpFuzz's map size (Fuzzer.MapSize) */
    INPUT_BYTES = 1 << 20,     /* longest input: run.sh passes a smaller -max_len */
    CHILD_CONTROL_FD = 198,    /* where the child reads input lengths */
    CHILD_STATUS_FD = 199,     /* where the child writes outcomes */
    MAX_ARGS = 32,
};

/* libFuzzer reads features from this section after every input (not static: only libFuzzer reads it, and an array
   the compiler sees written and never read would be optimized away) */
__attribute__((used, section("__libfuzzer_extra_counters"))) uint8_t coverage[COVERAGE_BYTES];

static uint8_t *shared;       /* coverage map, then the input */
static int control_fd = -1;   /* our end: lengths to the child */
static int status_fd = -1;    /* our end: outcomes from the child */
static pid_t child = -1;

static void fail(const char *what)
{
    fprintf(stderr, "fuzz driver: %s%s%s\n", what, errno ? ": " : "", errno ? strerror(errno) : "");
    if (child > 0) kill(child, SIGKILL);
    exit(1);
}

/* read or write exactly four bytes, retrying on EINTR; returns 0 on end of file */
static int transfer(int fd, void *buf, int writing)
{
    size_t done = 0;
    while (done < 4) {
        ssize_t n = writing ? write(fd, (char *)buf + done, 4 - done) : read(fd, (char *)buf + done, 4 - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail(writing ? "writing to the target" : "reading from the target");
        if (n == 0) return 0;
        done += (size_t)n;
    }
    return 1;
}

static const char *flag_value(const char *arg, const char *flag)
{
    size_t len = strlen(flag);
    return strncmp(arg, flag, len) == 0 ? arg + len : NULL;
}

static void report_child_end(void)
{
    int wstatus;
    if (child > 0 && waitpid(child, &wstatus, WNOHANG) == child) {
        if (WIFEXITED(wstatus)) fprintf(stderr, "fuzz driver: the target exited with code %d\n", WEXITSTATUS(wstatus));
        else if (WIFSIGNALED(wstatus)) fprintf(stderr, "fuzz driver: the target was killed by signal %d\n", WTERMSIG(wstatus));
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char *program = NULL;
    char *child_argv[MAX_ARGS + 2];
    int child_argc = 1;
    for (int i = 1; i < *argc; i++) {
        const char *value;
        if ((value = flag_value((*argv)[i], "--exec="))) program = (char *)value;
        else if ((value = flag_value((*argv)[i], "--arg="))) {
            if (child_argc > MAX_ARGS) { errno = 0; fail("too many --arg flags"); }
            child_argv[child_argc++] = (char *)value;
        }
    }
    if (!program || !*program) { errno = 0; fail("no target: pass --exec=PROGRAM [--arg=ARG]..."); }
    child_argv[0] = program;
    child_argv[child_argc] = NULL;

    int shm = shmget(IPC_PRIVATE, COVERAGE_BYTES + INPUT_BYTES, IPC_CREAT | IPC_EXCL | 0600);
    if (shm < 0) fail("shmget");
    shared = shmat(shm, NULL, 0);
    if (shared == (void *)-1) { shmctl(shm, IPC_RMID, NULL); fail("shmat"); }

    int control[2], status[2];
    if (pipe(control) || pipe(status)) fail("pipe");

    pid_t parent = getpid();
    child = fork();
    if (child < 0) fail("fork");
    if (child == 0) {
        /* the target must not outlive libFuzzer, which leaves with _Exit on crashes and timeouts */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(1);
        if (dup2(control[0], CHILD_CONTROL_FD) < 0 || dup2(status[1], CHILD_STATUS_FD) < 0) _exit(1);
        close(control[0]); close(control[1]); close(status[0]); close(status[1]);
        char id[16], control_name[8], status_name[8];
        snprintf(id, sizeof id, "%d", shm);
        snprintf(control_name, sizeof control_name, "%d", CHILD_CONTROL_FD);
        snprintf(status_name, sizeof status_name, "%d", CHILD_STATUS_FD);
        if (setenv("__LIBFUZZER_SHM_ID", id, 1) || setenv("__LIBFUZZER_CONTROL_PIPE_ID", control_name, 1) ||
            setenv("__LIBFUZZER_STATUS_PIPE_ID", status_name, 1)) _exit(1);
        execvp(program, child_argv);
        fprintf(stderr, "fuzz driver: cannot start %s: %s\n", program, strerror(errno));
        _exit(127);
    }
    close(control[0]);
    close(status[1]);
    control_fd = control[1];
    status_fd = status[0];
    signal(SIGPIPE, SIG_IGN); /* a dead target shows as a write error, not a silent exit */

    int32_t ready;
    if (!transfer(status_fd, &ready, 0)) { errno = 0; report_child_end(); fail("the target ended before it was ready"); }
    /* both processes are attached: the segment goes away when both detach, however they end */
    shmctl(shm, IPC_RMID, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > INPUT_BYTES) { errno = 0; fail("input longer than 1 MiB (pass -max_len)"); }
    memset(shared, 0, COVERAGE_BYTES);
    memcpy(shared + COVERAGE_BYTES, data, size);
    int32_t length = (int32_t)size;
    if (!transfer(control_fd, &length, 1)) { errno = 0; fail("the target closed its control pipe"); }
    int32_t outcome;
    if (!transfer(status_fd, &outcome, 0)) {
        errno = 0;
        report_child_end();
        /* the target process died on this input (stack overflow, fail-fast): a crash of this input */
        fprintf(stderr, "fuzz driver: the target process ended on this input\n");
        abort();
    }
    memcpy(coverage, shared, COVERAGE_BYTES);
    if (outcome != 0) {
        fprintf(stderr, "fuzz driver: the target reported a failure (%d) on this input\n", outcome);
        abort();
    }
    return 0;
}
