"""Notebook kernels forked from a process that has imported torch, timm and ONNX Runtime once.

Each notebook test runs its notebook in a real IPython kernel (`ipykernel`), driven over ZMQ by nbclient as Jupyter
drives it. Started fresh, each of those kernels spends about 7 CPU-seconds importing torch, torchvision (through timm)
and ONNX Runtime before its first cell can use them: for the 26 notebooks that use them, about 180 of the 1,260
CPU-seconds a whole run took on a 2-core machine. Here one process per test worker, the zygote, imports them once and forks a kernel for each notebook. The
child then becomes what `python -m ipykernel_launcher -f CONNECTION_FILE` would be: its own session, the environment,
working folder, `sys.path` and argv the kernel manager asked for, stdin from /dev/null, and ipykernel's own
`launch_new_instance`.

What is preloaded imports no matplotlib, IPython or fastcore (they read the notebook's environment, such as
MPLBACKEND and IN_TEST, when imported), and leaves no thread running before the fork. The kernel manager starts a
small launcher (`python kernel_zygote.py launch SOCKET ...`, standard library only) in place of the kernel: it asks the
zygote for a kernel, forwards signals to the kernel's process group, and exits with the kernel's exit code. When the
launcher dies (the manager's SIGKILL), the zygote kills the kernel's process group, as killing a fresh kernel's group
would.

`FSDL_DEV_FRESH_KERNELS=1` runs every notebook in a kernel started from scratch instead.
"""
import os, sys, json, socket, signal, select

PRELOAD = ('torch', 'torchvision', 'timm', 'transformers', 'transformers.models.bert.modeling_bert', 'onnxruntime',
           'onnxruntime.quantization', 'onnxruntime.transformers.optimizer', 'onnx', 'onnxscript',
           'torch.onnx._internal.exporter._core', 'torch.utils.tensorboard', 'safetensors.torch', 'datasets', 'numpy',
           'pandas', 'PIL.Image', 'sklearn.datasets', 'sklearn.metrics')
NOT_PRELOADED = ('matplotlib', 'IPython', 'ipykernel', 'fastcore', 'nbdev')  # they read the kernel's environment at import


def _kernel_child(req, close):
    "In the forked child: become `python -m ipykernel_launcher ARGS` as the kernel manager would have started it"
    rc = 1
    try:
        for s in close: s.close()
        os.setsid()
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE): signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        null = os.open(os.devnull, os.O_RDONLY); os.dup2(null, 0); os.close(null)
        env, cwd = req['env'], req['cwd']
        os.environ.clear(); os.environ.update(env)
        os.chdir(cwd)
        import tempfile; tempfile.tempdir = None          # TMPDIR is the notebook's, read again on first use
        # sys.path as `python -m` builds it in `cwd` with this PYTHONPATH: cwd, PYTHONPATH, then the site paths
        old_pp = [p for p in req['zygote_pythonpath'] if p]
        site = [p for p in sys.path[1:] if p not in old_pp]
        sys.path[:] = [cwd, *[p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p], *site]
        import ipykernel_launcher  # noqa: F401  (its spec, as `-m` would have found it)
        sys.argv = [sys.modules['ipykernel_launcher'].__file__, *req['args']]
        from ipykernel import kernelapp
        try:
            kernelapp.launch_new_instance()
            rc = 0
        except SystemExit as e: rc = e.code if isinstance(e.code, int) else int(e.code is not None)
        import atexit; atexit._run_exitfuncs()
    except BaseException:
        import traceback; traceback.print_exc()
    finally:
        try: sys.stdout.flush(); sys.stderr.flush()
        except Exception: pass
        os._exit(rc)


