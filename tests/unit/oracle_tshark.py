#!/usr/bin/env python3
"""oracle_tshark.py PROTO CAPTURE DB [--decode-as SPEC] [--except RULE]...

Compares what `flightrec analyze CAPTURE -o DB` found with an independent
decoder of the same capture:

  http   tshark's HTTP dissector: requests (http.request.method,
         http.request.uri) and responses (http.response.code, paired with
         their request by http.request_in); Host and Content-Length against
         the body bytes, for messages alone in their frame.
  dns    tshark's DNS dissector: queries (dns.id, dns.qry.name,
         dns.qry.type) and responses (the same, dns.flags.rcode and
         dns.count.answers).
  redis  tshark reassembles the TCP streams (tcp.seq_raw, tcp.payload); the
         RESP reader below (written from https://redis.io/docs/latest/
         develop/reference/protocol-spec/, sharing no code with
         analyze/protocols/redis.c) splits them into commands (name, first
         argument, argument count) and replies (type and error text of the
         first reply to each).  Wireshark 4.0's own `resp` dissector is not
         used for commands: it has no command field, flattens nested arrays
         into one field list, and does not decode inline commands
         ("PING\\r\\n") at all; its error replies (resp.error) are compared.
  kafka  tshark's Kafka dissector (needs --decode-as off port 9092):
         requests (correlation id, api key, api version, client id) and
         responses (correlation id, whether any error code is non-zero),
         a response being a frame from the broker's port.  Wireshark 4.0
         stops decoding bodies at the versions it knows (Produce v8, Fetch
         v11, ...), but its header fields are still right.

--decode-as SPEC is passed to tshark as -d SPEC (a capture on an odd port).
--except RULE switches on one documented difference (see EXCEPTIONS in
tests/unit/pcap_oracle_analyze.sh):
  http-1xx   tshark's interim 1xx responses are not counted.

Prints one summary line and exits 0 on agreement; else prints the
differences and exits 1.
"""
import argparse
import collections
import sqlite3
import subprocess
import sys


def tshark(cap, decode_as, display, fields):
    cmd = ['tshark', '-n', '-r', cap, '-Y', display, '-T', 'fields', '-E', 'separator=\t',
           '-E', 'occurrence=a', '-E', 'aggregator=\x1f']
    for d in decode_as:
        cmd += ['-d', d]
    for f in fields:
        cmd += ['-e', f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, errors='surrogateescape').stdout
    rows = []
    for line in out.splitlines():
        cols = line.split('\t')
        cols += [''] * (len(fields) - len(cols))
        rows.append([c.split('\x1f') if c else [] for c in cols])
    return rows


def diff(what, theirs, ours):
    """Multiset difference of two lists, as printable lines."""
    a, b = collections.Counter(theirs), collections.Counter(ours)
    lines = []
    for k in sorted(set(a) | set(b), key=repr):
        if a[k] != b[k]:
            lines.append(f"  {what} {k!r}: tshark {a[k]}, flightrec {b[k]}")
    return lines


# ---- HTTP -------------------------------------------------------------------

