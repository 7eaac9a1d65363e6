#!/usr/bin/python
# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: port_probe
short_description: Probe many TCP and UDP ports at once from this host and check what answers
version_added: 0.1.0
description:
  - Runs on the source host (the host the connection must come from) and probes every target
    at the same time, with the standard library only (one selector loop for connects, UDP and
    plain banner checks; threads for TLS, HTTP and SSH checks; never a process per probe).
  - Each target has its own O(targets[].timeout); the whole run lasts about the largest of
    them, not their sum.
  - Names are resolved on this host, and the address that was probed is returned.
  - The outcome of each probe is one of C(open), C(refused) (TCP reset, or ICMP port
    unreachable, which is also what a firewall C(reject) rule sends by default),
    C(timeout) (silently dropped, or accepted but the response did not complete before the
    deadline, then RV(probes[].connected) is V(true)), C(unreachable) (no route, ICMP net or host
    unreachable, ICMP administratively prohibited), C(dns_error) (the name did not resolve here),
    C(open_filtered) (UDP only, no reply and no ICMP error came; never reported as C(open)), and
    C(error) (a local failure such as no free descriptor, or a local firewall denying the
    connection, named in RV(probes[].reason)).
  - Response checks, each reported as its own entry with a status of C(pass), C(fail),
    C(error), C(unavailable) or C(skip) plus the expected and actual values; TCP banner and
    send/expect, UDP request/reply, HTTP(S) status, body and JMESPath over a JSON body, TLS
    chain, host name, days left and protocol version, SSH host key and offered authentication
    methods, and connect or response latency against O(targets[].max_ms).
  - O(load) runs many requests against one target with a given concurrency and returns the
    latency distribution; O(wait) retries until every probe holds.
  - The module never changes anything. No credential given to it (HTTP header values, basic
    authentication password, TLS client key) is returned.
author:
  - portproof.validate contributors (@portproof)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - portproof.validate.probe_guard
attributes:
  check_mode:
    support: full
    details: Probing changes nothing, so check mode probes as well.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
notes:
  - "JMESPath: O(targets[].http.json_query) is evaluated on the probing host when the C(jmespath)
    library imports there (the check entry says C(evaluated_on: target)). Otherwise the module
    returns the parsed JSON body (bodies up to 64 KiB) in RV(probes[].http.json) and marks the
    entry C(skip) with C(evaluated_on: controller); the action plugin of this module then
    evaluates it on the controller, which has C(jmespath) as a requirement of this collection, and
    replaces the entry with its verdict. So targets need nothing beyond the standard library. With
    O(wait), an expression deferred to the controller is evaluated once, after the wait."
  - "SSH checks use C(paramiko) on the probing host. Where it does not import, the SSH check
    entries are C(unavailable) (with the reason) and the server's version line is still returned
    in RV(probes[].ssh.banner); the module does not fail. The authentication methods are learnt
    with a C(none) authentication request for O(targets[].ssh.user), so no credential is sent;
    the server logs a connection closed during authentication."
  - "TLS: each target is verified against the system CA store or only O(targets[].tls.ca). When the
    chain does not verify, the certificate is read over a second, unverified connection so that
    its names and dates are still reported, and nothing (no HTTP request, no O(targets[].send))
    is sent to that server."
  - "TLS chain as presented: over one more connection, the module sends a ClientHello of its own
    that offers TLS 1.2 at most (with SNI and the OCSP status_request extension) and reads the
    server's answer in clear up to ServerHelloDone, then closes without a key exchange: the
    certificates in the order the server sends them and whether it staples an OCSP response
    (RV(probes[].tls.chain), RV(probes[].tls.ocsp_stapled)). Python's ssl shows only the leaf.
    A server that speaks TLS 1.3 only sends its certificates encrypted: the chain is then not
    visible (RV(probes[].tls.chain_note) says so) and the leaf of the normal handshake stands in.
    When the normal handshake fails because the server speaks only a protocol this host's
    OpenSSL refuses (TLS 1.1), that answer names the version, and C(tls_version) fails with it."
  - "UDP: one datagram is sent (O(targets[].send), O(targets[].send_hex), or an empty one). A reply
    makes the port C(open); an ICMP error makes it C(refused) or C(unreachable); silence makes it
    C(open_filtered). Linux rate-limits ICMP errors sent to one peer (about 6 in a burst, then 1
    per second by default, see C(net.ipv4.icmp_ratelimit)), so many UDP probes to closed ports of one
    host can see some of them as C(open_filtered)."
  - "Regular expressions (O(targets[].expect), O(targets[].http.body)) are matched against at most 1 MiB of
    what came back, each match within 1 s (less when the probe has less time left), in a helper process of
    this host's Python that is killed at the limit and may use 128 MiB of memory; a pattern that does not
    finish in time or needs more memory is an C(error) entry that blames the pattern, not the service. A
    helper that cannot start (within 5 s, not charged to any pattern) makes these checks C(error) entries
    naming the interpreter."
  - "Secrets sent (O(targets[].http.headers) values, O(targets[].http.password)) are masked as C(********)
    in everything returned, in every form a service could send back (base64 of C(user:password), bearer
    tokens, cookie values; each also JSON-escaped, HTML-escaped and percent-encoded), and registered with
    Ansible's no-log masking."
  - "At most 256 TLS, HTTP or SSH checks run at once; further targets of that kind start (and start
    their timeout) when one ends. Plain probes are only limited by the number of open files, which
    the module raises up to the hard limit."
  - "Latency: RV(probes[].latency_ms) is the TCP connect time (the UDP reply time for UDP) and
    RV(probes[].total_ms) the time from the connection attempt to the end of the last response
    check. O(targets[].max_ms) applies to the latter when the target has response checks, else to
    the former."
