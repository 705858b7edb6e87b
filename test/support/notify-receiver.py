# A stand-in for systemd's notification socket in tests: binds an AF_UNIX datagram socket
# (a path, or '@name' for the abstract namespace), prints "bound", then one JSON line per datagram
# with its text and the sender's pid from SCM_CREDENTIALS, which is what systemd checks for
# NotifyAccess=main. Usage: notify-receiver.py SOCKET COUNT
import json, socket, struct, sys

path, count = sys.argv[1], int(sys.argv[2])
receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
receiver.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
receiver.bind('\0' + path[1:] if path.startswith('@') else path)
receiver.settimeout(60)
print('bound', flush=True)
for _ in range(count):
    data, ancillary, _flags, _address = receiver.recvmsg(65536, socket.CMSG_SPACE(12))
    pid = None
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack('iII', payload[:12])[0]
    print(json.dumps({'data': data.decode('utf-8', 'replace'), 'pid': pid}), flush=True)
