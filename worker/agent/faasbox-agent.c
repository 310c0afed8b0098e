/*
 * faasbox-agent: PID 1 of a pre-started function container (worker/agent/protocol.ts is the
 * worker's side and describes the frames).
 *
 *   faasbox-agent CMD [ARGS...]
 *   faasbox-agent --reuse CMD [ARGS...]
 *
 * The worker creates and starts a container ahead of the call with this agent as its entrypoint,
 * so that a call finds a container already running and still gets a fresh one. The agent says
 * 'R', waits for the go header on stdin, runs CMD with the rest of stdin, frames the function's
 * stdout and stderr onto its own stdout, and ends with the function's exit status in-band ('X'),
 * or 'F' when CMD cannot be run.
 *
 * With --reuse one container serves one execution after another, and each must find it as the
 * first did: a process, a file in /tmp or /dev/shm, or an IPC object left by one call would
 * otherwise reach the next, which may be another caller's. So each go (version 2) carries the
 * length of its stdin, which the agent passes to a new process of CMD through a pipe; after 'X'
 * or 'F' the agent kills every other process of the container, empties its scratch directories
 * and removes SysV IPC objects, then says 'C' (clean) and waits for the next go. What it cannot
 * clean it reports in a 'D' (dirty) and exits, and the worker discards the container.
 *
 * A go may carry variables for the function's environment (versions 3 and 4: the owner's
 * secrets). They come with the call, not with the container, because the container is made
 * before any call (pre-started, reused) and its config is visible to whoever can inspect it; and
 * so that a secret changed since the container was made takes effect on the next call. The agent
 * sets them in the function's process alone, between fork and exec: its own environment stays as
 * the container's config made it, so in reuse mode the next execution sees none of them. Entries
 * are length-prefixed, so that a name holding '=' or a value holding NUL is refused here rather
 * than read as two variables; a refused go gets 'F' (naming the entry and the rule, never the
 * value) and nothing runs.
 *
 * Why ours: tini and dumb-init reap zombies and forward signals, but neither can hold a command
 * back until a go signal nor report its exit in-band on a framed stdout, and the function must not
 * be able to forge that report. The images it runs in may have no shell and no libc, so it is
 * static; it is bind-mounted read-only and needs no network. Built by build.sh.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A go is "FBXGO", its version, two zero bytes, then what its version says follows:
 *   1  one-shot: the function's stdin, to EOF
 *   2  reuse: the big-endian u32 length of the execution's stdin, then that stdin
 *   3  one-shot with env: the env part, then as 1
 *   4  reuse with env: the env part, then as 2
 * The env part is the big-endian u32 length of the env block, then the block: per variable, a
 * big-endian u32 name length, the name, a big-endian u32 value length, the value. */
static const unsigned char GO_MAGIC[5] = {'F', 'B', 'X', 'G', 'O'};
enum { GO_ONCE = 1, GO_REUSE = 2, GO_ONCE_ENV = 3, GO_REUSE_ENV = 4 };

/* The most env block a go may carry: far more than a function's secrets need, little enough to
 * hold in a static buffer. The worker refuses a larger one before it is sent (protocol.ts). */
#define MAX_ENV 65536
/* The go's variables, as "NAME\0value\0" pairs once parse_env has read them; cleared as soon as
 * the function's process has its copy. */
static unsigned char env_block[MAX_ENV];
/* Why the go's env was refused: the entry and the rule, never a value. */
static char env_refusal[96];

#define HEADER 5
#define MAX_PAYLOAD 65536

/* One frame at a time: the payload is read right behind its header, so a frame is one write. */
static unsigned char frame[HEADER + MAX_PAYLOAD];
/* fd 1 is gone (the worker closed the attach): output is read and dropped, the exit still comes. */
static int out_gone;

static void write_all(const unsigned char *bytes, size_t length) {
  while (length > 0 && !out_gone) {
    ssize_t n = write(1, bytes, length);
    if (n > 0) {
      bytes += n;
      length -= (size_t)n;
    } else if (n < 0 && errno == EAGAIN) {
      struct pollfd writable = {.fd = 1, .events = POLLOUT};
      poll(&writable, 1, -1);
    } else if (n < 0 && errno != EINTR) {
      out_gone = 1;
    }
  }
}

/* Sends the frame whose payload is already at frame + HEADER. */
static void send_frame(char type, size_t length) {
  frame[0] = (unsigned char)type;
  frame[1] = (unsigned char)(length >> 24);
  frame[2] = (unsigned char)(length >> 16);
  frame[3] = (unsigned char)(length >> 8);
  frame[4] = (unsigned char)length;
  write_all(frame, HEADER + length);
}