seealso:
  - module: ansible.builtin.wait_for
    description: Waits for one port at a time; C(port_probe) probes many at once and tells the outcomes apart.
options:
  targets:
    description:
      - What to probe, from this host. One result per target is returned, in this order.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - A label returned with the result, for example the service name.
        type: str
      host:
        description:
          - Host name or IP address. Names are resolved on this host.
        type: str
        required: true
      port:
        description:
          - Port number, 1 to 65535.
        type: int
        required: true
      proto:
        description:
          - Transport protocol.
        type: str
        choices: [tcp, udp]
        default: tcp
      family:
        description:
          - Address family to resolve O(targets[].host) to. V(any) takes the first address the resolver returns.
        type: str
        choices: [any, ipv4, ipv6]
        default: any
      timeout:
        description:
          - Seconds this probe may take in all, from the start of resolution to the end of its last check.
        type: float
        default: 5.0
      send:
        description:
          - Text (sent as UTF-8) to send once connected (TCP) or as the datagram (UDP).
          - Mutually exclusive with O(targets[].send_hex), O(targets[].http) and O(targets[].ssh).
        type: str
      send_hex:
        description:
          - Bytes to send, in hexadecimal (spaces allowed), for binary protocols such as DNS or NTP over UDP.
        type: str
      expect:
        description:
          - Regular expression (Python syntax, searched) that the TCP banner or reply, or the UDP
            reply, must match. Without O(targets[].send) the TCP banner is read.
          - Over TLS when O(targets[].tls) is given.
        type: str
      expect_reply:
        description:
          - UDP only. Whether a reply is required (a C(reply) check). Defaults to V(true) when
            O(targets[].expect) is given, else V(false) (then a reply still makes the port C(open)).
        type: bool
      max_ms:
        description:
          - Upper limit in milliseconds for the full response (when the target has response
            checks) or for the TCP connect (the UDP reply) otherwise.
        type: float
      protocol:
        description:
          - Identify the protocol that really answers (a C(protocol) check and RV(probes[].protocol)) with a
            credential-free handshake that logs in nowhere and changes nothing, for example PostgreSQL's SSLRequest,
            Redis C(PING), memcached C(version), an LDAP root DSE read, or the greeting of a server that speaks first
            (SSH, MySQL/MariaDB, SMTP, IMAP, POP3, FTP).
          - The check passes when the port answers as this protocol, and fails naming what answered instead
            (C(5432/tcp answers as redis, not postgres)) or that nothing recognisable answered, with an excerpt.
          - V(dns) over O(targets[].proto) V(udp) or V(tcp), V(ntp) over V(udp) only, the others over V(tcp).
          - Mutually exclusive with O(targets[].send), O(targets[].send_hex), O(targets[].expect),
            O(targets[].expect_reply), O(targets[].http), O(targets[].tls) and O(targets[].ssh).
        type: str
        choices: [http, tls, ssh, postgres, mysql, redis, memcached, mongodb, amqp, smtp, imap, pop3, ftp, dns, ntp, ldap, kafka]
        version_added: 0.1.0
      http:
        description:
          - Send one HTTP request and check the response. Speaks HTTPS when O(targets[].tls) is given.
        type: dict
        suboptions:
          method:
            description: HTTP method.
            type: str
            default: GET
          path:
            description: Request target, starting with C(/).
            type: str
            default: /
          headers:
            description:
              - Extra request headers. Their values are treated as secrets, never returned; Ansible masks them wherever
                they would appear in the task output.
            type: dict
          status:
            description: Accepted status codes.
            type: list
            elements: int
            default: [200]
          body:
            description: Regular expression the response body must match (searched).
            type: str
          json_query:
            description:
              - JMESPath expression over the JSON body; passes when the result is true in JMESPath
                terms (not false, null or empty). See the notes for where it is evaluated.
            type: str
          user:
            description: User name for HTTP basic authentication.
            type: str
          password:
            description: Password for HTTP basic authentication.
            type: str
          data:
            description: Request body (sent as UTF-8, with a Content-Length header).
            type: str
          host_header:
            description: Value of the Host header; defaults to O(targets[].host) and the port when not the default one.
            type: str
          max_body:
            description: Bytes of response body read at most; a longer body is truncated (and cannot be parsed as JSON).
            type: int
            default: 1048576
      tls:
        description:
          - Do a TLS handshake once connected and check the certificate and protocol. Applies to
            O(targets[].http) (HTTPS) and O(targets[].send)/O(targets[].expect) when given.
        type: dict
        suboptions:
          verify:
            description: Verify the certificate chain (C(tls_verify) check).
            type: bool
            default: true
          ca:
            description: CA bundle file on this host to verify against instead of the system CA store.
            type: path
          hostname:
            description:
              - Name sent as SNI and matched against the certificate; defaults to O(targets[].host) (not sent as SNI when it is an IP address).
            type: str
          check_hostname:
            description: Match the host name against the certificate's subject alternative names (C(tls_hostname) check).
            type: bool
            default: true
          min_days:
            description: Minimum whole days before the certificate expires (C(tls_days) check).
            type: int
          min_version:
            description: Lowest acceptable negotiated protocol version (C(tls_version) check).
            type: str
            choices: [TLSv1, TLSv1.1, TLSv1.2, TLSv1.3]
          client_cert:
            description: Client certificate file on this host (PEM), for servers that require one.
            type: path
          client_key:
            description: Private key file of O(targets[].tls.client_cert), when not in the same file.
            type: path
      ssh:
        description:
          - Check an SSH server through paramiko (see the notes).
        type: dict
        suboptions:
          user:
            description: User name for the C(none) authentication request that lists the offered methods.
            type: str
            default: portproof
          host_key:
            description: Accepted host key fingerprints, C(SHA256:...) as printed by C(ssh-keygen -lf).
            type: list
            elements: str
          auth_methods:
            description:
              - Authentication methods the server may offer; offering any other one fails the
                C(ssh_auth_methods) check (for example V([publickey]) fails on a server that offers V(password)).
            type: list
            elements: str
  resolve:
    description:
      - Resolve names on this host the way its clients resolve them (C(getaddrinfo), that is C(/etc/hosts), the
        resolver and search domains of C(/etc/resolv.conf), as C(/etc/nsswitch.conf) orders them), while the
        targets are probed; RV(resolved) gives each answer. With it, O(targets) may be empty.
      - Each name is resolved on a thread of its own; one that has no answer after O(resolve.timeout) seconds is
        reported as V(timeout) and abandoned, so the run stays bounded.
    type: dict
    version_added: 0.1.0
    suboptions:
      names:
        description: The names, each resolved once.
        type: list
        elements: str
        required: true
      timeout:
        description: Seconds to wait for all the answers.
        type: float
        default: 5.0
  load:
    description:
      - Put the single target of O(targets) under load after probing it. Each request is a TCP
        connect, or the target's full check (TLS, HTTP, send/expect) when it has one, bounded by
        its timeout; a request whose probe does not hold counts as an error.
    type: dict
    suboptions:
      requests:
        description:
          - "Number of requests, at most O(load.max_requests), and at most half of the probing host's ephemeral
            port range (C(net.ipv4.ip_local_port_range)): each request takes a local port, which stays in
            C(TIME_WAIT) for a minute after it closes. More is refused before anything is sent, naming the limit."
        type: int
        default: 100
      concurrency:
        description: Requests in flight at once (one thread each), at most O(load.max_concurrency).
        type: int
        default: 10
      max_requests:
        description: Cap of O(load.requests); raise it on purpose to run more (role variable C(portproof_load_max_requests)).
        type: int
        default: 10000
      max_concurrency:
        description: Cap of O(load.concurrency); raise it on purpose to run more (role variable C(portproof_load_max_concurrency)).
        type: int
        default: 100
      deadline:
        description:
          - Seconds the whole load run may take (role variable C(portproof_load_deadline)). When it passes, no
            further request starts, the requests in flight are ended, and a failing C(load_deadline) check
            gives the counts so far.
        type: float
        default: 60.0
      p95_ms:
        description: Upper limit for the 95th percentile latency of the successful requests (C(load_p95) check).
        type: float
      max_errors:
        description: Failed requests tolerated (C(load_errors) check).
        type: int
        default: 0
  wait:
    description:
      - Retry the probes that do not hold (state C(open) and no failing check) every
        O(wait.interval) seconds until all hold or O(wait.timeout) seconds have passed. No
        attempt outlives the wait. The module does not fail when the wait ends without success;
        RV(wait.held) says so.
    type: dict
    suboptions:
      timeout:
        description: Seconds to keep retrying.
        type: float
        default: 60.0
      interval:
        description: Seconds between rounds.
        type: float
        default: 1.0
  first_answer:
    description:
      - For asking what answers on a port, with several targets of the same O(targets[].host), O(targets[].port) and
        O(targets[].proto) V(tcp), each with another O(targets[].protocol). Once one of them is answered by its own
        protocol, the others of that port that are connected and still waiting for an answer get three times as
        long as that answer took (at least 0.25 seconds), not their whole O(targets[].timeout). One that has no
        answer by then ends with state C(open), its C(protocol) check C(skip), and a reason naming the protocol
        that answered. A server that does not answer some handshakes (an HTTP server offered a TLS greeting, or
        none) then no longer keeps the run until the timeout.
      - A second protocol that answers within that time is still reported; one that would answer later is not.
    type: bool
    default: false
    version_added: 0.1.0
