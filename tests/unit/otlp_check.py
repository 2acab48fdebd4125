#!/usr/bin/python3
"""otlp_check.py FILE [EXPECT.json] - checks a `flightrec export-otlp` file
against the OTLP/JSON structure with an independent parser: protobuf's own
JSON parser (python3-protobuf's json_format, strict: an unknown field, a
wrong type or a bad enum value is an error) on message types built here
from the OTLP .proto definitions (opentelemetry-proto,
opentelemetry/proto/{trace,common,resource}/v1/*.proto: names, numbers and
types transcribed field by field; Debian does not package those files).
The OTLP/JSON rules protobuf's mapping does not know (specification.md,
"JSON Protobuf Encoding") are checked on top: trace and span ids in hex
(16 and 8 bytes, not all zero), kinds and status codes as integers.  Then
what a trace must hold: unique span ids, a parent that exists, is a CLIENT
span of the same trace, and end >= start.  Prints what it counted as JSON;
with EXPECT.json, every key of it must match."""
import base64
import json
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

F = descriptor_pb2.FieldDescriptorProto
OPT, REP = F.LABEL_OPTIONAL, F.LABEL_REPEATED

# (message, [(field, number, type, label, type_name or None, oneof index)])
COMMON = 'opentelemetry.proto.common.v1'
RESOURCE = 'opentelemetry.proto.resource.v1'
TRACE = 'opentelemetry.proto.trace.v1'
MESSAGES = {
    COMMON: [
        ('AnyValue', [('string_value', 1, F.TYPE_STRING, OPT, None, 0), ('bool_value', 2, F.TYPE_BOOL, OPT, None, 0),
                      ('int_value', 3, F.TYPE_INT64, OPT, None, 0), ('double_value', 4, F.TYPE_DOUBLE, OPT, None, 0),
                      ('array_value', 5, F.TYPE_MESSAGE, OPT, '.%s.ArrayValue' % COMMON, 0),
                      ('kvlist_value', 6, F.TYPE_MESSAGE, OPT, '.%s.KeyValueList' % COMMON, 0),
                      ('bytes_value', 7, F.TYPE_BYTES, OPT, None, 0)]),
        ('ArrayValue', [('values', 1, F.TYPE_MESSAGE, REP, '.%s.AnyValue' % COMMON, None)]),
        ('KeyValueList', [('values', 1, F.TYPE_MESSAGE, REP, '.%s.KeyValue' % COMMON, None)]),
        ('KeyValue', [('key', 1, F.TYPE_STRING, OPT, None, None),
                      ('value', 2, F.TYPE_MESSAGE, OPT, '.%s.AnyValue' % COMMON, None)]),
        ('InstrumentationScope', [('name', 1, F.TYPE_STRING, OPT, None, None),
                                  ('version', 2, F.TYPE_STRING, OPT, None, None),
                                  ('attributes', 3, F.TYPE_MESSAGE, REP, '.%s.KeyValue' % COMMON, None),
                                  ('dropped_attributes_count', 4, F.TYPE_UINT32, OPT, None, None)]),
    ],
    RESOURCE: [
        ('Resource', [('attributes', 1, F.TYPE_MESSAGE, REP, '.%s.KeyValue' % COMMON, None),
                      ('dropped_attributes_count', 2, F.TYPE_UINT32, OPT, None, None)]),
    ],
    TRACE: [
        ('TracesData', [('resource_spans', 1, F.TYPE_MESSAGE, REP, '.%s.ResourceSpans' % TRACE, None)]),
        ('ResourceSpans', [('resource', 1, F.TYPE_MESSAGE, OPT, '.%s.Resource' % RESOURCE, None),
                           ('scope_spans', 2, F.TYPE_MESSAGE, REP, '.%s.ScopeSpans' % TRACE, None),
                           ('schema_url', 3, F.TYPE_STRING, OPT, None, None)]),
        ('ScopeSpans', [('scope', 1, F.TYPE_MESSAGE, OPT, '.%s.InstrumentationScope' % COMMON, None),
                        ('spans', 2, F.TYPE_MESSAGE, REP, '.%s.Span' % TRACE, None),
                        ('schema_url', 3, F.TYPE_STRING, OPT, None, None)]),
        ('Span', [('trace_id', 1, F.TYPE_BYTES, OPT, None, None), ('span_id', 2, F.TYPE_BYTES, OPT, None, None),
                  ('trace_state', 3, F.TYPE_STRING, OPT, None, None),
                  ('parent_span_id', 4, F.TYPE_BYTES, OPT, None, None),
                  ('flags', 16, F.TYPE_FIXED32, OPT, None, None), ('name', 5, F.TYPE_STRING, OPT, None, None),
                  ('kind', 6, F.TYPE_ENUM, OPT, '.%s.Span.SpanKind' % TRACE, None),
                  ('start_time_unix_nano', 7, F.TYPE_FIXED64, OPT, None, None),
                  ('end_time_unix_nano', 8, F.TYPE_FIXED64, OPT, None, None),
                  ('attributes', 9, F.TYPE_MESSAGE, REP, '.%s.KeyValue' % COMMON, None),
                  ('dropped_attributes_count', 10, F.TYPE_UINT32, OPT, None, None),
                  ('events', 11, F.TYPE_MESSAGE, REP, '.%s.Span.Event' % TRACE, None),
                  ('dropped_events_count', 12, F.TYPE_UINT32, OPT, None, None),
                  ('links', 13, F.TYPE_MESSAGE, REP, '.%s.Span.Link' % TRACE, None),
                  ('dropped_links_count', 14, F.TYPE_UINT32, OPT, None, None),
                  ('status', 15, F.TYPE_MESSAGE, OPT, '.%s.Status' % TRACE, None)]),
        ('Status', [('message', 2, F.TYPE_STRING, OPT, None, None),
                    ('code', 3, F.TYPE_ENUM, OPT, '.%s.Status.StatusCode' % TRACE, None)]),
    ],
}
NESTED = {  # Span.Event, Span.Link
    'Event': [('time_unix_nano', 1, F.TYPE_FIXED64, OPT, None), ('name', 2, F.TYPE_STRING, OPT, None),
              ('attributes', 3, F.TYPE_MESSAGE, REP, '.%s.KeyValue' % COMMON),
              ('dropped_attributes_count', 4, F.TYPE_UINT32, OPT, None)],
    'Link': [('trace_id', 1, F.TYPE_BYTES, OPT, None), ('span_id', 2, F.TYPE_BYTES, OPT, None),
             ('trace_state', 3, F.TYPE_STRING, OPT, None),
             ('attributes', 4, F.TYPE_MESSAGE, REP, '.%s.KeyValue' % COMMON),
             ('dropped_attributes_count', 5, F.TYPE_UINT32, OPT, None), ('flags', 6, F.TYPE_FIXED32, OPT, None)],
}
ENUMS = {
    'SpanKind': ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT',
                 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'],
    'StatusCode': ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'],
}