static void send_text(char type, const char *message) {
  size_t length = strnlen(message, MAX_PAYLOAD);
  memcpy(frame + HEADER, message, length);
  send_frame(type, length);
}

static int fail(const char *message, int status) {
  send_text('F', message);
  return status;
}

/* Relays one read of at most `most` bytes and says how many; 0 when the pipe has nothing more
 * (EOF or, once it is non-blocking, EAGAIN). */
static size_t relay(int fd, char type, size_t most) {
  ssize_t n;
  do n = read(fd, frame + HEADER, most < MAX_PAYLOAD ? most : MAX_PAYLOAD);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return 0;
  send_frame(type, (size_t)n);
  return (size_t)n;
}

/* What the pipe holds at the moment the function exited, and no more: a background process may
 * hold the write end open and keep writing for ever, and the exit must not wait for it. */
static void drain(int fd, char type) {
  int left = 0;
  if (fd < 0 || fcntl(fd, F_SETFL, O_NONBLOCK) != 0 || ioctl(fd, FIONREAD, &left) != 0) return;
  for (size_t n; left > 0; left -= (int)n)
    if ((n = relay(fd, type, (size_t)left)) == 0) return;
}

/* 1 when all `length` bytes came from stdin, 0 at EOF. Never more: what follows is not ours. */
static int read_exactly(unsigned char *bytes, size_t length) {
  while (length > 0) {
    ssize_t n = read(0, bytes, length);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    bytes += n;
    length -= (size_t)n;
  }
  return 1;
}

/* The version of the go that came, `plain` or `with_env`; 0 at EOF (the worker discarded the
 * container), -1 when it is wrong. Reads exactly 8 bytes: whatever follows is the go's own. */
static int await_go(int plain, int with_env) {
  unsigned char header[8];
  if (!read_exactly(header, sizeof header)) return 0;
  if (memcmp(header, GO_MAGIC, sizeof GO_MAGIC) != 0 || header[6] != 0 || header[7] != 0) return -1;
  return header[5] == plain || header[5] == with_env ? header[5] : -1;
}

static uint32_t be32(const unsigned char *bytes) {
  return (uint32_t)bytes[0] << 24 | (uint32_t)bytes[1] << 16 | (uint32_t)bytes[2] << 8 | bytes[3];
}

/* 1 with the next big-endian u32 of stdin in *value, 0 at EOF. */
static int read_u32(uint32_t *value) {
  unsigned char bytes[4];
  if (!read_exactly(bytes, sizeof bytes)) return 0;
  *value = be32(bytes);
  return 1;
}