"""

EXAMPLES = r"""
- name: Probe the database, the web front and the DNS server from the application host
  portproof.validate.port_probe:
    targets:
      - {name: postgres, host: "{{ hostvars['db1']['ansible_host'] }}", port: 5432, timeout: 2, max_ms: 500}
      - name: web
        host: "{{ hostvars['web1']['ansible_host'] }}"
        port: 8080
        http: {path: /health, status: [200], json_query: "status == 'ok'"}
      - name: dns
        host: "{{ hostvars['db1']['ansible_host'] }}"
        port: 53
        proto: udp
        send_hex: "abcd01000001000000000000076578616d706c6503636f6d0000010001"
        expect: "."
  register: probe

- name: Resolve the names the clients of the database use, from this host
  portproof.validate.port_probe:
    targets: []
    resolve: {names: [db.internal, postgres.prod.example.com], timeout: 2}
  register: names

- name: Fail when any probe did not hold
  ansible.builtin.assert:
    that: probe.ok
    fail_msg: "{{ probe.probes | rejectattr('ok') | map(attribute='name') | list }}"

- name: HTTPS with a certificate for the name, valid two more weeks, TLS 1.2 or newer
  portproof.validate.port_probe:
    targets:
      - host: www.example.com
        port: 443
        tls: {min_days: 14, min_version: TLSv1.2}
        http: {path: /, status: [200, 301, 302]}

