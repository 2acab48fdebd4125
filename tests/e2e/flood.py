"""flood.py MODE STOP SECONDS: the load of the fault tests
(test_record_faults.sh, test_record_overflow.sh).

mixed   UDP datagrams to the discard port and bytes both ways over a TCP
        loopback connection, until the file STOP appears or SECONDS pass;
bursts  waits for the file STOP.go (made once the recorder records, so that
        every send it counts can be recorded), then bursts of UDP datagrams
        for SECONDS; prints how many sends succeeded.
"""
import os, socket, sys, time
mode, stop, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
data = b"f" * 512
end = time.monotonic() + secs
if mode == "bursts":
    while not os.path.exists(stop + ".go"):
        time.sleep(0.01)
    end = time.monotonic() + secs
    sent = 0
    while time.monotonic() < end:
        for i in range(200):
            sent += u.sendto(data, ("127.0.0.1", 9)) == len(data)
        time.sleep(0.005)
    u.close()
    print(sent)
    sys.exit(0)
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(1)
c = socket.create_connection(l.getsockname())
a, _ = l.accept()
msg = b"GET /flood HTTP/1.1\r\nHost: x\r\n\r\n" + os.urandom(900)
while not os.path.exists(stop) and time.monotonic() < end:
    for i in range(50):
        u.sendto(data, ("127.0.0.1", 9))
        c.sendall(msg)
        got = 0
        while got < len(msg):
            got += len(a.recv(65536))
    time.sleep(0.001)
