"""Clients of a systemd container's services that hold one connection each open across
stateful operations (issue 10): an ssh session running a shell, an HTTP/1.1 keep-alive
connection to nginx, a PostgreSQL session (psycopg2), each asked something on every check. Run as a program, in whichever
network namespace the clients must live in (the host's, or a lab's client namespace):

    python3 service_clients.py ADDRESS SSH_KEY

It prints "ready" once every connection is up, then answers each line "check" on stdin
with one JSON line: {"ssh": ..., "http": ..., "postgres": ...}, each "ok N" (the same
connection answered, N = how many times) or "FAILED: why". `ServiceClients` drives it.

A restore brings the container's ends of the connections back as they were at the
snapshot: a connection survives it when nothing flowed on it in between (TCP cannot
rewind its peer), so tests check before the snapshot and after the restore.

The container side is prepared by `prepare_services()`: root's authorized key, a page for
nginx, PostgreSQL listening on eth0 with a password."""

import json
import os
import select
import socket
import subprocess
import sys

PG_PASSWORD = "ferry-test"
TIMEOUT = 30  # seconds a connection may take to answer after an operation
PAGE = "ferry-page.txt"
PAGE_TEXT = "served by nginx in a Ferry container\n"


def prepare_services(daemon, name, key_dir):
    """Make NAME's services reachable by ServiceClients; returns the ssh key's path (made
    in KEY_DIR if not there)."""
    key = os.path.join(key_dir, "id_ed25519")
    if not os.path.exists(key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True,
                       stdin=subprocess.DEVNULL)
    with open(key + ".pub") as f:
        pub = f.read()
    script = f"""set -e
mkdir -p -m 700 /root/.ssh
printf '%s' '{pub.strip()}' > /root/.ssh/authorized_keys
chmod 600 /root/.ssh/authorized_keys
printf '{PAGE_TEXT.strip()}\\n' > /var/www/html/{PAGE}
conf=$(ls -d /etc/postgresql/*/main)
echo "listen_addresses = '*'" > $conf/conf.d/ferry.conf
grep -q 'ferry-test' $conf/pg_hba.conf || echo 'host all all 0.0.0.0/0 scram-sha-256 # ferry-test' >> $conf/pg_hba.conf
systemctl restart postgresql
for i in $(seq 100); do su postgres -c 'psql -qc "select 1"' >/dev/null 2>&1 && break; sleep 0.1; done
su postgres -c "psql -qc \\"alter user postgres password '{PG_PASSWORD}'\\""
su postgres -c "psql -qc 'create table if not exists ticks (n int)'"
systemctl is-active ssh nginx postgresql
"""
    cp = daemon.ferry("exec", name, "--", "sh", "-c", script, check=False, timeout=120)
    assert cp.returncode == 0, f"preparing the services failed: {cp.stdout} {cp.stderr}"
    return key


class ServiceClients:
    """The client program, started with POPEN (a function taking an argv and Popen keyword
    arguments: subprocess.Popen, or a lab's client_popen)."""

    def __init__(self, popen, address, key):
        self.proc = popen([sys.executable, os.path.abspath(__file__), address, key], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self.close()
            raise AssertionError(f"the service clients did not connect: {line} {self.proc.stderr.read()}")
        self.checks = 0

    def check(self):
        """Asserts that every connection still answers; returns the answers."""
        self.proc.stdin.write("check\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], 4 * TIMEOUT)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            raise AssertionError(f"the service clients died: {self.proc.stderr.read()}")
        answers = json.loads(line)
        self.checks += 1
        bad = {k: v for k, v in answers.items() if not v.startswith("ok")}
        assert not bad, f"connections lost: {bad}"
        return answers

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


# --- the program -----------------------------------------------------------------

class Ssh:
    """A shell over ssh, asked to echo a number: request and answer, like the others, so
    that nothing flows while the container is checkpointed and restored."""

    def __init__(self, address, key):
        self.proc = subprocess.Popen(
            ["ssh", "-i", key, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", f"root@{address}", "sh"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self.n = 0
        answer = self.check()
        if not answer.startswith("ok"):
            raise RuntimeError(f"ssh: {answer}")

    def check(self):
        self.n += 1
        try:
            self.proc.stdin.write(f"echo {self.n}\n")
            self.proc.stdin.flush()
        except OSError as e:
            return f"FAILED: {e}"
        ready, _, _ = select.select([self.proc.stdout], [], [], TIMEOUT)
        line = self.proc.stdout.readline() if ready else None
        if line is None:
            return f"FAILED: no answer in {TIMEOUT}s"
        if line.strip() != str(self.n):
            return f"FAILED: the session ended or answered {line!r} ({self.proc.poll()})"
        return f"ok {self.n}"


class Http:
    def __init__(self, address):
        self.sock = socket.create_connection((address, 80), timeout=TIMEOUT)
        self.requests = 0
        answer = self.check()
        if not answer.startswith("ok"):
            raise RuntimeError(answer)

    def check(self):
        try:
            self.sock.sendall(f"GET /{PAGE} HTTP/1.1\r\nHost: c\r\n\r\n".encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = self.sock.recv(4096)
                if not chunk:
                    return "FAILED: nginx closed the connection"
                data += chunk
            head, body = data.split(b"\r\n\r\n", 1)
            length = [int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")]
            while length and len(body) < length[0]:
                chunk = self.sock.recv(4096)
                if not chunk:
                    return "FAILED: nginx closed the connection mid-answer"
                body += chunk
            if not head.startswith(b"HTTP/1.1 200") or body.decode() != PAGE_TEXT:
                return f"FAILED: {head[:40]!r} {body[:40]!r}"
            self.requests += 1
            return f"ok {self.requests}"
        except OSError as e:
            return f"FAILED: {e}"


class Postgres:
    def __init__(self, address):
        import psycopg2
        # tcp_user_timeout: a lost connection fails the check instead of hanging it.
        self.conn = psycopg2.connect(host=address, user="postgres", password=PG_PASSWORD, dbname="postgres",
                                     connect_timeout=TIMEOUT, tcp_user_timeout=TIMEOUT * 1000)
        self.n = 0

    def check(self):
        try:
            with self.conn.cursor() as cur:
                self.n += 1
                cur.execute("insert into ticks values (%s)", (self.n,))
                cur.execute("select count(*) from ticks where n = %s", (self.n,))
                count = cur.fetchone()[0]
            self.conn.commit()
            return f"ok {self.n}" if count >= 1 else "FAILED: the row is missing"
        except Exception as e:  # psycopg2's errors: the session is gone
            return f"FAILED: {e}".strip()


def main(address, key):
    services = {"ssh": Ssh(address, key), "http": Http(address), "postgres": Postgres(address)}
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "check":
            print(json.dumps({name: s.check() for name, s in services.items()}), flush=True)


if __name__ == "__main__":
    try:
        main(sys.argv[1], sys.argv[2])
    except Exception as e:
        print(f"error: {e}", flush=True)
        sys.exit(1)
