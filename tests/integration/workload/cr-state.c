/* A zdtm-style workload for the checkpoint integration tests and
 * bench/checkpoint. Linked statically and copied into a container's rootfs;
 * started detached (setsid, stdio on /dev/null) by `lxc exec`.
 *
 *   cr-state state DIR MIB
 *       Sets up state that a checkpoint/restore must carry over:
 *       - MIB MiB of anonymous memory filled with a xorshift pattern, and
 *         its checksum;
 *       - a file DIR/data open at a known offset;
 *       - a pipe to a child with data in flight (written, not yet read);
 *       - a unix socketpair to the child with an unread message;
 *       - a process tree: the child has a grandchild, which holds its own
 *         pattern and a socketpair to the parent;
 *       - the PIDs of all three (as seen inside the container).
 *       Writes DIR/ready: "PARENT CHILD GRANDCHILD\n". Then, for each round
 *       K = 1, 2, ...: waits for DIR/go.K, verifies everything and writes
 *       DIR/result.K: "PASS K" or "FAIL K: what"; then puts new data in
 *       flight for round K+1. Rounds make repeated checkpoint/restore
 *       cycles testable; a restore of a snapshot taken before round K ran
 *       brings back a process waiting for go.K (and a rootfs without it).
 *       A new token (one line) in DIR/touch makes the parent read all its
 *       memory again and write "TOKEN mem-ok" to DIR/touched:
 *       bench/checkpoint uses it to have the pages resident right before a
 *       timed step.
 *
 *   cr-state hold-socket DIR PATH
 *       Connects a unix stream socket to PATH (a listener outside the
 *       container: something CRIU must refuse to dump), writes DIR/ready and
 *       sleeps.
 *
 *   cr-state mapped DIR
 *       Maps DIR/mapped (one page) shared and writable and writes a count
 *       into it every millisecond, the count also in its memory: such
 *       writes into a page already dirty set no time on the file, so a
 *       rootfs copy brought up to date by what changed misses them. For
 *       each round K (DIR/go.K) writes DIR/result.K: "PASS K" when the file
 *       holds the count its memory holds (or the next: a freeze between
 *       the write and the count) at every look since it started, else
 *       "FAIL K: ..." (the first look after a restore is the one that
 *       sees a stale file). Writes DIR/ready.
 *
 *   cr-state creds DIR
 *       A unix datagram socketpair whose receiving end has SO_PASSCRED
 *       (and SO_PASSPIDFD where the kernel has it), as journald's sockets
 *       and systemd's notify socket, holding a message from a child (uid
 *       and gid 1000) that stays queued: every dump meets it. Writes
 *       DIR/ready: "CHILD\n". For each round K (DIR/go.K) peeks the
 *       message and writes DIR/result.K: "PASS K" when it is whole and its
 *       credentials name the child (pid, uid, gid; a pidfd, when one
 *       comes, the child's), else "FAIL K: what".
 *
 *   cr-state prefault MIB    (on the host)
 *       Touches MIB MiB of fresh memory and exits, so that the VM's free
 *       memory is backed again before a timed step (see bench/checkpoint).
 *
 * Plain C and libc only; no allocation after setup. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FILE_OFFSET 777
#define FILE_SIZE 4096
#define GRANDCHILD_MIB 4

static char dir[200];

static void
path_in (char *buf, size_t size, const char *name, long k)
{
  if (k >= 0)
    snprintf (buf, size, "%s/%s.%ld", dir, name, k);
  else
    snprintf (buf, size, "%s/%s", dir, name);
}

/* Written to NAME.tmp, then renamed: the test never reads half a result. */
static void
write_file (const char *name, long k, const char *text)
{
  char path[300], tmp[310];
  int fd;

  path_in (path, sizeof path, name, k);
  snprintf (tmp, sizeof tmp, "%s.tmp", path);
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return;
  if (write (fd, text, strlen (text)) < 0)
    perror ("write");
  fsync (fd);
  close (fd);
  rename (tmp, path);
}

static int
exists (const char *name, long k)
{
  char path[300];
  struct stat st;

  path_in (path, sizeof path, name, k);
  return stat (path, &st) == 0;
}

static void
nap (void)
{
  struct timespec ts = { 0, 10 * 1000 * 1000 };

  nanosleep (&ts, NULL);
}

