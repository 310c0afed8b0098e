/*
 * probe: the one program of the test image `faasbox/probe`, a scratch image with no shell, no
 * libc and no /tmp of its own, so that the worker's lock-down is checked where no tool of an
 * image can help it. Built static by build.sh. Each mode prints one line and exits 0 when the
 * thing it tries worked as a function author expects, 1 when it did not.
 *
 *   probe tmp        /tmp's mode and owner, then writes and reads back a file there
 *   probe tmp-exec   copies itself to /tmp and tries to run the copy (a noexec /tmp refuses)
 *   probe fds        opens /dev/null until it fails; the count and the error
 *   probe fds-tree N HOLD
 *                    N processes each open /dev/null until they fail, hold them HOLD seconds
 *                    and exit; the largest count one process reached and the total
 *   probe env NAME...
 *                    one line per NAME: NAME=value, or NAME unset (variables given with the go)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int tmp(void) {
  struct stat st;
  if (stat("/tmp", &st) != 0) return printf("stat /tmp: %s\n", strerror(errno)), 1;
  int fd = open("/tmp/probe-file", O_CREAT | O_WRONLY | O_TRUNC, 0600);
  if (fd < 0) return printf("mode=%04o uid=%u write: %s\n", st.st_mode & 07777, st.st_uid, strerror(errno)), 1;
  int wrote = write(fd, "probe", 5) == 5;
  close(fd);
  char back[8] = {0};
  fd = open("/tmp/probe-file", O_RDONLY);
  int read_back = fd >= 0 && read(fd, back, sizeof back - 1) == 5 && strcmp(back, "probe") == 0;
  if (fd >= 0) close(fd);
  printf("mode=%04o uid=%u write=%s\n", st.st_mode & 07777, st.st_uid, wrote && read_back ? "ok" : "failed");
  return wrote && read_back ? 0 : 1;
}

static int tmp_exec(const char *self) {
  int in = open(self, O_RDONLY), out = open("/tmp/probe-copy", O_CREAT | O_WRONLY | O_TRUNC, 0755);
  if (in < 0 || out < 0) return printf("copy: %s\n", strerror(errno)), 1;
  char buffer[65536];
  ssize_t n;
  while ((n = read(in, buffer, sizeof buffer)) > 0) {
    if (write(out, buffer, n) != n) return printf("copy: %s\n", strerror(errno)), 1;
  }
  close(in);
  close(out);
  char *args[] = {"/tmp/probe-copy", NULL};
  execv(args[0], args);
  printf("exec: %s\n", strerror(errno));
  return 1;
}

static long open_until_refused(void) {
  long opened = 0;
  while (open("/dev/null", O_RDONLY) >= 0) opened++;
  return opened;
}

static int fds(void) {
  long opened = open_until_refused();
  int error = errno;
  printf("opened=%ld error=%s\n", opened, error == EMFILE ? "EMFILE" : strerror(error));
  return error == EMFILE ? 0 : 1;
}

static int fds_tree(int processes, int hold_seconds) {
  int counts[2];
  if (pipe(counts) != 0) return printf("pipe: %s\n", strerror(errno)), 1;
  for (int i = 0; i < processes; i++) {
    pid_t pid = fork();
    if (pid < 0) return printf("fork: %s\n", strerror(errno)), 1;
    if (pid == 0) {
      close(counts[0]);
      long opened = open_until_refused();
      if (write(counts[1], &opened, sizeof opened) != sizeof opened) _exit(1);
      sleep(hold_seconds);
      _exit(0);
    }
  }
  close(counts[1]);
  long most = 0, total = 0, opened;
  int reported = 0;
  while (read(counts[0], &opened, sizeof opened) == sizeof opened) {
    reported++;
    total += opened;
    if (opened > most) most = opened;
    if (reported == processes) break;
  }
  while (wait(NULL) > 0) {
  }
  printf("processes=%d most=%ld total=%ld\n", reported, most, total);
  return reported == processes ? 0 : 1;
}

static int env(int count, char **names) {
  for (int i = 0; i < count; i++) {
    const char *value = getenv(names[i]);
    if (value) printf("%s=%s\n", names[i], value);
    else printf("%s unset\n", names[i]);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "env") == 0) return env(argc - 2, argv + 2);
  if (argc == 4 && strcmp(argv[1], "fds-tree") == 0) return fds_tree(atoi(argv[2]), atoi(argv[3]));
  if (argc == 2 && strcmp(argv[1], "tmp") == 0) return tmp();
  if (argc == 2 && strcmp(argv[1], "tmp-exec") == 0) return tmp_exec(argv[0]);
  if (argc == 2 && strcmp(argv[1], "fds") == 0) return fds();
  if (argc == 1) return printf("probe ran\n"), 0;
  fprintf(stderr, "usage: probe tmp|tmp-exec|fds|fds-tree N HOLD|env NAME...\n");
  return 2;
}
