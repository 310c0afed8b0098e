/*
 * faasbox-agent: PID 1 of a pre-started function container (worker/agent/protocol.ts is the
 * worker's side and describes the frames).
 *
 *   faasbox-agent CMD [ARGS...]
 *
 * The worker creates and starts a container ahead of the call with this agent as its entrypoint,
 * so that a call finds a container already running and still gets a fresh one. The agent says
 * 'R', waits for the go header on stdin, runs CMD with the rest of stdin, frames the function's
 * stdout and stderr onto its own stdout, and ends with the function's exit status in-band ('X'),
 * or 'F' when CMD cannot be run.
 *
 * Why ours: tini and dumb-init reap zombies and forward signals, but neither can hold a command
 * back until a go signal nor report its exit in-band on a framed stdout, and the function must not
 * be able to forge that report. The images it runs in may have no shell and no libc, so it is
 * static; it is bind-mounted read-only and needs no network. Built by build.sh.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

static const unsigned char GO_HEADER[8] = {'F', 'B', 'X', 'G', 'O', 1, 0, 0};

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

static int fail(const char *message, int status) {
  size_t length = strnlen(message, MAX_PAYLOAD);
  memcpy(frame + HEADER, message, length);
  send_frame('F', length);
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

/* 0 when the header came, 1 at EOF (the worker discarded the container), -1 when it is wrong.
 * Reads exactly 8 bytes: whatever follows is the function's stdin. */
static int await_go(void) {
  unsigned char header[sizeof GO_HEADER];
  size_t got = 0;
  while (got < sizeof header) {
    ssize_t n = read(0, header + got, sizeof header - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 1;
    got += (size_t)n;
  }
  return memcmp(header, GO_HEADER, sizeof header) == 0 ? 0 : -1;
}

static void close_other_fds(int keep) {
  /* close_range needs Linux 5.9; older kernels get the loop. */
  if ((keep == 3 || close_range(3, keep - 1, 0) == 0) && close_range(keep + 1, ~0U, 0) == 0) return;
  long most = sysconf(_SC_OPEN_MAX);
  for (int fd = 3; fd < most; fd++)
    if (fd != keep) close(fd);
}

static void run_child(char **argv, int out, int err, int error_pipe) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL); /* an ignored signal stays ignored across exec */
  if (dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(127);
  close_other_fds(error_pipe);
  execvp(argv[0], argv);
  int error = errno;
  ssize_t ignored = write(error_pipe, &error, sizeof error);
  (void)ignored;
  _exit(127);
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

  send_frame('R', 0);
  int go = await_go();
  if (go > 0) return 0;
  if (go < 0) return fail("agent: bad go header", 125);
  if (argc < 2) return fail("no command specified", 127);
  if (sigfd < 0) return fail("agent: signalfd failed", 125);

  int out[2], err[2], error_pipe[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 || pipe2(error_pipe, O_CLOEXEC) != 0)
    return fail("agent: pipe failed", 125);
  pid_t child = fork();
  if (child < 0) return fail("agent: fork failed", 125);
  if (child == 0) run_child(argv + 1, out[1], err[1], error_pipe[1]);
  close(out[1]);
  close(err[1]);
  close(error_pipe[1]);

  int exec_error;
  ssize_t n;
  do n = read(error_pipe[0], &exec_error, sizeof exec_error);
  while (n < 0 && errno == EINTR);
  if (n == sizeof exec_error) {
    char message[512];
    snprintf(message, sizeof message, "exec %s failed: %s", argv[1], strerror(exec_error));
    /* As tini and a shell: 126 when found but not executable, 127 otherwise. */
    int not_executable = exec_error == EACCES || exec_error == EPERM || exec_error == ENOEXEC;
    return fail(message, not_executable ? 126 : 127);
  }
  close(error_pipe[0]);

  struct pollfd fds[3] = {{.fd = out[0], .events = POLLIN}, {.fd = err[0], .events = POLLIN}, {.fd = sigfd, .events = POLLIN}};
  const char types[2] = {'O', 'E'};
  int status = -1, signal_number = 0;
  while (status < 0) {
    if (poll(fds, 3, -1) < 0) continue;
    for (int i = 0; i < 2; i++) {
      /* At EOF (POLLHUP and nothing left) the pipe leaves the poll: only the exit ends the run. */
      if (fds[i].revents && !relay(fds[i].fd, types[i], MAX_PAYLOAD)) {
        close(fds[i].fd);
        fds[i].fd = -1;
      }
    }
    if (!fds[2].revents) continue;
    struct signalfd_siginfo info;
    while (read(sigfd, &info, sizeof info) > 0) {
    }
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
  /* The same status as Docker's own exit code; the kernel then ends the rest of the namespace. */
  return status;
}
