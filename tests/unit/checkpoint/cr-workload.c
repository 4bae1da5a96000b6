/* A zdtm-style workload for checkpoint/restore tests, linked statically and
 * run inside a test container (from its inittab).
 *
 *   cr-workload state DIR [MIB]   anonymous memory with a pattern and a
 *       checksum, an open file at a known offset, a pipe with data in flight
 *       to a child, a unix socketpair with an unread message, its own PIDs.
 *       Writes DIR/ready ("PID CHILD_PID"), then waits for DIR/go and
 *       writes DIR/result: "PASS" or "FAIL: what".
 *   cr-workload counter DIR       increments a counter in memory and writes
 *       it to DIR/counter, as fast as it can; before each write it checks
 *       the file still holds the last value written. A restore onto a rootfs
 *       copied at another instant than the memory dump breaks that: the
 *       mismatch is recorded in DIR/result on DIR/go.
 *   cr-workload hold-socket DIR PATH   connects a unix socket to PATH (a
 *       listener outside the container: something CRIU must refuse to dump),
 *       writes DIR/ready and sleeps.
 *
 * Plain C, no allocation after setup, nothing but libc. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char pipe_msg[] = "data-in-flight-through-a-pipe";
static const char sock_msg[] = "unread-message-on-a-socketpair";
#define FILE_OFFSET 777
#define FILE_SIZE 4096

static char dir[256];

static void
path_in (char *buf, size_t size, const char *name)
{
  snprintf (buf, size, "%s/%s", dir, name);
}

static void
write_file (const char *name, const char *text)
{
  char path[512], tmp[520];

  path_in (path, sizeof path, name);
  snprintf (tmp, sizeof tmp, "%s.tmp", path);
  int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return;
  if (write (fd, text, strlen (text)) < 0)
    perror ("write");
  fsync (fd);
  close (fd);
  rename (tmp, path);
}

static int
exists (const char *name)
{
  char path[512];
  struct stat st;

  path_in (path, sizeof path, name);
  return stat (path, &st) == 0;
}

static void
wait_go (void)
{
  struct timespec ts = { 0, 10 * 1000 * 1000 };

  while (!exists ("go"))
    nanosleep (&ts, NULL);
}

static uint64_t
next (uint64_t *s)
{
  /* xorshift64: non-trivial data that no page deduplication shortcuts. */
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static uint64_t
checksum (const uint64_t *buf, size_t n)
{
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

/* The child holds the pipe's read end and one end of the socketpair; it
 * reads both only after the restore, and answers "OK"/"NO". */
static void
child_main (int pipe_r, int sock)
{
  char buf[64];
  int ok;

  wait_go ();
  memset (buf, 0, sizeof buf);
  ok = read_full (pipe_r, buf, sizeof pipe_msg) == 0 && memcmp (buf, pipe_msg, sizeof pipe_msg) == 0;
  memset (buf, 0, sizeof buf);
  ok = ok && recv (sock, buf, sizeof buf, 0) == (ssize_t) sizeof sock_msg && memcmp (buf, sock_msg, sizeof sock_msg) == 0;
  if (send (sock, ok ? "OK" : "NO", 2, 0) != 2)
    _exit (1);
  _exit (0);
}

static int
state_main (size_t mib)
{
  size_t n = mib * 1024 * 1024 / sizeof (uint64_t);
  char path[512], text[256], fail[256] = "";
  int pipefd[2], sv[2];
  uint64_t seed = 0x9e3779b97f4a7c15ULL;

  uint64_t *buf = mmap (NULL, n * sizeof (uint64_t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (buf == MAP_FAILED)
    return 1;
  for (size_t i = 0; i < n; i++)
    buf[i] = next (&seed);
  uint64_t sum = checksum (buf, n);

  path_in (path, sizeof path, "data");
  int fd = open (path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return 1;
  for (int i = 0; i < FILE_SIZE; i++)
    {
      char c = (char) ('a' + i % 26);
      if (write (fd, &c, 1) != 1)
        return 1;
    }
  lseek (fd, FILE_OFFSET, SEEK_SET);

  if (pipe (pipefd) < 0 || socketpair (AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
    return 1;
  pid_t self = getpid ();
  pid_t child = fork ();
  if (child < 0)
    return 1;
  if (child == 0)
    {
      close (pipefd[1]);
      close (sv[0]);
      child_main (pipefd[0], sv[1]);
    }
  close (pipefd[0]);
  close (sv[1]);
  if (write (pipefd[1], pipe_msg, sizeof pipe_msg) != (ssize_t) sizeof pipe_msg
      || send (sv[0], sock_msg, sizeof sock_msg, 0) != (ssize_t) sizeof sock_msg)
    return 1;

  snprintf (text, sizeof text, "%d %d\n", (int) self, (int) child);
  write_file ("ready", text);
  wait_go ();

  if (getpid () != self)
    snprintf (fail, sizeof fail, "pid changed from %d to %d", (int) self, (int) getpid ());
  else if (checksum (buf, n) != sum)
    snprintf (fail, sizeof fail, "memory checksum differs");
  else if (lseek (fd, 0, SEEK_CUR) != FILE_OFFSET)
    snprintf (fail, sizeof fail, "file offset is %lld", (long long) lseek (fd, 0, SEEK_CUR));
  else
    {
      char c;
      if (read (fd, &c, 1) != 1 || c != (char) ('a' + FILE_OFFSET % 26))
        snprintf (fail, sizeof fail, "file content differs at the offset");
    }
  char answer[2] = { 0, 0 };
  if (fail[0] == '\0' && (recv (sv[0], answer, 2, 0) != 2 || memcmp (answer, "OK", 2) != 0))
    snprintf (fail, sizeof fail, "the child did not find the pipe and socket data");
  int status = 0;
  if (waitpid (child, &status, 0) != child && fail[0] == '\0')
    snprintf (fail, sizeof fail, "the child %d is not ours any more", (int) child);
  if (fail[0] != '\0')
    snprintf (text, sizeof text, "FAIL: %s\n", fail);
  else
    snprintf (text, sizeof text, "PASS\n");
  write_file ("result", text);
  pause ();
  return 0;
}

static int
counter_main (void)
{
  char path[512], text[64], buf[64];
  unsigned long long last = 0, mismatch_at = 0, mismatch_found = 0;
  struct timespec pause_ts = { 0, 200 * 1000 };

  path_in (path, sizeof path, "counter");
  int fd = open (path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return 1;
  snprintf (text, sizeof text, "%d\n", (int) getpid ());
  write_file ("ready", text);
  for (;;)
    {
      if (last > 0)
        {
          ssize_t n = pread (fd, buf, sizeof buf - 1, 0);
          buf[n > 0 ? n : 0] = '\0';
          unsigned long long on_disk = strtoull (buf, NULL, 10);
          if (on_disk != last && mismatch_at == 0)
            {
              mismatch_at = last;
              mismatch_found = on_disk;
            }
        }
      last++;
      int len = snprintf (text, sizeof text, "%020llu\n", last);
      if (pwrite (fd, text, (size_t) len, 0) != len)
        return 1;
      if (exists ("go"))
        break;
      /* Mostly asleep, so a dump almost always catches the loop here, with
       * the file written: frozen inside pwrite instead, the restored process
       * would finish that write first and cover a mismatch. */
      nanosleep (&pause_ts, NULL);
    }
  if (mismatch_at != 0)
    snprintf (text, sizeof text, "FAIL: memory %llu, file %llu\n", mismatch_at, mismatch_found);
  else
    snprintf (text, sizeof text, "PASS %llu\n", last);
  write_file ("result", text);
  pause ();
  return 0;
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
  write_file ("ready", "connected\n");
  for (;;)
    pause ();
}

int
main (int argc, char **argv)
{
  if (argc < 3 || strlen (argv[2]) >= sizeof dir)
    {
      fprintf (stderr, "usage: cr-workload state|counter DIR [MIB]\n");
      return 2;
    }
  strcpy (dir, argv[2]);
  if (strcmp (argv[1], "state") == 0)
    return state_main (argc > 3 ? (size_t) strtoul (argv[3], NULL, 10) : 64);
  if (strcmp (argv[1], "counter") == 0)
    return counter_main ();
  if (strcmp (argv[1], "hold-socket") == 0 && argc > 3)
    return hold_socket_main (argv[3]);
  return 2;
}