- name: SSH must offer public keys only, with the host key on record
  portproof.validate.port_probe:
    targets:
      - host: "{{ ansible_host }}"
        port: 22
        ssh: {auth_methods: [publickey], host_key: ["SHA256:2Hc6pGp3xWx8pKy0bJx7yHgG2b6xq0H0d0RkIYyTqE0"]}

- name: The web front answers within 250 ms at p95 under 20 concurrent requests
  portproof.validate.port_probe:
    targets:
      - {host: "{{ hostvars['web1']['ansible_host'] }}", port: 8080, http: {path: /health}}
    load: {requests: 400, concurrency: 20, p95_ms: 250, max_errors: 0}
  register: web_load
  failed_when: not web_load.ok

- name: Wait for a restarted service to answer again
  portproof.validate.port_probe:
    targets:
      - {host: 127.0.0.1, port: 6379, send: "PING\r\n", expect: "^\\+PONG", timeout: 1}
    wait: {timeout: 60, interval: 2}
  register: redis
  failed_when: not redis.wait.held
"""

RETURN = r"""
probes:
  description: One result per target, in the order of O(targets).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The label given in O(targets[].name).
      type: str
      sample: postgres
    host:
      description: The host as given.
      type: str
      sample: db1.internal
    port:
      description: The port.
      type: int
      sample: 5432
    proto:
      description: V(tcp) or V(udp).
      type: str
      sample: tcp
    state:
      description: The outcome, see the description.
      type: str
      sample: open
    reason:
      description: Why the probe ended as it did when not simply C(open), for example C(Connection refused (ECONNREFUSED)).
      type: str
      sample: "No route to host (EHOSTUNREACH)"
    phase:
      description: Where the outcome was decided, V(resolve), V(connect) or V(response).
      type: str
      sample: connect
    connected:
      description: Whether the TCP connection was established (for UDP, whether a reply came).
      type: bool
      sample: true
    resolved:
      description: The address that was probed, as resolved on this host.
      type: str
      sample: 10.1.0.7
    addresses:
      description: Every address the name resolved to here.
      type: list
      elements: str
      sample: [10.1.0.7]
    family:
      description: V(ipv4) or V(ipv6), null when the name did not resolve.
      type: str
      sample: ipv4
    latency_ms:
      description: TCP connect time (UDP reply time) in milliseconds, null when not connected.
      type: float
      sample: 0.412
    total_ms:
      description: Milliseconds from the connection attempt to the outcome (end of the last response check).
      type: float
      sample: 3.981
    response:
      description:
        - The response checks of this target, in the order they run.
        - Names are C(expect), C(send), C(reply), C(tls_handshake), C(tls_verify), C(tls_hostname), C(tls_days),
          C(tls_version), C(http_status), C(http_body), C(http_json), C(ssh_handshake), C(ssh_host_key),
          C(ssh_auth_methods), C(protocol) and C(max_ms).
      type: list
      elements: dict
      contains:
        name:
          description: The check.
          type: str
        status:
          description: V(pass), V(fail), V(error), V(unavailable) or V(skip).
          type: str
        expected:
          description: What the check wanted.
          type: raw
        actual:
          description: What was seen.
          type: raw
        message:
          description: The verdict in words.
          type: str
        evaluated_on:
          description: C(http_json) only, V(target) or V(controller).
          type: str
      sample:
        - {name: http_status, status: pass, expected: [200], actual: 200, message: "GET /health answered 200 OK"}
    ok:
      description: State C(open) and no check failed, errored or was unavailable.
      type: bool
      sample: true
    attempts:
      description: How many times the target was probed (more than 1 with O(wait)).
      type: int
      sample: 1
    reply:
      description: TCP banner/reply or UDP reply received (bytes and a text excerpt).
      type: dict
      returned: when something was received for O(targets[].expect) or from UDP
      sample: {bytes: 7, excerpt: "+PONG\r\n"}
    protocol:
      description:
        - With O(targets[].protocol), the identification; absent otherwise.
      type: dict
      version_added: 0.1.0
      contains:
        expected:
          description: The protocol asked for.
          type: str
        answered:
          description: The protocol that answered, null when nothing recognisable did.
          type: str
        verdict:
          description: V(pass) or V(fail).
          type: str
        excerpt:
          description: The start of what the port sent (at most 120 characters), null when it sent nothing.
          type: str
        bytes:
          description: How many bytes the port sent.
          type: int
        message:
          description: The verdict in words.
          type: str
      sample: {expected: postgres, answered: redis, verdict: fail, excerpt: "-ERR unknown command ...", bytes: 38,
               message: "5432/tcp answers as redis, not postgres"}
      returned: when O(targets[].protocol) is given
    tls:
      description: Negotiated protocol and cipher, and the server certificate (subject, issuer, serial,
        not_before, not_after, days_left, dns_names, ip_addresses, sha256), whether it verified,
        the chain as presented and OCSP stapling.
      type: dict
      returned: when a TLS handshake completed, or failed while the server answered a TLS 1.2 ClientHello
      contains:
        protocol:
          description: The negotiated protocol (C(version) holds the same, kept for compatibility); when
            the handshake failed (C(handshake=failed)), the version the server chose for a TLS 1.2 ClientHello.
          type: str
          sample: TLSv1.3
        cipher:
          description: The negotiated cipher suite (OpenSSL name).
          type: str
          sample: TLS_AES_256_GCM_SHA384
        chain:
          description: The certificates as the server presents them, leaf first (subject, issuer,
            not_after, sha256); only the leaf of the normal handshake when C(chain_visible) is false.
          type: list
          elements: dict
          sample:
            - {subject: "CN=web.example.com", issuer: "CN=Example Intermediate", not_after: "2027-02-04T20:14:00Z", sha256: "2d39...4fa"}
            - {subject: "CN=Example Intermediate", issuer: "CN=Example Root", not_after: "2031-12-05T19:07:29Z", sha256: "b739...884"}
        chain_visible:
          description: Whether C(chain) is what the server sent (its answer to a TLS 1.2 ClientHello).
          type: bool
        chain_note:
          description: "Why the chain is not visible, for example C(chain not visible: the server speaks TLS 1.3 only (...))."
          type: str
          returned: when C(chain_visible) is false
        ocsp_stapled:
          description: Whether the server stapled an OCSP response (TLS 1.2 CertificateStatus); null when not known.
          type: bool
    http:
      description: Method, path, status, reason, version, a few response headers (content-type,
        content-length, location, server), body size and excerpt.
      type: dict
      returned: when an HTTP response was read
      contains:
        json:
          description: The parsed JSON body, when the JMESPath check is left to the controller.
          type: raw
          returned: when jmespath does not import on the probing host
    ssh:
      description: What the SSH server showed.
      type: dict
      returned: when an SSH server answered
      contains:
        banner:
          description: The server's version line.
          type: str
          sample: SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3
        key_type:
          description: Host key algorithm negotiated (paramiko prefers ssh-ed25519).
          type: str
          returned: when paramiko is available
        fingerprint:
          description: Host key fingerprint, C(SHA256:...) as C(ssh-keygen -lf) prints it.
          type: str
          returned: when paramiko is available
        auth_methods:
          description: Authentication methods the server offers.
          type: list
          elements: str
          returned: when paramiko is available
