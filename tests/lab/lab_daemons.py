# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real daemons from Debian packages on a lab host: nginx, haproxy, dnsmasq, PostgreSQL 15, Redis 7,
and the servers protocol identification is tested against: MariaDB, memcached, RabbitMQ, Postfix,
Dovecot, vsftpd, NTPsec, slapd.

The ``daemons`` key of a lab host (see README.md). The description gives each daemon's
configuration as its users write it; the lab runs the packaged binary on it, in the host's
network namespace (``nsenter --net``), in the foreground so its main process is the one the lab
started and records:

- ``nginx -p DIR -e DIR/daemon.log -c DIR/nginx.conf -g 'daemon off;'`` (master as root, workers
  as the configuration's ``user``);
- ``haproxy -W -db -f DIR/haproxy.cfg`` (master-worker; the worker drops to ``user``/``group``);
- ``dnsmasq --keep-in-foreground --conf-file=DIR/dnsmasq.conf`` (drops to ``user``);
- PostgreSQL 15: ``initdb`` of a private cluster in ``DIR/data``, then ``postgres -D DIR/data
  -c config_file=DIR/postgresql.conf``, both as user ``postgres``;
- ``redis-server DIR/redis.conf`` as user ``redis`` (as the Debian unit runs it);
- MariaDB: ``mariadb-install-db`` of a private data directory (``datadir`` in the configuration
  must be ``{dir}/data``), then ``mariadbd --defaults-file=DIR/my.cnf --user=mysql``;
- ``memcached -u memcache $(cat DIR/memcached.conf)``: the file holds its command-line options;
- RabbitMQ: ``rabbitmq-server`` as user ``rabbitmq`` with ``RABBITMQ_CONFIG_FILE=DIR/rabbitmq.conf``
  and its node name, data, logs and Erlang cookie (``HOME``) in DIR (epmd listens on the
  addresses of ``ERL_EPMD_ADDRESS``, the host's own);
- ``postfix -c DIR start-fg`` (the packaged ``master.cf``, queue and data directories in DIR);
- ``dovecot -F -c DIR/dovecot.conf``;
- ``vsftpd DIR/vsftpd.conf`` (``background=NO`` in the configuration);
- ``ntpd -n -g -c DIR/ntp.conf -u ntpsec:ntpsec``;
- ``slapd -d 0 -h "ldap://ADDRESS:389/" -f DIR/slapd.conf`` (a database directory ``DIR/db``; the
  URL's address is the first ``listen`` entry's).

DIR is the daemon's own directory in a directory the lab makes for the host's daemons in
``/tmp`` (``pplab-<id>-<host>-daemons-*``: PostgreSQL and Redis run as their own users, who
cannot enter a test's private temporary directory), removed at tear-down after every process
of the host has ended. Each daemon is started only once every address and port of its
``listen`` list listens in the host's namespace (bounded wait); a failed start names the
daemon and shows the end of its log.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time

DAEMON_KEYS = {"kind", "name", "config", "files", "listen"}
PG_BIN = "/usr/lib/postgresql/15/bin"
# kind: (the configuration file's name, the user that owns the daemon's directory, the user it runs as)
KINDS = {
    "nginx": ("nginx.conf", "root", None),
    "haproxy": ("haproxy.cfg", "root", None),
    "dnsmasq": ("dnsmasq.conf", "root", None),
    "postgresql": ("postgresql.conf", "postgres", "postgres"),
    "redis": ("redis.conf", "redis", "redis"),
    "mariadb": ("my.cnf", "mysql", None),
    "memcached": ("memcached.conf", "root", None),
    "rabbitmq": ("rabbitmq.conf", "rabbitmq", "rabbitmq"),
    "postfix": ("main.cf", "root", None),
    "dovecot": ("dovecot.conf", "root", None),
    "vsftpd": ("vsftpd.conf", "root", None),
    "ntpsec": ("ntp.conf", "root", None),
    "slapd": ("slapd.conf", "root", None),
}
# Reloaded in place by a signal to the main process (new workers replace the old ones); the other
# kinds are restarted to take a new configuration.
RELOAD_SIGNALS = {"nginx": signal.SIGHUP, "haproxy": signal.SIGUSR2}
_LISTEN = re.compile(r"^(tcp|udp):(\[[0-9a-fA-F:.]+\]|[0-9.]+|\*):([0-9]+)$")
START_WAIT = 60.0
# What nginx and haproxy log when they refuse a new configuration and keep the old workers.
_RELOAD_REFUSED = re.compile(r"\[emerg\]|\[ALERT\]")


def validate_host(host, error, render=None):
    """Check a host's ``daemons`` key; ``error(message)`` raises."""
    daemons = host.get("daemons", [])
    if not isinstance(daemons, list):
        error("%s.daemons must be a list" % host["name"])
    names = set()
    for index, daemon in enumerate(daemons):
        where = "%s.daemons[%d]" % (host["name"], index)
        if not isinstance(daemon, dict):
            error("%s must be a mapping" % where)
        unknown = set(daemon) - DAEMON_KEYS
        if unknown:
            error("%s: unknown keys %s (allowed: %s)" % (where, sorted(unknown), ", ".join(sorted(DAEMON_KEYS))))
        if daemon.get("kind") not in KINDS:
            error("%s: kind must be one of %s, got %r" % (where, ", ".join(sorted(KINDS)), daemon.get("kind")))
        name = daemon.get("name", daemon["kind"])
        if not isinstance(name, str) or not re.match(r"^[a-z0-9][a-z0-9_-]*$", name) or name in names:
            error("%s: name %r must be a unique word of lowercase letters, digits, _ and -" % (where, name))
        names.add(name)
        if not isinstance(daemon.get("config"), str) or not daemon["config"].strip():
            error("%s (%s): config must be the daemon's configuration text" % (where, name))
        files = daemon.get("files", {})
        if not isinstance(files, dict) or not all(isinstance(k, str) and "/" not in k and k not in ("", ".", "..")
                                                  and isinstance(v, str) for k, v in files.items()):
            error("%s (%s): files must map plain file names to their text" % (where, name))
        listen = daemon.get("listen")
        if not isinstance(listen, list) or not listen or not all(isinstance(item, str) for item in listen):
            error("%s (%s): listen must list what the daemon listens on, as PROTO:ADDRESS:PORT" % (where, name))
        for item in listen:
            if not _LISTEN.match(re.sub(r"\{address6?(:[^}]*)?\}", "0.0.0.0", item)):
                error("%s (%s): listen entry %r is not tcp|udp:ADDRESS:PORT ([IPv6] in brackets)" % (where, name, item))


def daemon_name(daemon):
    return daemon.get("name", daemon["kind"])


def host_dir(lab, name):
    """The host's directory for daemons, made once (mode 0755: daemons running as their own user enter it)."""
    entry = lab.host(name)
    if not entry.get("daemon_dir"):
        entry["daemon_dir"] = tempfile.mkdtemp(prefix="pplab-%s-%s-daemons-" % (lab.state["id"], name))
        os.chmod(entry["daemon_dir"], 0o755)
        entry.setdefault("daemons", {})
        lab.save()
    return entry["daemon_dir"]


def _render(lab, name, text, ddir):
    entry = lab.host(name)
    text = text.replace("{dir}", ddir).replace("{cert}", os.path.join(ddir, "cert.pem"))
    text = text.replace("{key}", os.path.join(ddir, "key.pem"))
    text = text.replace("{address}", entry["address"])
    if entry["address6"]:
        text = text.replace("{address6}", entry["address6"])
    text = text.replace("{subnet}", lab.state["subnet"]).replace("{subnet6}", lab.state["subnet6"])
    return lab.render(text)


def _write(path, text, owner):
    with open(path, "w") as handle:
        handle.write(text)
    record = pwd.getpwnam(owner)
    os.chown(path, record.pw_uid, record.pw_gid)


def _prepare(lab, name, daemon, run):
    """Write the daemon's directory: configuration, extra files, a self-signed certificate; a cluster for PostgreSQL."""
    kind = daemon["kind"]
    conf_name, owner, _user = KINDS[kind]
    ddir = os.path.join(host_dir(lab, name), daemon_name(daemon))
    fresh = not os.path.isdir(ddir)
    if fresh:
        os.makedirs(ddir)
        record = pwd.getpwnam(owner)
        os.chown(ddir, record.pw_uid, record.pw_gid)
        os.chmod(ddir, 0o750 if kind == "postgresql" else 0o755)
        entry = lab.host(name)
        # A certificate for the host's names and addresses, as a site's own CA-less setup would have.
        san = ",".join(["DNS:" + name] + ["IP:" + a for a in (entry["address"], entry["address6"]) if a])
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-days", "30", "-subj", "/CN=%s" % name, "-addext", "subjectAltName=" + san,
             "-keyout", os.path.join(ddir, "key.pem"), "-out", os.path.join(ddir, "cert.pem")])
        for pem in ("key.pem", "cert.pem"):
            os.chown(os.path.join(ddir, pem), record.pw_uid, record.pw_gid)
        if kind == "mariadb":
            _write(os.path.join(ddir, conf_name), _render(lab, name, daemon["config"], ddir), owner)
            run(["mariadb-install-db", "--defaults-file=" + os.path.join(ddir, conf_name), "--user=mysql",
                 "--auth-root-authentication-method=socket", "--skip-test-db"], timeout=180)
        if kind == "postfix":
            shutil.copy("/usr/share/postfix/master.cf.dist", os.path.join(ddir, "master.cf"))
            os.makedirs(os.path.join(ddir, "spool"))
            os.makedirs(os.path.join(ddir, "data"))
            postfix = pwd.getpwnam("postfix")
            os.chown(os.path.join(ddir, "data"), postfix.pw_uid, postfix.pw_gid)
        if kind == "slapd":
            os.makedirs(os.path.join(ddir, "db"))
        if kind == "postgresql":
            data = os.path.join(ddir, "data")
            run(["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--",
                 os.path.join(PG_BIN, "initdb"), "--no-sync", "--auth=peer", "--username=postgres",
                 "--encoding=UTF8", "--locale=C", "-D", data], timeout=180)
    _write(os.path.join(ddir, conf_name), _render(lab, name, daemon["config"], ddir), owner)
    for file_name, text in sorted(daemon.get("files", {}).items()):
        _write(os.path.join(ddir, file_name), _render(lab, name, text, ddir), owner)
    return ddir


def _argv(kind, ddir, listen=()):
    conf = os.path.join(ddir, KINDS[kind][0])
    if kind == "nginx":
        return ["nginx", "-p", ddir + "/", "-e", os.path.join(ddir, "daemon.log"), "-c", conf, "-g", "daemon off;"]
    if kind == "haproxy":
        return ["haproxy", "-W", "-db", "-f", conf]
    if kind == "dnsmasq":
        return ["dnsmasq", "--keep-in-foreground", "--conf-file=" + conf, "--pid-file=" + os.path.join(ddir, "dnsmasq.pid"),
                "--log-facility=" + os.path.join(ddir, "dnsmasq.log")]
    if kind == "postgresql":
        return [os.path.join(PG_BIN, "postgres"), "-D", os.path.join(ddir, "data"), "-c", "config_file=" + conf]
    if kind == "mariadb":
        return ["mariadbd", "--defaults-file=" + conf, "--user=mysql"]
    if kind == "memcached":
        with open(conf) as handle:
            return ["memcached", "-u", "memcache"] + handle.read().split()
    if kind == "rabbitmq":
        return ["/usr/lib/rabbitmq/bin/rabbitmq-server"]
    if kind == "postfix":
        return ["/usr/sbin/postfix", "-c", ddir, "start-fg"]
    if kind == "dovecot":
        return ["dovecot", "-F", "-c", conf]
    if kind == "vsftpd":
        return ["vsftpd", conf]
    if kind == "ntpsec":
        return ["ntpd", "-n", "-g", "-c", conf, "-u", "ntpsec:ntpsec"]
    if kind == "slapd":
        _proto, address, port = _LISTEN.match(listen[0]).groups()
        return ["slapd", "-d", "0", "-h", "ldap://%s:%s/" % (address, port), "-f", conf]
    return ["redis-server", conf]


def _env(kind, ddir, listen):
    """The environment a daemon starts with (RabbitMQ takes its paths from it)."""
    if kind != "rabbitmq":
        return None
    addresses = sorted({_LISTEN.match(item).group(2).strip("[]") for item in listen})
    return dict(os.environ, RABBITMQ_CONFIG_FILE=os.path.join(ddir, "rabbitmq.conf"), HOME=ddir,
                RABBITMQ_MNESIA_BASE=os.path.join(ddir, "mnesia"), RABBITMQ_LOG_BASE=os.path.join(ddir, "log"),
                RABBITMQ_NODENAME="rabbit@localhost", RABBITMQ_PID_FILE=os.path.join(ddir, "rabbit.pid"),
                RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(ddir, "enabled_plugins"),
                ERL_EPMD_ADDRESS=",".join(addresses + ["127.0.0.1"]))


def _listening(lab, name):
    """{'tcp:ADDRESS:PORT', ...} listening now in the host's namespace (ss, numeric; IPv6 in brackets)."""
    out = lab.ns(name, ["ss", "-Hlntu"], timeout=30).stdout
    found = set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        address, _sep, port = fields[4].rpartition(":")
        address = address.split("%")[0]
        if address.startswith("[") and address.endswith("]"):
            address = "[%s]" % address[1:-1].split("%")[0]
        found.add("%s:%s:%s" % (fields[0], address, port))
    return found


def _wanted(lab, name, daemon, ddir):
    return [_render(lab, name, item, ddir) for item in daemon["listen"]]


def _log_tail(path):
    try:
        with open(path, errors="replace") as handle:
            return handle.read()[-2000:]
    except OSError:
        return "(no log)"


def _wait_listening(lab, name, daemon, ddir, proc_alive, wanted_gone=()):
    log = os.path.join(ddir, "daemon.log")
    wanted = _wanted(lab, name, daemon, ddir)
    end = time.monotonic() + START_WAIT
    while True:
        now = _listening(lab, name)
        if all(item in now for item in wanted) and not any(item in now for item in wanted_gone):
            return
        if not proc_alive():
            raise lab.Error("daemon %s (%s) on lab host %s ended before listening on %s: %s"
                            % (daemon_name(daemon), daemon["kind"], name, ", ".join(wanted), _log_tail(log)))
        if time.monotonic() > end:
            raise lab.Error("daemon %s (%s) on lab host %s does not listen on %s after %d s (listening: %s): %s"
                            % (daemon_name(daemon), daemon["kind"], name, ", ".join(sorted(set(wanted) - now)),
                               START_WAIT, ", ".join(sorted(now)), _log_tail(log)))
        time.sleep(0.1)


def start(lab, name, daemon, run):
    """Start DAEMON (a description entry) on lab host NAME; returns its main pid once it listens."""
    entry = lab.host(name)
    ddir = _prepare(lab, name, daemon, run)
    listen = _wanted(lab, name, daemon, ddir)
    argv = _argv(daemon["kind"], ddir, listen)
    user = KINDS[daemon["kind"]][2]
    if user:
        argv = ["setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups", "--"] + argv
    argv = ["nsenter", "--net=/run/netns/" + entry["netns"]] + argv
    with open(os.path.join(ddir, "daemon.log"), "a") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                cwd=ddir, env=_env(daemon["kind"], ddir, listen))
    lab.state["processes"].append(proc.pid)
    entry.setdefault("daemons", {})[daemon_name(daemon)] = {"pid": proc.pid, "kind": daemon["kind"], "dir": ddir,
                                                            "spec": daemon}
    lab.save()
    _wait_listening(lab, name, daemon, ddir, lambda: proc.poll() is None)
    return proc.pid