/* Reads and drops `length` bytes of stdin; 0 at EOF. */
static int drop_stdin(unsigned char *scratch, size_t size, uint32_t length) {
  while (length > 0) {
    ssize_t n = read(0, scratch, length < size ? length : size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    length -= (uint32_t)n;
  }
  return 1;
}

/* Turns the `length` bytes of env block into "NAME\0value\0" pairs, in place, and says how many;
 * -1 (why in env_refusal, the block cleared) when an entry is no variable the function could be
 * given. In place is safe: a pair's two NULs take less room than its entry's two lengths, so a
 * pair never reaches the bytes still to be read. */
static long parse_env(size_t length) {
  size_t in = 0, out = 0;
  long count = 0;
  while (in < length) {
    const char *problem = NULL;
    size_t at[2] = {0, 0}, size[2] = {0, 0};
    count++;
    for (int part = 0; part < 2 && !problem; part++) {
      if (length - in < 4 || be32(env_block + in) > length - in - 4) {
        problem = "the block ends within it";
        break;
      }
      size[part] = be32(env_block + in);
      at[part] = in + 4;
      in = at[part] + size[part];
    }
    if (!problem && size[0] == 0) problem = "its name is empty";
    if (!problem && (memchr(env_block + at[0], '=', size[0]) || memchr(env_block + at[0], 0, size[0])))
      problem = "its name holds '=' or NUL";
    if (!problem && memchr(env_block + at[1], 0, size[1])) problem = "its value holds NUL";
    if (problem) {
      snprintf(env_refusal, sizeof env_refusal, "agent: env refused: variable %ld: %s", count, problem);
      explicit_bzero(env_block, sizeof env_block);
      return -1;
    }
    for (int part = 0; part < 2; part++) {
      memmove(env_block + out, env_block + at[part], size[part]);
      out += size[part];
      env_block[out++] = 0;
    }
  }
  return count;
}

/* Reads the env part of a version 3 or 4 go: 0 with how many variables in *count, 1 at EOF, -1
 * when refused (why in env_refusal). A refused block is read to its end all the same, so that
 * what follows is still this go's. */
static int read_env(long *count) {
  uint32_t length;
  if (!read_u32(&length)) return 1;
  if (length > sizeof env_block) {
    snprintf(env_refusal, sizeof env_refusal, "agent: env refused: %u bytes, more than %d", (unsigned)length, MAX_ENV);
    int dropped = drop_stdin(env_block, sizeof env_block, length);
    explicit_bzero(env_block, sizeof env_block);
    return dropped ? -1 : 1;
  }
  if (!read_exactly(env_block, length)) return 1;
  *count = parse_env(length);
  return *count < 0 ? -1 : 0;
}

/* In reuse mode the function's stdin is a pipe, fed with the next `left` bytes of the agent's
 * stdin through `buffer`: the function must not see the next go, nor hold the agent's stdin. */
struct feed {
  uint32_t left;
  int pipe; /* the write end, non-blocking; -1 once closed */
  size_t start, end;
  unsigned char buffer[65536];
};

/* Moves the feed on by what the last poll said of fd 0 (`from`) and of the pipe (`to`), and sets
 * what the next poll waits for. Nothing here may block: the function's output must keep flowing. */
static void pump(struct feed *feed, struct pollfd *from, struct pollfd *to) {
  if (from->revents) {
    size_t most = feed->left < sizeof feed->buffer ? feed->left : sizeof feed->buffer;
    ssize_t n = read(0, feed->buffer, most);
    if (n > 0) {
      feed->left -= (uint32_t)n;
      feed->start = 0;
      /* Once the function has closed its stdin, the rest is read only to keep the framing. */
      feed->end = feed->pipe < 0 ? 0 : (size_t)n;
    } else if (n == 0 || errno != EINTR) {
      feed->left = 0; /* the worker's stdin ended early: so does the function's */
    }
  }
  if (to->revents) {
    ssize_t n = write(feed->pipe, feed->buffer + feed->start, feed->end - feed->start);
    if (n > 0) {
      feed->start += (size_t)n;
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
      close(feed->pipe); /* EPIPE: the function closed its stdin or exited */
      feed->pipe = -1;
      feed->start = feed->end = 0;
    }
  }
  int buffered = feed->start < feed->end;
  if (!buffered && feed->left == 0 && feed->pipe >= 0) {
    close(feed->pipe); /* all passed on: the function reads EOF */
    feed->pipe = -1;
  }
  from->fd = !buffered && feed->left > 0 ? 0 : -1;
  to->fd = buffered ? feed->pipe : -1;
}

/* The stdin the function did not take, read and dropped, so that the next read is the next go. */
static void skip_stdin(struct feed *feed) {
  while (feed->left > 0) {
    ssize_t n = read(0, feed->buffer, feed->left < sizeof feed->buffer ? feed->left : sizeof feed->buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    feed->left -= (uint32_t)n;
  }
}

static void close_other_fds(int keep) {
  /* close_range needs Linux 5.9; older kernels get the loop. */
  if ((keep == 3 || close_range(3, keep - 1, 0) == 0) && close_range(keep + 1, ~0U, 0) == 0) return;
  long most = sysconf(_SC_OPEN_MAX);
  for (int fd = 3; fd < most; fd++)
    if (fd != keep) close(fd);
}

/* Tells the parent why the child will not become the function: errno of exec, or minus errno of
 * setting the environment. */
static void child_failed(int error_pipe, int error) {
  ssize_t ignored = write(error_pipe, &error, sizeof error);
  (void)ignored;
  _exit(127);
}

static void run_child(char **argv, int in, int out, int err, int error_pipe, long env_count) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL); /* an ignored signal stays ignored across exec */
  if ((in >= 0 && dup2(in, 0) < 0) || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(127);
  close_other_fds(error_pipe);
  /* The go's variables go into this process only, over any of the container's config by the same
   * name; the agent's own environment, which the next execution inherits, never holds them. */
  const char *name = (const char *)env_block;
  for (long i = 0; i < env_count; i++) {
    const char *value = name + strlen(name) + 1;
    if (setenv(name, value, 1) != 0) child_failed(error_pipe, -errno);
    name = value + strlen(value) + 1;
  }
  execvp(argv[0], argv);
  child_failed(error_pipe, errno);
}

static void drain_signals(int sigfd) {
  struct signalfd_siginfo info;
  while (read(sigfd, &info, sizeof info) > 0) {
  }
}

/* Runs CMD once, with the go's `env_count` variables, and reports it with 'X' or 'F'; returns its
 * status. Without a feed (one-shot) the function's stdin is the agent's own. */
static int execute(char **command, int sigfd, struct feed *feed, long env_count) {
  if (!command[0]) return fail("no command specified", 127);
  if (sigfd < 0) return fail("agent: signalfd failed", 125);

  int out[2], err[2], error_pipe[2], in[2] = {-1, -1};
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 || pipe2(error_pipe, O_CLOEXEC) != 0 ||
      (feed && pipe2(in, O_CLOEXEC) != 0))
    return fail("agent: pipe failed", 125);
  pid_t child = fork();
  if (child == 0) run_child(command, in[0], out[1], err[1], error_pipe[1], env_count);
  /* The child has its copy: the agent keeps none while the function runs. */
  explicit_bzero(env_block, sizeof env_block);
  if (child < 0) return fail("agent: fork failed", 125);
  close(out[1]);
  close(err[1]);
  close(error_pipe[1]);
  if (feed) {
    close(in[0]);
    feed->pipe = in[1];
    fcntl(feed->pipe, F_SETFL, O_NONBLOCK);
  }

  int exec_error;
  ssize_t n;
  do n = read(error_pipe[0], &exec_error, sizeof exec_error);
  while (n < 0 && errno == EINTR);
  if (n == sizeof exec_error && exec_error < 0) {
    char message[128];
    snprintf(message, sizeof message, "agent: the env could not be set: %s", strerror(-exec_error));
    return fail(message, 125);
  }
  if (n == sizeof exec_error) {
    char message[512];
    snprintf(message, sizeof message, "exec %s failed: %s", command[0], strerror(exec_error));
    /* As tini and a shell: 126 when found but not executable, 127 otherwise. */
    int not_executable = exec_error == EACCES || exec_error == EPERM || exec_error == ENOEXEC;
    return fail(message, not_executable ? 126 : 127);
  }
  close(error_pipe[0]);

  /* The last two are the feed's: fd 0 and the function's stdin, or nothing in one-shot mode. */
  struct pollfd fds[5] = {{.fd = out[0], .events = POLLIN}, {.fd = err[0], .events = POLLIN}, {.fd = sigfd, .events = POLLIN},
                          {.fd = -1, .events = POLLIN}, {.fd = -1, .events = POLLOUT}};
  const char types[2] = {'O', 'E'};
  int status = -1, signal_number = 0;
  while (status < 0) {
    if (feed) pump(feed, &fds[3], &fds[4]);
    if (poll(fds, 5, -1) < 0) continue;
    for (int i = 0; i < 2; i++) {
      /* At EOF (POLLHUP and nothing left) the pipe leaves the poll: only the exit ends the run. */
      if (fds[i].revents && !relay(fds[i].fd, types[i], MAX_PAYLOAD)) {
        close(fds[i].fd);
        fds[i].fd = -1;
      }
    }
    if (!fds[2].revents) continue;
    drain_signals(sigfd);
    /* As PID 1 every orphan of the namespace is ours too: a zombie left counts against the pids
     * limit. */
    int wait_status;
    pid_t pid;
    while ((pid = waitpid(-1, &wait_status, WNOHANG)) > 0) {
      if (pid != child) continue;
      if (WIFSIGNALED(wait_status)) signal_number = WTERMSIG(wait_status);
      status = signal_number ? 128 + signal_number : WEXITSTATUS(wait_status);
    }
  }
  drain(fds[0].fd, 'O');
  drain(fds[1].fd, 'E');

  unsigned char *exit_payload = frame + HEADER;
  uint32_t code = (uint32_t)status;
  exit_payload[0] = (unsigned char)(code >> 24);
  exit_payload[1] = (unsigned char)(code >> 16);
  exit_payload[2] = (unsigned char)(code >> 8);
  exit_payload[3] = (unsigned char)code;
  exit_payload[4] = (unsigned char)signal_number;
  send_frame('X', 5);
  return status;
}