def http(cap, db, decode_as, exc):
    reqs, resps, byframe, detail = [], [], {}, []
    for frame, meth, uri, code, req_in, host, clen in tshark(
            cap, decode_as, 'http.request || http.response',
            ['frame.number', 'http.request.method', 'http.request.uri', 'http.response.code',
             'http.request_in', 'http.host', 'http.content_length']):
        for m, u in zip(meth, uri):
            reqs.append((m, u))
            byframe.setdefault(int(frame[0]), []).append((m, u))
        for i, c in enumerate(code):
            if 'http-1xx' in exc and c.startswith('1'):
                continue
            r = byframe.get(int(req_in[i]), [None])[0] if i < len(req_in) else None
            resps.append((r[0] if r else None, r[1] if r else None, int(c)))
        # Host and Content-Length belong to their message only when the
        # frame holds one message (tshark's field lists have no gaps)
        if len(meth) + len(code) == 1:
            if meth:
                detail.append(('request', meth[0], uri[0], 'host', host[0] if host else None))
            key = ('request',) + reqs[-1] if meth else ('response',) + resps[-1] if resps and code[0][0] != '1' else None
            if key and clen:
                detail.append(key + ('body bytes', int(clen[0])))
    h = sqlite3.connect(db)
    rows = h.execute("SELECT h.method, h.path, h.status, h.host, h.req_body_bytes, h.resp_body_bytes "
                     "FROM requests r JOIN http h ON h.request_id = r.id ORDER BY r.id").fetchall()
    ours_req = [(m, p) for m, p, s, *_ in rows if m is not None]
    ours_resp = [(m, p, s) for m, p, s, *_ in rows if s is not None]
    ours_detail = []
    for m, p, s, host, qb, rb in rows:
        if m is not None:
            ours_detail += [('request', m, p, 'host', host), ('request', m, p, 'body bytes', qb)]
        if s is not None:
            ours_detail.append(('response', m, p, s, 'body bytes', rb))
    # only the details tshark could tell: the same keys as its own
    keys = {d[:-1] for d in detail}
    ours_detail = [d for d in ours_detail if d[:-1] in keys]
    out = diff('request', reqs, ours_req) + diff('response', resps, ours_resp) + \
        diff('detail', detail, ours_detail)
    return out, len(reqs) + len(resps), (f"{len(reqs)} requests, {len(resps)} responses (method, uri, status; "
                                         f"{len(detail)} hosts and Content-Lengths) agree with tshark")


# ---- DNS --------------------------------------------------------------------

QTYPES = {1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 15: 'MX', 16: 'TXT', 28: 'AAAA',
          33: 'SRV', 35: 'NAPTR', 43: 'DS', 46: 'RRSIG', 48: 'DNSKEY', 64: 'SVCB', 65: 'HTTPS',
          252: 'AXFR', 255: 'ANY', 257: 'CAA'}