def add_fields(msg, fields):
    for f in fields:
        name, number, ftype, label, type_name = f[:5]
        fd = msg.field.add(name=name, number=number, type=ftype, label=label)
        if type_name:
            fd.type_name = type_name
        if len(f) > 5 and f[5] is not None:
            fd.oneof_index = f[5]


def build_pool():
    pool = descriptor_pool.DescriptorPool()
    deps = {COMMON: [], RESOURCE: ['common.proto'], TRACE: ['common.proto', 'resource.proto']}
    names = {COMMON: 'common.proto', RESOURCE: 'resource.proto', TRACE: 'trace.proto'}
    for pkg in (COMMON, RESOURCE, TRACE):
        fp = descriptor_pb2.FileDescriptorProto(name=names[pkg], package=pkg, syntax='proto3')
        fp.dependency.extend(deps[pkg])
        for mname, fields in MESSAGES[pkg]:
            m = fp.message_type.add(name=mname)
            if mname == 'AnyValue':
                m.oneof_decl.add(name='value')
            add_fields(m, fields)
            if mname == 'Span':
                for nname, nfields in NESTED.items():
                    add_fields(m.nested_type.add(name=nname), nfields)
                e = m.enum_type.add(name='SpanKind')
                for i, v in enumerate(ENUMS['SpanKind']):
                    e.value.add(name=v, number=i)
            if mname == 'Status':
                e = m.enum_type.add(name='StatusCode')
                for i, v in enumerate(ENUMS['StatusCode']):
                    e.value.add(name=v, number=i)
        pool.Add(fp)
    return pool


def message_class(pool, name):
    d = pool.FindMessageTypeByName(name)
    if hasattr(message_factory, 'GetMessageClass'):
        return message_factory.GetMessageClass(d)
    return message_factory.MessageFactory(pool).GetPrototype(d)


def hex_id(v, nbytes, where):
    """OTLP/JSON ids are hex; protobuf's mapping wants base64 for bytes"""
    if not isinstance(v, str) or len(v) != 2 * nbytes or v.lower() != v or any(c not in '0123456789abcdef' for c in v):
        raise ValueError('%s: %r is not %d bytes of lowercase hex' % (where, v, nbytes))
    if v == '0' * (2 * nbytes):
        raise ValueError('%s: an all-zero id is invalid' % where)
    return base64.b64encode(bytes.fromhex(v)).decode()