/* ---- reuse: a clean slate between executions ---- */

/* Where a function can leave files: each is a mount of its own, which it cannot replace. */
static const char *const SCRATCH[] = {"/tmp", "/dev/shm", "/dev/mqueue"};
#define SCRATCH_COUNT (sizeof SCRATCH / sizeof SCRATCH[0])

/* What a function, having the agent's uid, can change and the next one would inherit: the
 * scratch directories' modes (when it owns them, as root without capabilities does) and PID 1's
 * own limits, priority and CPUs (prlimit, setpriority and sched_setaffinity allow the same uid). */
struct inherited {
  mode_t scratch_modes[SCRATCH_COUNT]; /* 0: absent */
  struct rlimit limits[RLIM_NLIMITS];
  int nice;
  cpu_set_t cpus;
};

static void observe(struct inherited *state) {
  memset(state, 0, sizeof *state); /* padding too, for memcmp */
  struct stat st;
  for (size_t i = 0; i < SCRATCH_COUNT; i++)
    if (lstat(SCRATCH[i], &st) == 0) state->scratch_modes[i] = st.st_mode;
  for (int limit = 0; limit < RLIM_NLIMITS; limit++) getrlimit(limit, &state->limits[limit]);
  state->nice = getpriority(PRIO_PROCESS, 0);
  sched_getaffinity(0, sizeof state->cpus, &state->cpus);
}