RCODES = {0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED'}


def dns(cap, db, decode_as, exc):
    queries, resps = [], []
    for ids, isresp, names, types, rcodes, ancounts in tshark(
            cap, decode_as, 'dns', ['dns.id', 'dns.flags.response', 'dns.qry.name', 'dns.qry.type',
                                    'dns.flags.rcode', 'dns.count.answers']):
        rc = iter(rcodes)
        for i, txid in enumerate(ids):
            # one question per message in these captures; a message without
            # one shows as a missing name
            name = names[i] if i < len(names) else None
            t = int(types[i]) if i < len(types) else None
            key = (int(txid, 16), name, QTYPES.get(t, f'TYPE{t}'))
            if isresp[i] == '1':
                r = int(next(rc, -1))
                an = int(ancounts[i]) if i < len(ancounts) else None
                resps.append(key + (RCODES.get(r, f'RCODE{r}'), an))
            else:
                queries.append(key)
    h = sqlite3.connect(db)
    rows = h.execute("SELECT d.txid, d.qname, d.qtype, d.rcode, d.answer_count, r.reason FROM requests r "
                     "JOIN dns d ON d.request_id = r.id ORDER BY r.id").fetchall()
    ours_q = [(t, n, q) for t, n, q, rc, an, why in rows if not (why or '').startswith('response without')]
    ours_r = [(t, n, q, rc, an) for t, n, q, rc, an, why in rows if rc is not None]
    out = diff('query', queries, ours_q) + diff('response', resps, ours_r)
    return out, len(queries) + len(resps), f"{len(queries)} queries, {len(resps)} responses (id, name, type, rcode, answer count) agree with tshark"


# ---- Redis ------------------------------------------------------------------

def streams(cap, decode_as):
    """{(client, server): [client->server bytes, server->client bytes]} for
    every TCP stream with payload, the server being the endpoint on a
    server port (6379 or a --decode-as port)."""
    ports = {6379}
    for d in decode_as:
        if d.startswith('tcp.port=='):
            ports.add(int(d.split('==')[1].split(',')[0]))
    st = {}
    for s, src, src6, dst, dst6, sp, dp, seq, syn, pay in tshark(
            cap, [], 'tcp', ['tcp.stream', 'ip.src', 'ipv6.src', 'ip.dst', 'ipv6.dst', 'tcp.srcport',
                             'tcp.dstport', 'tcp.seq_raw', 'tcp.flags.syn', 'tcp.payload']):
        a = ((src or src6)[0], int(sp[0]))
        b = ((dst or dst6)[0], int(dp[0]))
        c = st.setdefault(int(s[0]), {'eps': (a, b), 'base': {}, 'd': {}})
        seq = int(seq[0])
        if syn[0] == '1':
            c['base'][a] = seq + 1
            continue
        if not pay:
            continue
        base = c['base'].setdefault(a, seq)
        pos = (seq - base) % (1 << 32)
        if pos >= 1 << 31:
            continue
        d = c['d'].setdefault(a, {})
        for i, x in enumerate(bytes.fromhex(pay[0])):
            d.setdefault(pos + i, x)
    out = {}
    for k in sorted(st):
        a, b = st[k]['eps']
        if a[1] in ports:
            a, b = b, a
        if b[1] not in ports:
            continue

        def contiguous(d):
            n = 0
            while n in d:
                n += 1
            return bytes(d[i] for i in range(n))
        out[(a, b, k)] = [contiguous(st[k]['d'].get(a, {})), contiguous(st[k]['d'].get(b, {}))]
    return out


class Incomplete(Exception):
    pass


def resp_line(buf, i):
    j = buf.find(b'\r\n', i)
    if j < 0:
        raise Incomplete
    return buf[i:j], j + 2


def resp_value(buf, i):
    """One RESP2/RESP3 value at i: ((type, value), next offset)."""
    if i >= len(buf):
        raise Incomplete
    t = chr(buf[i])
    line, i = resp_line(buf, i + 1)
    if t in '+-:_,#(':
        return (t, line), i
    if t in '$!=':
        n = int(line)
        if n < 0:
            return (t, None), i
        if len(buf) < i + n + 2:
            raise Incomplete
        return (t, buf[i:i + n]), i + n + 2
    if t in '*~>%|':
        n = int(line)
        if n < 0:
            return (t, None), i
        items = []
        for _ in range(n * 2 if t in '%|' else n):
            v, i = resp_value(buf, i)
            items.append(v)
        if t == '|':  # an attribute comes before the value it describes
            return resp_value(buf, i)
        return (t, items), i
    raise ValueError(f"bad RESP type byte {t!r}")


def split_inline(line):
    """Redis's sdssplitargs: words, "double quoted" with \\ escapes, 'single quoted'."""
    args, i, n = [], 0, len(line)
    while True:
        while i < n and line[i] in b' \t\n\r\v\f':
            i += 1
        if i >= n:
            return args
        cur, q = bytearray(), None
        while i < n:
            c = line[i:i + 1]
            if q == b'"':
                if c == b'\\' and i + 1 < n:
                    i += 1
                    cur += {b'n': b'\n', b'r': b'\r', b't': b'\t', b'b': b'\b', b'a': b'\a'}.get(
                        line[i:i + 1], line[i:i + 1])
                elif c == b'"':
                    q = None
                    i += 1
                    break
                else:
                    cur += c
            elif q == b"'":
                if c == b'\\' and line[i + 1:i + 2] == b"'":
                    i += 1
                    cur += b"'"
                elif c == b"'":
                    q = None
                    i += 1
                    break
                else:
                    cur += c
            elif c in (b'"', b"'") and not cur:
                q = c
            elif c in b' \t\n\r\v\f':
                break
            else:
                cur += c
            i += 1
        args.append(bytes(cur))


def commands(buf):
    cmds, i = [], 0
    while i < len(buf):
        try:
            if buf[i:i + 1] == b'*':
                (t, items), i = resp_value(buf, i)
                cmds.append([v for _, v in items or []])
            else:
                line, i = resp_line(buf, i)
                args = split_inline(line)
                if args:
                    cmds.append(args)
        except Incomplete:
            break
    return cmds


def replies(buf):
    out, i = [], 0
    while i < len(buf):
        try:
            v, i = resp_value(buf, i)
        except Incomplete:
            break
        out.append(v)
    return out


RTYPES = {'+': 'simple', '-': 'error', ':': 'integer', '$': 'bulk', '*': 'array', ',': 'double',
          '#': 'boolean', '!': 'error', '=': 'verbatim', '(': 'bignum', '%': 'map', '~': 'set', '>': 'push'}
SUBS = {b'SUBSCRIBE', b'PSUBSCRIBE', b'SSUBSCRIBE', b'UNSUBSCRIBE', b'PUNSUBSCRIBE', b'SUNSUBSCRIBE'}
PUSHES = {b'message', b'pmessage', b'smessage'}


def text(b):
    return b.decode('utf-8', 'backslashreplace') if b is not None else None


def redis(cap, db, decode_as, exc):
    theirs, ncmd, nrep = [], 0, 0
    for (cli, srv, _), (up, down) in streams(cap, decode_as).items():
        cmds = commands(up)
        reps = replies(down)
        subscribed = False
        k = 0
        for c in cmds:
            name = c[0].upper() if c and c[0] is not None else b''
            subscribed |= name in SUBS
            want = max(1, len(c) - 1) if name in SUBS else 1
            # pushed messages of a subscribed connection are not replies
            while subscribed and k < len(reps) and reps[k][0] in '*>' and reps[k][1] and \
                    reps[k][1][0][1] in PUSHES:
                k += 1
            answered = k + want <= len(reps)
            rtype = err = None
            if answered:
                t, v = reps[k]
                rtype = 'null' if v is None or t == '_' else RTYPES.get(t, '?')
                err = text(v) if t in '-!' else None
            k += want
            # AUTH's argument is a credential: flightrec keeps no key for it
            key = text(c[1]) if len(c) > 1 and text(name).upper() != 'AUTH' else None
            theirs.append((cli[1], text(name), key, len(c), rtype, err))
            ncmd += 1
            nrep += answered
    h = sqlite3.connect(db)
    ours = h.execute("SELECT c.local_port, d.command, d.key, d.argc, d.reply_type, d.error FROM requests r "
                     "JOIN redis d ON d.request_id = r.id JOIN connections c ON c.id = r.conn_id "
                     "ORDER BY r.id").fetchall()
    ours = [(p, cmd, key or None, argc, rt, e) for p, cmd, key, argc, rt, e in ours]
    theirs = [(p, cmd, key or None, argc, rt, e) for p, cmd, key, argc, rt, e in theirs]
    out = diff('command (client port, name, key, argc, reply type, error)', theirs, ours)
    # and the error replies as tshark's own `resp` dissector reads them
    terr = [e for row in tshark(cap, decode_as, 'resp.error', ['resp.error']) for e in row[0]]
    out += diff('error reply (tshark resp.error)', terr, [e for *_, e in ours if e is not None])
    return out, ncmd, f"{ncmd} commands, {nrep} replies (name, key, argc, reply type, error) agree with the RESP reader on tshark's TCP streams"


# ---- Kafka ------------------------------------------------------------------

def kafka(cap, db, decode_as, exc):
    ports = [d.split('==')[1].split(',')[0] for d in decode_as if d.startswith('tcp.port==')] or ['9092']
    reqs, resps = [], []
    for sport, corr, key, ver, client, err in tshark(
            cap, decode_as, 'kafka', ['tcp.srcport', 'kafka.correlation_id', 'kafka.api_key',
                                      'kafka.api_version', 'kafka.client_id', 'kafka.error']):
        if sport and sport[0] in ports:
            for c in corr:
                resps.append((int(c), any(int(e) != 0 for e in err)))
        else:
            for i, c in enumerate(corr):
                reqs.append((int(c), int(key[i]), int(ver[i]), client[i] if i < len(client) else None))
    h = sqlite3.connect(db)
    rows = h.execute("SELECT k.correlation_id, k.api, k.api_version, k.client_id, r.status, r.error, r.reason "
                     "FROM requests r JOIN kafka k ON k.request_id = r.id ORDER BY r.id").fetchall()
    keys = {}
    for line in subprocess.run(['tshark', '-G', 'values'], capture_output=True, text=True).stdout.splitlines():
        f = line.split('\t')  # V  kafka.api_key  0  Produce
        if len(f) == 4 and f[1] == 'kafka.api_key':
            keys[f[3]] = int(f[2])
    keys['ListOffsets'] = keys.get('Offsets', 2)  # Wireshark's older name for key 2
    ours_q = [(c, keys.get(a, a), v, cl) for c, a, v, cl, st, e, why in rows if a is not None]
    ours_r = [(c, e == 1) for c, a, v, cl, st, e, why in rows if st is not None]
    out = diff('request', reqs, ours_q) + diff('response', resps, ours_r)
    return out, len(reqs) + len(resps), f"{len(reqs)} requests, {len(resps)} responses (correlation id, api, version, client id, error) agree with tshark"


# ---- MySQL and PostgreSQL (issue 14) -----------------------------------------

MYSQL_CMDS = ['SLEEP', 'QUIT', 'INIT_DB', 'QUERY', 'FIELD_LIST', 'CREATE_DB', 'DROP_DB', 'REFRESH',
              'SHUTDOWN', 'STATISTICS', 'PROCESS_INFO', 'CONNECT', 'PROCESS_KILL', 'DEBUG', 'PING', 'TIME',
              'DELAYED_INSERT', 'CHANGE_USER', 'BINLOG_DUMP', 'TABLE_DUMP', 'CONNECT_OUT', 'REGISTER_SLAVE',
              'STMT_PREPARE', 'STMT_EXECUTE', 'STMT_SEND_LONG_DATA', 'STMT_CLOSE', 'STMT_RESET',
              'SET_OPTION', 'STMT_FETCH', 'DAEMON', 'BINLOG_DUMP_GTID', 'RESET_CONNECTION']


def mysql(cap, db, decode_as, exc):
    """tshark's MySQL dissector: commands (mysql.command with the query
    text of QUERY / STMT_PREPARE and the statement id of the statement
    commands), login requests (mysql.user outside CHANGE_USER), error
    codes (mysql.error_code)."""
    theirs, logins, terr = [], 0, []
    for cmd, query, sid, user, err in tshark(cap, decode_as, 'mysql',
                                             ['mysql.command', 'mysql.query', 'mysql.stmt_id', 'mysql.user',
                                              'mysql.error_code']):
        for c in cmd:
            c = int(c)
            q = query[0] if query and c in (3, 22) else None
            i = int(sid[0]) if sid and c in (23, 25, 26, 28) else None
            theirs.append((MYSQL_CMDS[c] if c < len(MYSQL_CMDS) else 'UNKNOWN', q, i))
        if user and not cmd:
            logins += 1
        terr += [int(e) for e in err]
    h = sqlite3.connect(db)
    rows = h.execute("SELECT command, statement, statement_id, error_code FROM mysql ORDER BY request_id").fetchall()
    ours = [(c, s if c in ('QUERY', 'STMT_PREPARE') else None,
             i if c in ('STMT_EXECUTE', 'STMT_CLOSE', 'STMT_RESET', 'STMT_FETCH') else None)
            for c, s, i, _ in rows if c != 'LOGIN']
    out = diff('command (name, query, statement id)', theirs, ours)
    out += diff('login requests', ['login'] * logins, ['login' for c, *_ in rows if c == 'LOGIN'])
    out += diff('error code', terr, [e for *_, e in rows if e is not None])
    n = len(theirs) + logins
    return out, n, f"{len(theirs)} commands (name, query, statement id), {logins} logins, {len(terr)} errors agree with tshark's mysql dissector"


def pgsql(cap, db, decode_as, exc):
    """tshark's PostgreSQL dissector: startup messages, CommandComplete
    tags (pgsql.tag), ErrorResponses and their SQLSTATE, Execute messages,
    notices (pgsql.type)."""
    types, tags, codes = [], [], []
    for typ, tag, code in tshark(cap, decode_as, 'pgsql', ['pgsql.type', 'pgsql.tag', 'pgsql.code']):
        types += typ
        tags += tag
        if 'Error' in typ and 'Notice' not in typ:
            codes += code
    h = sqlite3.connect(db)
    rows = h.execute("SELECT kind, command_tag, sqlstate FROM pgsql ORDER BY request_id").fetchall()
    out = diff('startup', ['startup'] * types.count('Startup message'),
               [k for k, *_ in rows if k == 'startup'])
    out += diff('command tag', tags, [t for k, t, _ in rows if k != 'startup' and t is not None and
                                      t not in ('EMPTY', 'SUSPENDED')])
    out += diff('error (SQLSTATE)', codes, [c for *_, c in rows if c is not None])
    out += diff('Execute', ['execute'] * types.count('Execute'), ['execute' for k, *_ in rows if k == 'extended'])
    nmsg = h.execute("SELECT count(*) FROM messages WHERE kind = 'notice'").fetchone()[0]
    out += diff('notice', ['notice'] * types.count('Notice'), ['notice'] * nmsg)
    n = len(tags) + len(codes) + types.count('Startup message')
    return out, n, (f"{types.count('Startup message')} startups, {len(tags)} command tags, {len(codes)} errors, "
                    f"{types.count('Execute')} executes, {types.count('Notice')} notices agree with tshark's pgsql dissector")


# ---- HTTP/2 and gRPC -------------------------------------------------------

def as_list(x):
    return x if isinstance(x, list) else [] if x is None else [x]


def http2(cap, db, decode_as, exc):
    """Streams tshark shows with a :method (HEADERS or PUSH_PROMISE), keyed
    by TCP stream and stream id, with method, path and the final :status;
    and the HTTP/1.1 request that asked for h2c, which is stream 1 (RFC 7540
    3.2).  A field tshark cannot name (an HPACK entry from before the
    capture) is None on both sides."""
    import json
    cmd = ['tshark', '-n', '-r', cap, '-Y', 'http2 || http.request', '-T', 'json', '--no-duplicate-keys',
           '-J', 'tcp http http2']
    for d in decode_as:
        cmd += ['-d', d]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, errors='surrogateescape').stdout
    streams = {}
    for pkt in json.loads(out or '[]'):
        lay = pkt['_source']['layers']
        tcp = lay['tcp']['tcp.stream'] if isinstance(lay['tcp'], dict) else lay['tcp'][0]['tcp.stream']
        for h in as_list(lay.get('http')):
            if 'h2c' in str(h.get('http.upgrade', '')).lower() and h.get('http.request'):
                req = next((v for v in h.values() if isinstance(v, dict) and 'http.request.method' in v), {})
                streams.setdefault((tcp, 1), {})['req'] = (req.get('http.request.method'), req.get('http.request.uri'))
        for h in as_list(lay.get('http2')):
            for f in as_list(h.get('http2.stream')):
                typ, sid = f.get('http2.type'), f.get('http2.streamid')
                if typ not in ('1', '5', '9'):
                    continue
                hdrs = [(x.get('http2.header.name'), x.get('http2.header.value')) for x in as_list(f.get('http2.header'))]
                if typ == '5':
                    sid = f.get('http2.push_promise.promised_stream_id', sid)
                names = dict(hdrs)
                st = streams.setdefault((tcp, int(sid)), {})
                if ':method' in names:
                    st['req'] = (names[':method'], names.get(':path'))
                if ':status' in names and not names[':status'].startswith('1') and 'status' not in st:
                    st['status'] = int(names[':status'])
    theirs = [(v['req'][0], v['req'][1], v.get('status')) for v in streams.values() if 'req' in v]
    h = sqlite3.connect(db)
    rows = h.execute("SELECT h.method, h.path, h.status FROM requests r JOIN http2 h ON h.request_id = r.id "
                     "WHERE h.method IS NOT NULL ORDER BY r.id").fetchall()
    ours = [(m, None if p and p.startswith('<unknown') else p, s) for m, p, s in rows]
    out = diff('stream (method, path, status)', theirs, ours)
    return out, len(theirs), f"{len(theirs)} streams with a :method (method, path, status) agree with tshark"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('proto', choices=['http', 'dns', 'redis', 'kafka', 'mysql', 'pgsql', 'http2'])
    ap.add_argument('capture')
    ap.add_argument('db')
    ap.add_argument('--decode-as', action='append', default=[])
    ap.add_argument('--except', dest='exc', action='append', default=[])
    a = ap.parse_args()
    out, n, summary = {'http': http, 'dns': dns, 'redis': redis, 'kafka': kafka, 'mysql': mysql,
                       'pgsql': pgsql, 'http2': http2}[a.proto](a.capture, a.db, a.decode_as, set(a.exc))
    if not n:
        out.append("  the independent decoder found no message at all (an odd port needing --decode-as?)")
    if out:
        print('\n'.join(out))
        return 1
    print(summary)
    return 0


if __name__ == '__main__':
    sys.exit(main())