def main():
    TracesData = message_class(build_pool(), TRACE + '.TracesData')
    spans, resources = {}, 0
    attrs_seen, res_attrs = {}, {}
    for n, line in enumerate(open(sys.argv[1], encoding='utf-8'), 1):
        doc = json.loads(line)
        for rs in doc.get('resourceSpans', []):
            for ss in rs.get('scopeSpans', []):
                for sp in ss.get('spans', []):
                    for k, nb in (('traceId', 16), ('spanId', 8), ('parentSpanId', 8)):
                        if k in sp:
                            sp[k] = hex_id(sp[k], nb, 'line %d %s' % (n, k))
                    for k in ('kind',):
                        if not isinstance(sp.get(k), int):
                            raise ValueError('line %d: kind must be an integer, not %r' % (n, sp.get(k)))
                    if 'status' in sp and not isinstance(sp['status'].get('code', 0), int):
                        raise ValueError('line %d: status.code must be an integer' % n)
        msg = TracesData()
        json_format.Parse(json.dumps(doc), msg, ignore_unknown_fields=False)
        for rs in msg.resource_spans:
            resources += 1
            ra = {kv.key: json_format.MessageToDict(kv.value) for kv in rs.resource.attributes}
            if len(ra) != len(rs.resource.attributes) or 'service.name' not in ra:
                raise ValueError('line %d: resource without service.name or with a key twice' % n)
            for k, v in ra.items():
                res_attrs.setdefault(k, set()).add(list(v.values())[0])
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    if len(sp.trace_id) != 16 or len(sp.span_id) != 8 or sp.parent_span_id and len(sp.parent_span_id) != 8:
                        raise ValueError('line %d: id length' % n)
                    if not sp.name or sp.kind not in (2, 3) or sp.end_time_unix_nano < sp.start_time_unix_nano:
                        raise ValueError('line %d: span %s: name, kind or times' % (n, sp.span_id.hex()))
                    if sp.start_time_unix_nano < 10 ** 18:
                        raise ValueError('line %d: start time not a Unix time in ns: %d' % (n, sp.start_time_unix_nano))
                    if sp.span_id in spans:
                        raise ValueError('span id %s twice' % sp.span_id.hex())
                    keys = [kv.key for kv in sp.attributes]
                    if len(keys) != len(set(keys)):
                        raise ValueError('line %d: an attribute key twice in span %s' % (n, sp.span_id.hex()))
                    a = {kv.key: list(json_format.MessageToDict(kv.value).values())[0] for kv in sp.attributes}
                    spans[sp.span_id] = (sp, a, ra)
                    for k, v in a.items():
                        attrs_seen.setdefault(k, set()).add(v)
    linked = 0
    for sid, (sp, a, ra) in spans.items():
        if sp.parent_span_id:
            parent = spans.get(sp.parent_span_id)
            if not parent or parent[0].trace_id != sp.trace_id or parent[0].kind != 3 or sp.kind != 2:
                raise ValueError('span %s: its parent is not a CLIENT span of its trace' % sid.hex())
            linked += 1
    found = {
        'spans': len(spans), 'resources': resources, 'linked': linked,
        'client': sum(1 for s in spans.values() if s[0].kind == 3),
        'server': sum(1 for s in spans.values() if s[0].kind == 2),
        'errors': sum(1 for s in spans.values() if s[0].status.code == 2),
        'traces': len({s[0].trace_id for s in spans.values()}),
    }
    # one example of each convention: the values seen under these keys
    for k in ('http.request.method', 'url.path', 'http.response.status_code', 'rpc.system', 'rpc.service',
              'rpc.method', 'rpc.grpc.status_code', 'db.system', 'messaging.system', 'messaging.destination.name',
              'dns.question.name'):
        found[k] = sorted(str(v) for v in attrs_seen.get(k, ()))
    for k in ('service.name', 'k8s.namespace.name', 'k8s.pod.name', 'k8s.deployment.name'):
        found['resource ' + k] = sorted(res_attrs.get(k, ()))
    found['has db.query.text'] = 'db.query.text' in attrs_seen
    found['has network.peer.address'] = len([1 for s in spans.values() if 'network.peer.address' in s[1]]) == len(spans)
    print(json.dumps(found, sort_keys=True))
    if len(sys.argv) > 2:
        want = json.load(open(sys.argv[2]))
        bad = {k: (v, found.get(k)) for k, v in want.items() if found.get(k) != v}
        for k, (w, f) in sorted(bad.items()):
            print('mismatch %s: want %r, found %r' % (k, w, f))
        return 1 if bad else 0
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except (ValueError, json_format.ParseError) as e:
        print('invalid: %s' % e)
        sys.exit(1)