static long elapsed_ms(const struct timespec *since) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

/* From PID 1, kill(-1) reaches every other process of the namespace (one uid, which none can
 * change), stopped ones too. It is repeated because a process may fork while it goes round, until
 * none is left to reap: every orphan becomes PID 1's child, so no child left means no process. */
static int kill_others(int sigfd) {
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    kill(-1, SIGKILL);
    pid_t pid;
    while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
    }
    if (pid < 0 && errno == ECHILD) return 1;
    /* A process in uninterruptible sleep dies when it wakes, if ever. */
    if (elapsed_ms(&start) > 5000) return 0;
    struct pollfd child_exit = {.fd = sigfd, .events = POLLIN};
    poll(&child_exit, 1, 10);
    drain_signals(sigfd);
  }
}

/* Removes everything in the directory `fd` (and closes it), never through a symlink; 1 when it is
 * empty afterwards. No other process is left, so nothing changes between a check and its use. */
static int empty_dir(int fd) {
  DIR *dir = fdopendir(fd);
  if (!dir) {
    close(fd);
    return 0;
  }
  struct dirent *entry;
  while ((entry = readdir(dir))) {
    const char *name = entry->d_name;
    struct stat st;
    if (!strcmp(name, ".") || !strcmp(name, "..")) continue;
    if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)) {
      unlinkat(fd, name, 0);
      continue;
    }
    /* A function may have taken its own rights away (chmod 000); it owns the directory, and so
     * does the agent, its uid. */
    fchmodat(fd, name, S_IRWXU, 0);
    int inner = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (inner >= 0) empty_dir(inner);
    unlinkat(fd, name, AT_REMOVEDIR);
  }
  rewinddir(dir);
  int empty = 1;
  while ((entry = readdir(dir)))
    if (strcmp(entry->d_name, ".") && strcmp(entry->d_name, "..")) empty = 0;
  closedir(dir);
  return empty;
}

/* 1 when the directory is as it was at the start and empty, or not writable, as at the start. */
static int clean_scratch(const char *path, mode_t mode_at_start) {
  struct stat st;
  if (lstat(path, &st) != 0) return errno == ENOENT && mode_at_start == 0;
  if (st.st_mode != mode_at_start && chmod(path, mode_at_start & 07777) != 0) return 0;
  /* Where the agent cannot write, neither could the function: it has the same uid. */
  if (access(path, W_OK) != 0) return 1;
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  return fd >= 0 && empty_dir(fd);
}

union semun {
  int val;
  struct semid_ds *buf;
  unsigned short *array;
  struct seminfo *__buf;
};

/* The container has an IPC namespace of its own, so every object in it is the function's. The
 * _STAT_ANY commands list them whatever their mode; the counts of the _INFO commands verify. */
