# The fake kubelet's terminal for `exec … tty=true`: runs argv on a new pseudo-terminal (as a container
# runtime does), copies fd 0 to the terminal and the terminal to fd 1, and applies each "COLS ROWS" line read
# from fd 3 with TIOCSWINSZ (the resize channel). Exits with the program's status (128 + signal if killed).
# Usage: python3 exec-pty.py COLS ROWS -- ARGV...
import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios


def set_size(fd, cols, rows):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))


def main():
    cols, rows = int(sys.argv[1]), int(sys.argv[2])
    argv = sys.argv[4:]
    pid, master = pty.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    set_size(master, cols, rows)
    # A hang-up of the session (the client went away) reaches the program as it would through a real pty.
    signal.signal(signal.SIGHUP, lambda *_: os.killpg(pid, signal.SIGHUP))
    signal.signal(signal.SIGTERM, lambda *_: os.killpg(pid, signal.SIGKILL))
    inputs = [0, master, 3]
    pending = b''
    while master in inputs:
        ready, _, _ = select.select(inputs, [], [])
        if master in ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                data = b''
            if not data:
                inputs.remove(master)
            else:
                os.write(1, data)
        # Sizes first: a resize sent before a keystroke is in force when the program reads that key.
        if 3 in ready:
            data = os.read(3, 4096)
            if not data:
                inputs.remove(3)
            pending += data
            while b'\n' in pending:
                line, pending = pending.split(b'\n', 1)
                c, r = line.split()
                # The kernel sends SIGWINCH to the terminal's foreground process group itself.
                set_size(master, int(c), int(r))
        if 0 in ready:
            data = os.read(0, 65536)
            if not data:
                inputs.remove(0)
                os.write(master, b'\x04')
            else:
                os.write(master, data)
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


main()