static void
wait_for (const char *name, long k)
{
  while (!exists (name, k))
    nap ();
}

static uint64_t
next (uint64_t *s)
{
  /* xorshift64: data no page deduplication or zero-page trick shortcuts. */
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static uint64_t *
patterned (size_t mib, uint64_t seed, uint64_t *sum)
{
  size_t n = mib * 1024 * 1024 / sizeof (uint64_t);
  uint64_t *buf = mmap (NULL, n * sizeof (uint64_t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

  if (buf == MAP_FAILED)
    return NULL;
  for (size_t i = 0; i < n; i++)
    buf[i] = next (&seed);
  *sum = 0;
  for (size_t i = 0; i < n; i++)
    *sum = (*sum ^ buf[i]) * 0x100000001b3ULL;
  return buf;
}

static uint64_t
checksum (const uint64_t *buf, size_t mib)
{
  size_t n = mib * 1024 * 1024 / sizeof (uint64_t);
  uint64_t sum = 0;

  for (size_t i = 0; i < n; i++)
    sum = (sum ^ buf[i]) * 0x100000001b3ULL;
  return sum;
}

static int
read_full (int fd, char *buf, size_t len)
{
  size_t got = 0;

  while (got < len)
    {
      ssize_t n = read (fd, buf + got, len - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return -1;
      got += (size_t) n;
    }
  return 0;
}

static void
pipe_msg (char *buf, size_t size, long k)
{
  snprintf (buf, size, "data-in-flight-through-a-pipe-round-%06ld", k);
}

static void
sock_msg (char *buf, size_t size, long k)
{
  snprintf (buf, size, "unread-message-on-a-socketpair-round-%06ld", k);
}

/* The grandchild: its own memory, and a socketpair to the parent on which
 * it reports, each round, its PID, its parent's PID and its checksum. */
static void
grandchild_main (int sock)
{
  uint64_t sum;
  uint64_t *buf = patterned (GRANDCHILD_MIB, 0x243f6a8885a308d3ULL, &sum);
  char text[128];

  if (buf == NULL)
    _exit (1);
  for (long k = 1;; k++)
    {
      wait_for ("go", k);
      snprintf (text, sizeof text, "%d %d %s", (int) getpid (), (int) getppid (),
                checksum (buf, GRANDCHILD_MIB) == sum ? "mem-ok" : "mem-bad");
      if (send (sock, text, strlen (text) + 1, 0) < 0)
        _exit (1);
    }
}

/* The child reads the pipe and the socket only once go.K exists, checks the
 * data is round K's, and answers "OK"/"NO" on the socket. */
static void
child_main (int pipe_r, int sock, int gc_sock)
{
  char buf[128], want[128];
  pid_t gc = fork ();

  if (gc < 0)
    _exit (1);
  if (gc == 0)
    {
      close (pipe_r);
      close (sock);
      grandchild_main (gc_sock);
    }
  close (gc_sock);
  for (long k = 1;; k++)
    {
      int ok;

      wait_for ("go", k);
      memset (buf, 0, sizeof buf);
      pipe_msg (want, sizeof want, k);
      ok = read_full (pipe_r, buf, strlen (want) + 1) == 0 && strcmp (buf, want) == 0;
      memset (buf, 0, sizeof buf);
      sock_msg (want, sizeof want, k);
      ok = ok && recv (sock, buf, sizeof buf, 0) == (ssize_t) strlen (want) + 1 && strcmp (buf, want) == 0;
      if (send (sock, ok ? "OK" : "NO", 2, 0) != 2)
        _exit (1);
    }
}

static int
put_in_flight (int pipe_w, int sock, long k)
{
  char msg[128];

  pipe_msg (msg, sizeof msg, k);
  if (write (pipe_w, msg, strlen (msg) + 1) != (ssize_t) strlen (msg) + 1)
    return -1;
  sock_msg (msg, sizeof msg, k);
  if (send (sock, msg, strlen (msg) + 1, 0) != (ssize_t) strlen (msg) + 1)
    return -1;
  return 0;
}

static int
state_main (size_t mib)
{
  char path[300], text[256], fail[200];
  int pipefd[2], sv[2], gsv[2], fd;
  uint64_t sum, *buf;
  pid_t self = getpid (), child, gc = 0;
  char last_token[64] = "";

  if ((buf = patterned (mib, 0x9e3779b97f4a7c15ULL, &sum)) == NULL)
    return 1;

  path_in (path, sizeof path, "data", -1);
  fd = open (path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return 1;
  for (int i = 0; i < FILE_SIZE; i++)
    {
      char c = (char) ('a' + i % 26);
      if (write (fd, &c, 1) != 1)
        return 1;
    }
  lseek (fd, FILE_OFFSET, SEEK_SET);

  if (pipe (pipefd) < 0 || socketpair (AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0
      || socketpair (AF_UNIX, SOCK_SEQPACKET, 0, gsv) < 0)
    return 1;
  child = fork ();
  if (child < 0)
    return 1;
  if (child == 0)
    {
      close (pipefd[1]);
      close (sv[0]);
      close (gsv[0]);
      /* Only the parent's memory is the measured buffer: CRIU would dump a
       * copy of it for every process that inherited it. */
      munmap (buf, mib * 1024 * 1024);
      child_main (pipefd[0], sv[1], gsv[1]);
    }
  close (pipefd[0]);
  close (sv[1]);
  close (gsv[1]);
  if (put_in_flight (pipefd[1], sv[0], 1) < 0)
    return 1;
  /* The grandchild's PID: from the child's children list. */
  for (int tries = 0; tries < 500 && gc == 0; tries++)
    {
      char cpath[64], list[64] = "";
      snprintf (cpath, sizeof cpath, "/proc/%d/task/%d/children", (int) child, (int) child);
      int cfd = open (cpath, O_RDONLY | O_CLOEXEC);
      if (cfd >= 0)
        {
          ssize_t n = read (cfd, list, sizeof list - 1);
          list[n > 0 ? n : 0] = '\0';
          close (cfd);
        }
      gc = (pid_t) atoi (list);
      if (gc == 0)
        nap ();
    }
  snprintf (text, sizeof text, "%d %d %d\n", (int) self, (int) child, (int) gc);
  write_file ("ready", -1, text);

  for (long k = 1;; k++)
    {
      char answer[128];
      int gpid = 0, gppid = 0;
      char gmem[16] = "";

      fail[0] = '\0';
      while (!exists ("go", k))
        {
          /* A new token in DIR/touch (from the benchmark): read the whole
           * buffer, then echo the token in DIR/touched. */
          char token[64] = "";
          int tfd;
          path_in (path, sizeof path, "touch", -1);
          if ((tfd = open (path, O_RDONLY | O_CLOEXEC)) >= 0)
            {
              ssize_t n = read (tfd, token, sizeof token - 1);
              token[n > 0 ? n : 0] = '\0';
              close (tfd);
              if (token[0] != '\0' && strcmp (token, last_token) != 0)
                {
                  snprintf (text, sizeof text, "%s %s\n", token, checksum (buf, mib) == sum ? "mem-ok" : "mem-bad");
                  write_file ("touched", -1, text);
                  strcpy (last_token, token);
                }
            }
          nap ();
        }
      if (getpid () != self)
        snprintf (fail, sizeof fail, "pid changed from %d to %d", (int) self, (int) getpid ());
      else if (checksum (buf, mib) != sum)
        snprintf (fail, sizeof fail, "memory checksum of the %zu MiB buffer differs", mib);
      else if (lseek (fd, 0, SEEK_CUR) != FILE_OFFSET)
        snprintf (fail, sizeof fail, "file offset is %lld, not %d", (long long) lseek (fd, 0, SEEK_CUR), FILE_OFFSET);
      else
        {
          char c;
          if (pread (fd, &c, 1, FILE_OFFSET) != 1 || c != (char) ('a' + FILE_OFFSET % 26))
            snprintf (fail, sizeof fail, "file content differs at the offset");
        }
      memset (answer, 0, sizeof answer);
      if (fail[0] == '\0' && (recv (sv[0], answer, 2, 0) != 2 || memcmp (answer, "OK", 2) != 0))
        snprintf (fail, sizeof fail, "the child did not find round %ld's pipe and socket data (answer '%.2s')", k,
                  answer);
      memset (answer, 0, sizeof answer);
      if (fail[0] == '\0'
          && (recv (gsv[0], answer, sizeof answer - 1, 0) <= 0
              || sscanf (answer, "%d %d %15s", &gpid, &gppid, gmem) != 3))
        snprintf (fail, sizeof fail, "no report from the grandchild");
      if (fail[0] == '\0' && (gpid != (int) gc || gppid != (int) child || strcmp (gmem, "mem-ok") != 0))
        snprintf (fail, sizeof fail, "grandchild reports pid %d ppid %d %s; expected %d %d mem-ok", gpid, gppid,
                  gmem, (int) gc, (int) child);
      if (fail[0] == '\0' && waitpid (child, NULL, WNOHANG) != 0)
        snprintf (fail, sizeof fail, "the child %d is not a live child of ours", (int) child);
      if (fail[0] == '\0')
        snprintf (text, sizeof text, "PASS %ld\n", k);
      else
        snprintf (text, sizeof text, "FAIL %ld: %s\n", k, fail);
      /* Round K+1's data goes in flight before the result is visible. */
      if (fail[0] == '\0' && put_in_flight (pipefd[1], sv[0], k + 1) < 0)
        snprintf (text, sizeof text, "FAIL %ld: cannot put round %ld's data in flight\n", k, k + 1);
      write_file ("result", k, text);
      if (strncmp (text, "FAIL", 4) == 0)
        for (;;)
          pause ();
    }
}

static int
hold_socket_main (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (fd < 0 || strlen (path) >= sizeof addr.sun_path)
    return 1;
  strcpy (addr.sun_path, path);
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
    {
      perror ("connect");
      return 1;
    }
  write_file ("ready", -1, "connected\n");
  for (;;)
    pause ();
}

static int
mapped_main (void)
{
  char path[300], failure[64] = "";
  volatile char *page;
  unsigned long count = 1;
  long round = 1;
  int fd;

  path_in (path, sizeof path, "mapped", -1);
  fd = open (path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || ftruncate (fd, 4096) < 0)
    return 1;
  page = mmap (NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (page == MAP_FAILED)
    return 1;
  snprintf ((char *) page, 64, "%lu", count);
  write_file ("ready", -1, "mapped\n");
  for (;;)
    {
      struct timespec ts = { 0, 1000 * 1000 };
      unsigned long held = strtoul ((const char *) page, NULL, 10);

      /* Checked each time: after a restore, the first look is the one that
       * counts (the next write hides a stale file). */
      if (held != count && held != count + 1 && failure[0] == '\0')
        snprintf (failure, sizeof failure, "the file held %lu, memory %lu", held, count);
      if (exists ("go", round))
        {
          char line[128];

          if (failure[0] == '\0')
            snprintf (line, sizeof line, "PASS %ld\n", round);
          else
            snprintf (line, sizeof line, "FAIL %ld: %s\n", round, failure);
          write_file ("result", round, line);
          round++;
        }
      /* The file first: a freeze between the two leaves it one ahead. */
      snprintf ((char *) page, 64, "%lu", count + 1);
      count++;
      nanosleep (&ts, NULL);
    }
}

#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif
#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04
#endif
#define CREDS_MSG "a message with its sender's credentials"
#define CREDS_ID 1000

/* The pid a pidfd refers to, from its fdinfo; -1 if none. */
static long
pidfd_pid (int fd)
{
  char path[64], buf[512], *p;
  ssize_t n;
  int info;

  snprintf (path, sizeof path, "/proc/self/fdinfo/%d", fd);
  info = open (path, O_RDONLY | O_CLOEXEC);
  if (info < 0)
    return -1;
  n = read (info, buf, sizeof buf - 1);
  close (info);
  if (n <= 0)
    return -1;
  buf[n] = '\0';
  p = strstr (buf, "\nPid:");
  return p != NULL ? strtol (p + 5, NULL, 10) : -1;
}

/* The queued message peeked, checked against what the child sent. */
static void
check_creds (int sock, pid_t child, char *failure, size_t size)
{
  char data[128], control[256];
  struct iovec iov = { data, sizeof data };
  struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
  struct cmsghdr *ch;
  ssize_t n = recvmsg (sock, &mh, MSG_PEEK | MSG_DONTWAIT);
  int creds = 0;

  failure[0] = '\0';
  if (n != (ssize_t) strlen (CREDS_MSG) || memcmp (data, CREDS_MSG, (size_t) n) != 0)
    {
      snprintf (failure, size, "the queued message is %zd bytes: %s", n, n < 0 ? strerror (errno) : "not the one sent");
      return;
    }
  for (ch = CMSG_FIRSTHDR (&mh); ch != NULL; ch = CMSG_NXTHDR (&mh, ch))
    if (ch->cmsg_level == SOL_SOCKET && ch->cmsg_type == SCM_CREDENTIALS)
      {
        struct ucred uc;

        memcpy (&uc, CMSG_DATA (ch), sizeof uc);
        creds = 1;
        if (uc.pid != child || uc.uid != CREDS_ID || uc.gid != CREDS_ID)
          snprintf (failure, size, "credentials pid %d uid %u gid %u, not the child's (%d, %d)", (int) uc.pid,
                    (unsigned) uc.uid, (unsigned) uc.gid, (int) child, CREDS_ID);
      }
    else if (ch->cmsg_level == SOL_SOCKET && ch->cmsg_type == SCM_PIDFD)
      {
        int fd;
        long pid;

        memcpy (&fd, CMSG_DATA (ch), sizeof fd);
        pid = pidfd_pid (fd);
        close (fd);
        if (pid != child && failure[0] == '\0')
          snprintf (failure, size, "the pidfd names %ld, not the child %d", pid, (int) child);
      }
  if (!creds && failure[0] == '\0')
    snprintf (failure, size, "no credentials with the message");
}

static int
creds_main (void)
{
  int one = 1, sv[2];
  char line[300], failure[200];
  pid_t child;
  long round = 1;

  if (socketpair (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0
      || setsockopt (sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0)
    return 1;
  (void) setsockopt (sv[0], SOL_SOCKET, SO_PASSPIDFD, &one, sizeof one); /* Linux >= 6.5 */
  child = fork ();
  if (child < 0)
    return 1;
  if (child == 0)
    {
      close (sv[0]);
      if (setgroups (0, NULL) < 0 || setgid (CREDS_ID) < 0 || setuid (CREDS_ID) < 0
          || send (sv[1], CREDS_MSG, strlen (CREDS_MSG), 0) < 0)
        _exit (1);
      for (;;)
        pause ();
    }
  close (sv[1]);
  /* Sent once the child has sent it. */
  for (int i = 0; i < 500; i++)
    {
      char peek;
      if (recv (sv[0], &peek, 1, MSG_PEEK | MSG_DONTWAIT) >= 0)
        break;
      nap ();
    }
  snprintf (line, sizeof line, "%d\n", (int) child);
  write_file ("ready", -1, line);
  for (;; round++)
    {
      wait_for ("go", round);
      check_creds (sv[0], child, failure, sizeof failure);
      if (failure[0] == '\0')
        snprintf (line, sizeof line, "PASS %ld\n", round);
      else
        snprintf (line, sizeof line, "FAIL %ld: %s\n", round, failure);
      write_file ("result", round, line);
    }
}

static int
prefault_main (size_t mib)
{
  size_t len = mib * 1024 * 1024;
  volatile char *p = mmap (NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

  if (p == MAP_FAILED)
    return 1;
  for (size_t i = 0; i < len; i += 4096)
    p[i] = 1;
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc == 3 && strcmp (argv[1], "prefault") == 0)
    return prefault_main ((size_t) strtoul (argv[2], NULL, 10));
  if (argc < 3 || strlen (argv[2]) >= sizeof dir)
    {
      fprintf (stderr, "usage: cr-state state DIR MIB | hold-socket DIR PATH | mapped DIR | creds DIR | prefault MIB\n");
      return 2;
    }
  strcpy (dir, argv[2]);
  if (strcmp (argv[1], "state") == 0 && argc > 3)
    return state_main ((size_t) strtoul (argv[3], NULL, 10));
  if (strcmp (argv[1], "hold-socket") == 0 && argc > 3)
    return hold_socket_main (argv[3]);
  if (strcmp (argv[1], "mapped") == 0)
    return mapped_main ();
  if (strcmp (argv[1], "creds") == 0)
    return creds_main ();
  return 2;
}