static int remove_sysv_ipc(void) {
  struct shm_info shm;
  struct shmid_ds segment;
  int last = shmctl(0, SHM_INFO, (struct shmid_ds *)&shm);
  for (int index = 0, id; index <= last; index++)
    if ((id = shmctl(index, SHM_STAT_ANY, &segment)) >= 0) shmctl(id, IPC_RMID, NULL);

  struct seminfo sem;
  struct semid_ds set;
  last = semctl(0, 0, SEM_INFO, (union semun){.__buf = &sem});
  for (int index = 0, id; index <= last; index++)
    if ((id = semctl(index, 0, SEM_STAT_ANY, (union semun){.buf = &set})) >= 0) semctl(id, 0, IPC_RMID);

  struct msginfo msg;
  struct msqid_ds queue;
  last = msgctl(0, MSG_INFO, (struct msqid_ds *)&msg);
  for (int index = 0, id; index <= last; index++)
    if ((id = msgctl(index, MSG_STAT_ANY, &queue)) >= 0) msgctl(id, IPC_RMID, NULL);

  /* A segment still attached would outlive IPC_RMID, but no process is left to hold one. */
  return shmctl(0, SHM_INFO, (struct shmid_ds *)&shm) >= 0 && shm.used_ids == 0 &&
         semctl(0, 0, SEM_INFO, (union semun){.__buf = &sem}) >= 0 && sem.semusz == 0 &&
         msgctl(0, MSG_INFO, (struct msqid_ds *)&msg) >= 0 && msg.msgpool == 0;
}

/* NULL when the container is as the first execution found it, else why not. */
static const char *clean_up(int sigfd, const struct inherited *at_start) {
  /* Outside a PID namespace of its own (a plain process, as in the tests), kill(-1) would reach
   * every process of the uid and /tmp would be the host's: no clean slate to promise there. */
  if (getpid() != 1) return "agent: not PID 1, so no clean slate";
  if (!kill_others(sigfd)) return "agent: processes outlived SIGKILL";
  static char reason[64];
  for (size_t i = 0; i < SCRATCH_COUNT; i++) {
    if (clean_scratch(SCRATCH[i], at_start->scratch_modes[i])) continue;
    snprintf(reason, sizeof reason, "agent: %s not emptied", SCRATCH[i]);
    return reason;
  }
  if (!remove_sysv_ipc()) return "agent: SysV IPC objects left";
  struct inherited now;
  observe(&now);
  if (memcmp(&now, at_start, sizeof now) != 0) return "agent: its limits, priority or CPUs were changed";
  return NULL;
}

/* Executions until the worker ends stdin; 125 when the container cannot be made clean again. */
static int serve(char **command, int sigfd) {
  static struct feed feed;
  struct inherited at_start;
  observe(&at_start);
  for (;;) {
    int go = await_go(GO_REUSE, GO_REUSE_ENV);
    if (go < 0) return fail("agent: bad go header", 125);
    long env_count = 0;
    int env = go == GO_REUSE_ENV ? read_env(&env_count) : 0;
    uint32_t length;
    if (go == 0 || env > 0 || !read_u32(&length)) return 0;
    if (sigfd < 0) return fail("agent: signalfd failed", 125);

    feed.left = length;
    feed.pipe = -1;
    feed.start = feed.end = 0;
    /* A refused env is this execution's failure to start, not the container's: the framing held,
     * so the container is cleaned and serves the next go as after any 'F'. */
    if (env < 0)
      fail(env_refusal, 125);
    else
      execute(command, sigfd, &feed, env_count);
    explicit_bzero(env_block, sizeof env_block);
    skip_stdin(&feed);
    /* Whatever the execution opened (its pipes, on any path) goes with it. */
    close_other_fds(sigfd);
    const char *dirty = clean_up(sigfd, &at_start);
    if (dirty) {
      send_text('D', dirty);
      return 125;
    }
    send_frame('C', 0);
  }
}

int main(int argc, char **argv) {
  /* Not dumpable: /proc/1 then belongs to root, so the function (same uid, no capabilities)
   * cannot open /proc/1/fd/1 and write frames of its own. exec makes the function dumpable again. */
  prctl(PR_SET_DUMPABLE, 0);
  signal(SIGPIPE, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  int reuse = argc > 1 && strcmp(argv[1], "--reuse") == 0;

  /* Until the go, and between executions in reuse mode, no other process runs: none to reap. */
  send_frame('R', 0);
  if (reuse) return serve(argv + 2, sigfd);
  int go = await_go(GO_ONCE, GO_ONCE_ENV);
  if (go == 0) return 0;
  if (go < 0) return fail("agent: bad go header", 125);
  long env_count = 0;
  int env = go == GO_ONCE_ENV ? read_env(&env_count) : 0;
  if (env > 0) return 0;
  if (env < 0) return fail(env_refusal, 125);
  /* The same status as Docker's own exit code; the kernel then ends the rest of the namespace. */
  return execute(argv + 1, sigfd, NULL, env_count);
}