resolved:
  description:
    - With O(resolve), the answer for each name, in the order of O(resolve.names).
  returned: when O(resolve) is given
  type: list
  elements: dict
  version_added: 0.1.0
  contains:
    name:
      description: The name.
      type: str
    addresses:
      description: The addresses it resolved to, in the order C(getaddrinfo) gave them (the order a client tries
        them); null when it did not resolve.
      type: list
      elements: str
    error:
      description:
        - Null when it resolved, else V(nxdomain) (C(EAI_NONAME), the name does not exist), V(servfail)
          (C(EAI_AGAIN), the server failed or did not answer), V(no_address) (C(EAI_NODATA), the name has
          no address), V(timeout) (no answer within O(resolve.timeout)), or V(other).
      type: str
    reason:
      description: The resolver's words for the error, with its C(EAI_*) name.
      type: str
    ms:
      description: Milliseconds the lookup took; null after a timeout.
      type: float
  sample:
    - {name: db.internal, addresses: [10.0.0.11], error: null, reason: null, ms: 1.2}
    - {name: cache.internal, addresses: null, error: nxdomain, reason: "Name or service not known (EAI_NONAME)", ms: 0.9}
load:
  description: The load run, with its C(load_errors) and C(load_p95) checks.
  returned: when O(load) is given
  type: dict
  sample:
    host: api.internal
    port: 8080
    requests: 400
    concurrency: 20
    completed: 400
    errors: 0
    error_kinds: {}
    error_samples: []
    p50_ms: 3.1
    p95_ms: 8.4
    max_ms: 21.7
    min_ms: 1.2
    mean_ms: 3.9
    duration_ms: 812.5
    rate_per_s: 492.3
    ok: true
    checks:
      - {name: load_errors, status: pass, expected: "<= 0", actual: 0, message: "0 of 400 requests failed"}
wait:
  description: How the wait went.
  returned: when O(wait) is given
  type: dict
  sample: {held: true, rounds: 3, timeout: 60.0, interval: 2.0, elapsed_ms: 4210.3}
  contains:
    held:
      description: Every probe held before the deadline.
      type: bool
    rounds:
      description: Rounds of probing done.
      type: int
    elapsed_ms:
      description: Time the wait took.
      type: float
ok:
  description: Every probe holds (and the load checks pass).
  returned: always
  type: bool
  sample: false
elapsed_ms:
  description: Time the module spent probing, in milliseconds.
  returned: always
  type: float
  sample: 1004.2
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.portproof.validate.plugins.module_utils._probe._argspec import ARGUMENT_SPEC
from ansible_collections.portproof.validate.plugins.module_utils._probe._run import run, secrets_of
from ansible_collections.portproof.validate.plugins.module_utils._probe._target import ProbeConfigError


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        # Ansible masks exact values only: register every derived form (base64 of user:password,
        # whole header lines, bearer tokens, cookie values) as well.
        module.no_log_values.update(secrets_of(module.params))
        result = run(module.params)
    except ProbeConfigError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