def children(pid):
    """The pids whose parent is PID."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry))
    return found


def reconfigure(lab, name, daemon_name_, config=None, files=None, listen=None, restart=False, run=None):
    """Give a running daemon a new configuration (and files) as its operators would: nginx and
    haproxy reload in place (signal to the main process; returns once every old worker is gone and
    the new ones run), the others (or ``restart=True``) are stopped and started again. ``listen``:
    what it listens on with the new configuration, when that differs."""
    entry = lab.host(name)
    record = entry["daemons"][daemon_name_]
    daemon = dict(record["spec"])
    if config is not None:
        daemon["config"] = config
    if files is not None:
        daemon["files"] = dict(daemon.get("files", {}), **files)
    if listen is not None:
        daemon["listen"] = list(listen)
    if restart or daemon["kind"] not in RELOAD_SIGNALS:
        stop(lab, name, daemon_name_)
        return start(lab, name, daemon, run)
    _prepare(lab, name, daemon, run)
    record["spec"] = daemon
    lab.save()
    pid = record["pid"]
    old = set(children(pid))
    log = os.path.join(record["dir"], "daemon.log")
    logged = os.path.getsize(log)
    os.kill(pid, RELOAD_SIGNALS[daemon["kind"]])
    end = time.monotonic() + START_WAIT
    while True:
        now = set(children(pid))
        if now and not now & old:
            break
        with open(log, errors="replace") as handle:
            handle.seek(logged)
            refused = _RELOAD_REFUSED.search(handle.read())
        if refused or not lab._alive(pid) or time.monotonic() > end:
            raise lab.Error("daemon %s on lab host %s did not reload (workers before %s, now %s): %s"
                            % (daemon_name_, name, sorted(old), sorted(now), _log_tail(os.path.join(record["dir"], "daemon.log"))))
        time.sleep(0.1)
    _wait_listening(lab, name, daemon, record["dir"], lambda: lab._alive(pid))
    return pid


def stop(lab, name, daemon_name_):
    """End a daemon by its recorded main pid (it ends its workers), and wait until they are gone."""
    record = lab.host(name)["daemons"].pop(daemon_name_)
    workers = children(record["pid"])
    lab._end_pids([record["pid"]], grace=10.0)
    lab._end_pids([pid for pid in workers if lab._alive(pid)], grace=1.0)
    lab.save()


def down(entry):
    """Remove the host's daemon directory (every process of the host has ended); the errors, if any."""
    ddir = entry.get("daemon_dir")
    if not ddir:
        return []
    shutil.rmtree(ddir, ignore_errors=True)
    if os.path.exists(ddir):
        return ["daemon directory %s could not be removed" % ddir]
    entry["daemon_dir"] = None
    return []