def serve(path):
    "The zygote: import PRELOAD, then fork a kernel for every launcher that connects to the UNIX socket at `path`"
    import importlib
    for m in PRELOAD: importlib.import_module(m)
    early = [m for m in NOT_PRELOADED if m in sys.modules]
    if early: raise SystemExit(f'kernel zygote: preloading imported {early}, which must see each kernel environment')
    import threading
    if threading.active_count() != 1: raise SystemExit(f'kernel zygote: preloading started threads {threading.enumerate()}: unsafe to fork')
    pythonpath = os.environ.get('PYTHONPATH', '').split(os.pathsep)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path + '.tmp'); os.rename(path + '.tmp', path)   # the socket appears only when it is ready
    srv.listen(8)
    kids = {}                                       # kernel pid -> the launcher's connection
    while True:
        while kids:                                 # report the kernels that ended
            try: pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError: break
            if not pid: break
            conn = kids.pop(pid, None)
            if conn:
                try: conn.sendall(f'{os.waitstatus_to_exitcode(status)}\n'.encode())
                except OSError: pass
                conn.close()
        ready, _, _ = select.select([srv, sys.stdin, *kids.values()], [], [], 0.2)
        if sys.stdin in ready and not os.read(sys.stdin.fileno(), 1024):   # the test worker is done: stop
            for pid in kids:
                try: os.killpg(pid, signal.SIGKILL)
                except OSError: pass
            return
        for pid, conn in list(kids.items()):        # a launcher that went away (killed): kill its kernel's group
            if conn in ready:
                try: gone = not conn.recv(1, socket.MSG_PEEK)
                except OSError: gone = True
                if gone:
                    try: os.killpg(pid, signal.SIGKILL)
                    except OSError: pass
        if srv in ready:
            conn, _ = srv.accept()
            f = conn.makefile('rb')
            req = json.loads(f.readline()); f.close()
            req['zygote_pythonpath'] = pythonpath
            pid = os.fork()
            if pid == 0: _kernel_child(req, [srv, conn, *kids.values()])
            kids[pid] = conn
            conn.sendall(f'{pid}\n'.encode())


def launch(path, args):
    "The launcher, run by the kernel manager in place of the kernel: one kernel from the zygote, its exit code returned"
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(path)
    conn.sendall((json.dumps(dict(args=args, env=dict(os.environ), cwd=os.getcwd())) + '\n').encode())
    f = conn.makefile('rb')
    pid = int(f.readline())
    def forward(sig, _):
        try: os.killpg(pid, sig)
        except OSError: pass
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, forward)
    line = f.readline()
    sys.exit(int(line) if line.strip() else 1)


class Zygote:
    "One zygote process per test worker, started on first use and stopped at exit"
    def __init__(self):
        import tempfile
        self.dir = tempfile.mkdtemp(prefix='fsdl-kernel-zygote-')
        self.path, self.proc = os.path.join(self.dir, 'sock'), None

    def start(self, timeout=600):
        import subprocess, time
        if self.proc is None:
            # its own TMPDIR: what the preloaded libraries write at import (ONNX Runtime's .ses) goes there
            env = {**os.environ, 'TMPDIR': self.dir}
            self.proc = subprocess.Popen([sys.executable, __file__, 'serve', self.path], stdin=subprocess.PIPE, env=env)
            import atexit; atexit.register(self.stop)
        t0 = time.time()
        while not os.path.exists(self.path):
            if self.proc.poll() is not None: raise RuntimeError(f'kernel zygote exited with {self.proc.returncode}')
            if time.time() - t0 > timeout: raise RuntimeError(f'kernel zygote not ready after {timeout} s')
            time.sleep(0.05)
        return self

    def launcher(self, kernel_cmd):
        "The command the kernel manager runs instead of `python -m ipykernel_launcher ARGS`"
        assert kernel_cmd[1:3] == ['-m', 'ipykernel_launcher'], kernel_cmd
        return [sys.executable, __file__, 'launch', self.path, *kernel_cmd[3:]]

    def stop(self):
        import shutil
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try: self.proc.wait(30)
            except Exception: self.proc.kill(); self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


_ZYGOTE = None

def kernel_manager_class():
    "An AsyncKernelManager whose kernels come from this worker's zygote, or None under FSDL_DEV_FRESH_KERNELS=1"
    global _ZYGOTE
    if os.environ.get('FSDL_DEV_FRESH_KERNELS') == '1': return None
    from jupyter_client.manager import AsyncKernelManager
    if _ZYGOTE is None: _ZYGOTE = Zygote()
    z = _ZYGOTE.start()

    class ZygoteKernelManager(AsyncKernelManager):
        def format_kernel_cmd(self, extra_arguments=None):
            return z.launcher(super().format_kernel_cmd(extra_arguments))
    return ZygoteKernelManager


if __name__ == '__main__':
    if sys.argv[1] == 'serve': serve(sys.argv[2])
    elif sys.argv[1] == 'launch': launch(sys.argv[2], sys.argv[3:])
