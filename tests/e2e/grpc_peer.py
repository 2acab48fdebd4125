#!/usr/bin/python3
"""grpc_peer.py - a real gRPC server and client (Debian's python3-grpcio),
with generic handlers (no generated code): the peers of
tests/e2e/test_http2_e2e.sh.

  grpc_peer.py serve ADDR:PORT
      methods of service e2e.Demo: Echo (unary), Count (server streaming:
      N replies, slowly when N > 10), Sum (client streaming), Chat (bidi), Fail (unary, aborts
      NOT_FOUND with a message), Slow (unary, sleeps 2 s).
  grpc_peer.py call ADDR:PORT
      one of each, on one channel, then a Count cancelled after two
      replies; prints one line per call.
  grpc_peer.py held ADDR:PORT GO DONE N
      opens a channel and calls Echo and Count, then waits until the file
      GO exists (the recorder starts meanwhile), then on the same channel:
      N x Echo (its path indexed before the recording), Sum once (a method
      never called before), N x Sum; writes DONE and exits.
Messages are raw bytes (no protobuf): gRPC frames them the same way.
"""
import os
import sys
import time
from concurrent import futures

import grpc

SERVICE = 'e2e.Demo'


def echo(req, ctx):
    return req


def count(req, ctx):
    n = int(req or b'3')
    for i in range(n):
        if n > 10:  # slow enough for the client to cancel it midway
            time.sleep(0.05)
        yield b'n%d' % i


def total(it, ctx):
    return b'%d' % sum(len(m) for m in it)


def chat(it, ctx):
    for m in it:
        yield m.upper()


def fail(req, ctx):
    ctx.abort(grpc.StatusCode.NOT_FOUND, 'no such thing: ' + req.decode(errors='replace'))


def slow(req, ctx):
    time.sleep(2)
    return req


def serve(addr):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handlers = {
        'Echo': grpc.unary_unary_rpc_method_handler(echo),
        'Count': grpc.unary_stream_rpc_method_handler(count),
        'Sum': grpc.stream_unary_rpc_method_handler(total),
        'Chat': grpc.stream_stream_rpc_method_handler(chat),
        'Fail': grpc.unary_unary_rpc_method_handler(fail),
        'Slow': grpc.unary_unary_rpc_method_handler(slow),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_insecure_port(addr)
    server.start()
    print('serving', addr, flush=True)
    server.wait_for_termination()


def stubs(ch):
    p = '/' + SERVICE + '/'
    return {
        'Echo': ch.unary_unary(p + 'Echo'),
        'Count': ch.unary_stream(p + 'Count'),
        'Sum': ch.stream_unary(p + 'Sum'),
        'Chat': ch.stream_stream(p + 'Chat'),
        'Fail': ch.unary_unary(p + 'Fail'),
        'Slow': ch.unary_unary(p + 'Slow'),
    }


def call(addr):
    with grpc.insecure_channel(addr) as ch:
        s = stubs(ch)
        print('Echo', s['Echo'](b'hello', timeout=10))
        print('Count', list(s['Count'](b'4', timeout=10)))
        print('Sum', s['Sum'](iter([b'a', b'bb', b'ccc']), timeout=10))
        print('Chat', list(s['Chat'](iter([b'x', b'y']), timeout=10)))
        try:
            s['Fail'](b'widget', timeout=10)
        except grpc.RpcError as e:
            print('Fail', e.code().name, e.details())
        try:
            s['Slow'](b'zzz', timeout=0.5)
        except grpc.RpcError as e:
            print('Slow', e.code().name)
        it = s['Count'](b'50', timeout=10)
        got = [next(it), next(it)]
        it.cancel()  # RST_STREAM CANCEL while the server still streams
        print('Cancel', got)


def held(addr, go, done, n):
    with grpc.insecure_channel(addr) as ch:
        s = stubs(ch)
        s['Echo'](b'before', timeout=10)
        list(s['Count'](b'2', timeout=10))
        print('channel open', flush=True)
        for _ in range(600):
            if os.path.exists(go):
                break
            time.sleep(0.05)
        for i in range(n):
            s['Echo'](b'after%d' % i, timeout=10)
        s['Sum'](iter([b'first']), timeout=10)
        for i in range(n):
            s['Sum'](iter([b'x' * i]), timeout=10)
    open(done, 'w').close()


if __name__ == '__main__':
    mode, addr = sys.argv[1], sys.argv[2]
    if mode == 'serve':
        serve(addr)
    elif mode == 'call':
        call(addr)
    else:
        held(addr, sys.argv[3], sys.argv[4], int(sys.argv[5]))
