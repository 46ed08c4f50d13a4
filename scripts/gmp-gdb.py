# gmp-gdb.py: gdb commands for programs running under gmp.
#
# gdb sees kernel threads (gmp's Ms); these commands show the user threads
# (Gs) that gmp schedules on them:
#
#   info gthreads               one line per live G: id, status, wait reason,
#                               name, M, and the innermost frame outside gmp
#   gthread                     the G running on the selected kernel thread
#   gthread ID bt [full]        backtrace of G ID
#   gthread apply all bt [full] backtraces of every live G
#   gthread apply ID... bt      backtraces of some Gs
#
# Use:   gdb -x scripts/gmp-gdb.py -p PID          (a live process)
#        gdb -x scripts/gmp-gdb.py PROGRAM CORE    (a core file, e.g. from gcore)
# or "source scripts/gmp-gdb.py" at the gdb prompt.  The preload library must
# carry debug info (the meson build always passes -g to it): the commands
# read gmp_sched, the allg list and struct gmp_g from it.
#
# How a parked G's backtrace is made: a G that is not running has its
# callee-saved registers, stack pointer and resume address in g->ctx
# (struct gmp_ctx, arch/context_x86_64.h).  A Python frame unwinder, enabled
# only while a gthread command runs, tells gdb that the innermost frame of
# the selected kernel thread was "called" from that context, so frame 1 and
# everything older are the G's frames, unwound by gdb's own DWARF unwinder.
# The host's frames (frame 0, and inline frames above it) are then dropped
# from the output.  No register is written, so the
# same code works on a live process and on a core file.  A G that is
# running (or in a kernel call) is shown with the kernel thread of its M.

import gdb
import gdb.unwinder

_LIB = "libgmp_preload.so"


def _sched():
    try:
        return gdb.parse_and_eval("gmp_sched")
    except gdb.error:
        raise gdb.GdbError("gmp: no gmp_sched symbol: is the program running under "
                           "libgmp_preload.so, built with debug info?")


def _enum_names(typename, prefix):
    try:
        t = gdb.lookup_type(typename)
    except gdb.error:
        return {}
    return {int(f.enumval): f.name[len(prefix):].lower() for f in t.fields()}


_gstatus = None
_wreason = None


def _names():
    global _gstatus, _wreason
    if _gstatus is None:
        _gstatus = _enum_names("enum gmp_gstatus", "G_")
        _wreason = _enum_names("enum gmp_waitreason", "WR_")
        try:
            # the runtime's own spelling ("semaphore"), as in its dumps
            arr = gdb.parse_and_eval("wr_names")
            for i in range(arr.type.range()[1] + 1):
                _wreason[i] = arr[i].string()
        except gdb.error:
            pass
    return _gstatus, _wreason


def _live_gs():
    """Every G that is not idle or dead, ordered by goid."""
    st, _ = _names()
    gs = []
    g = _sched()["allg"]
    seen = 0
    while int(g) != 0 and seen < 10000000:
        status = st.get(int(g["status"]), "?")
        if status not in ("idle", "dead") and not bool(g["isg0"]):
            gs.append(g)
        g = g["alllink"]
        seen += 1
    gs.sort(key=lambda x: int(x["goid"]))
    return gs


def _find_g(goid):
    for g in _live_gs():
        if int(g["goid"]) == goid:
            return g
    raise gdb.GdbError("gmp: no live G %d" % goid)


def _status(g):
    st, wr = _names()
    s = st.get(int(g["status"]), "?")
    return s, (wr.get(int(g["waitreason"]), "?") if s == "waiting" else "")


def _m_thread(g):
    """The gdb thread of the M running g, or None."""
    m = g["m"]
    if int(m) == 0:
        return None
    tid = int(m["tid"])
    inf = gdb.selected_inferior()
    for th in inf.threads():
        if th.ptid[1] == tid:
            return th
    return None


def _on_m(g):
    s, _ = _status(g)
    return s in ("running", "syscall")


# ------------------------------------------------------------ the unwinder


class _GContextUnwinder(gdb.unwinder.Unwinder):
    """While ctx is set: frame 0 of the host thread was called from ctx."""

    def __init__(self):
        super().__init__("gmp-gthread")
        self.ctx = None
        self.host = None
        self.level = None

    def __call__(self, pending):
        # The host's innermost real frame: inline frames above it are gdb's
        # own (the inline unwinder never asks us), so it is the first frame
        # of the host thread we are asked about, at whatever level.
        if self.ctx is None:
            return None
        if self.level is not None and pending.level() != self.level:
            return None
        th = gdb.selected_thread()
        if th is None or th.ptid != self.host:
            return None
        self.level = pending.level()
        ctx = self.ctx
        pc = pending.read_register("rip")
        # That frame is a stand-in: give it an id just below the G's stack so
        # the G's frames are "outer" to it, as gdb checks.
        sp = ctx["rsp"] - 64  # a gdb.Value: gdb wants those in frame ids
        info = pending.create_unwind_info(_FrameId(sp, pc))
        for reg in ("rip", "rsp", "rbp", "rbx", "r12", "r13", "r14", "r15"):
            info.add_saved_register(reg, ctx[reg])
        return info


class _FrameId(object):
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


_unwinder = _GContextUnwinder()
gdb.unwinder.register_unwinder(None, _unwinder, replace=True)


class _GFrames(object):
    """Context manager: yields the newest frame of G g (None if unknown)."""

    def __init__(self, g):
        self.g = g

    def __enter__(self):
        self.thread = gdb.selected_thread()
        if self.thread is None:
            raise gdb.GdbError("gmp: no thread selected (is the program running?)")
        try:
            self.level = gdb.selected_frame().level()
        except gdb.error:
            self.level = None
        if _on_m(self.g):
            th = _m_thread(self.g)
            if th is None:
                return None
            th.switch()
            return gdb.newest_frame()
        _unwinder.ctx = self.g["ctx"]
        _unwinder.host = self.thread.ptid
        _unwinder.level = None
        gdb.invalidate_cached_frames()
        f = gdb.newest_frame()
        # Skip the host thread's frames: inline ones, then the stand-in.
        while f is not None and f.type() == gdb.INLINE_FRAME:
            f = f.older()
        return f.older() if f is not None else None

    def __exit__(self, *exc):
        _unwinder.ctx = None
        gdb.invalidate_cached_frames()
        if self.thread.is_valid():
            self.thread.switch()
            if self.level is not None:
                try:
                    gdb.execute("frame %d" % self.level, to_string=True)
                except gdb.error:
                    pass
        return False


def _older(f):
    try:
        return f.older(), None
    except gdb.error as e:
        return None, str(e)


def _is_runtime(f):
    name = gdb.solib_name(f.pc())
    return name is not None and name.endswith(_LIB)


def _frame_where(f, args=True):
    name = f.name() or "??"
    if args:
        vals = []
        try:
            block = f.block()
            while block and not block.function:
                block = block.superblock
            for sym in (block or []):
                if sym.is_argument:
                    try:
                        v = str(f.read_var(sym))
                    except (gdb.error, RuntimeError):
                        v = "<unavailable>"
                    vals.append("%s=%s" % (sym.name, v))
        except (gdb.error, RuntimeError):
            pass
        name += " (%s)" % ", ".join(vals)
    sal = f.find_sal()
    if sal.symtab is not None:
        name += " at %s:%d" % (sal.symtab.filename, sal.line)
    else:
        lib = gdb.solib_name(f.pc())
        if lib:
            name += " from %s" % lib
    return name


def _user_frame(g):
    """Innermost frame outside the runtime, as text."""
    if not _on_m(g) and int(g["ctx"]["rip"]) == _trampoline():
        return "(not started) %s" % _symbol(int(g["start"]))
    try:
        with _GFrames(g) as f:
            first = f
            depth = 0
            while f is not None and depth < 64:
                if not _is_runtime(f):
                    return _frame_where(f, args=False)
                f, _ = _older(f)
                depth += 1
            return _frame_where(first, args=False) if first is not None else "?"
    except gdb.error as e:
        return "<%s>" % e


_tramp = None


def _trampoline():
    global _tramp
    if _tramp is None:
        try:
            _tramp = int(gdb.parse_and_eval("(unsigned long)&gmp_ctx_trampoline"))
        except gdb.error:
            _tramp = -1
    return _tramp


def _symbol(addr):
    try:
        return str(gdb.parse_and_eval("(void *)%d" % addr)).split(" ", 1)[-1]
    except gdb.error:
        return "0x%x" % addr


def _print_bt(g, full=False, limit=100):
    if not _on_m(g) and int(g["ctx"]["rip"]) == _trampoline():
        gdb.write("#0  (not started: will run %s)\n" % _symbol(int(g["start"])))
        return
    with _GFrames(g) as f:
        if f is None:
            gdb.write("(its kernel thread is not known to gdb)\n")
            return
        n = 0
        while f is not None and n < limit:
            gdb.write("#%-2d 0x%016x in %s\n" % (n, f.pc(), _frame_where(f)))
            if full:
                _print_locals(f)
            f, err = _older(f)
            if err:
                gdb.write("Backtrace stopped: %s\n" % err)
            n += 1


def _print_locals(f):
    try:
        block = f.block()
    except RuntimeError:
        return
    while block is not None:
        for sym in block:
            if sym.is_variable and not sym.is_argument:
                try:
                    v = str(f.read_var(sym, block))
                except (gdb.error, RuntimeError):
                    v = "<unavailable>"
                gdb.write("        %s = %s\n" % (sym.name, v))
        if block.function:
            break
        block = block.superblock


def _header(g):
    s, w = _status(g)
    name = g["name"].string() if int(g["name"][0]) else ""
    line = "G%d [%s%s]" % (int(g["goid"]), s, ", " + w if w else "")
    if name:
        line += ' "%s"' % name
    if _on_m(g) and int(g["m"]) != 0:
        line += " on M%d (LWP %d)" % (int(g["m"]["id"]), int(g["m"]["tid"]))
    return line


def _current_goid():
    th = gdb.selected_thread()
    if th is None:
        return None
    for g in _live_gs():
        if _on_m(g) and int(g["m"]) != 0 and int(g["m"]["tid"]) == th.ptid[1]:
            return int(g["goid"])
    return None


# ------------------------------------------------------------ commands


class InfoGthreads(gdb.Command):
    """List gmp's user threads (Gs): id, status, wait reason, name, M and the
innermost frame outside the gmp runtime.  '*' marks the G running on the
selected kernel thread."""

    def __init__(self):
        super().__init__("info gthreads", gdb.COMMAND_STATUS)

    def invoke(self, arg, from_tty):
        gs = _live_gs()
        cur = _current_goid()
        gdb.write("  %-6s %-9s %-12s %-16s %-5s %s\n" % ("Id", "Status", "Wait", "Name", "M", "Frame"))
        for g in gs:
            s, w = _status(g)
            if s == "waiting" and w == "netpoll" and int(g["npfd"]) > 0:
                w = "netpoll fd %d" % (int(g["npfd"]) - 1)
            name = g["name"].string() if int(g["name"][0]) else ""
            m = "M%d" % int(g["m"]["id"]) if _on_m(g) and int(g["m"]) != 0 else "-"
            goid = int(g["goid"])
            gdb.write("%s %-6d %-9s %-12s %-16s %-5s %s\n" % (
                "*" if goid == cur else " ", goid, s, w, name, m, _user_frame(g)))


class Gthread(gdb.Command):
    """gthread                    the G running on the selected kernel thread
gthread ID bt [full]        backtrace of user thread ID
gthread apply all bt [full] backtraces of every user thread
gthread apply ID... bt      backtraces of the listed user threads"""

    def __init__(self):
        super().__init__("gthread", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        argv = gdb.string_to_argv(arg)
        if not argv:
            cur = _current_goid()
            gdb.write("No G runs on this kernel thread.\n" if cur is None else
                      "[Current gthread is %d]\n" % cur)
            return
        if argv[0] == "apply":
            if len(argv) < 3:
                raise gdb.GdbError("usage: gthread apply all|ID... bt [full]")
            try:
                bt = argv.index("bt")
            except ValueError:
                raise gdb.GdbError("gthread apply: only 'bt' is supported")
            ids = argv[1:bt]
            full = argv[bt + 1:] == ["full"]
            if ids == ["all"]:
                gs = _live_gs()
            else:
                gs = [_find_g(_parse_id(x)) for x in ids]
            for g in gs:
                gdb.write("\n%s:\n" % _header(g))
                _print_bt(g, full)
            return
        g = _find_g(_parse_id(argv[0]))
        rest = argv[1:]
        if rest in (["bt"], ["backtrace"], ["bt", "full"], ["backtrace", "full"]):
            gdb.write("%s:\n" % _header(g))
            _print_bt(g, full=len(rest) == 2)
        elif not rest:
            gdb.write("%s\n" % _header(g))
        else:
            raise gdb.GdbError("gthread ID: only 'bt' and 'bt full' are supported")


def _parse_id(s):
    try:
        return int(s.lstrip("G"))
    except ValueError:
        raise gdb.GdbError("gmp: bad thread id '%s'" % s)


InfoGthreads()
Gthread()


# FS-base traps (core/fstrap.c): where gmp switches thread pointers with
# wrfsbase, every kernel context switch of an armed kernel thread is
# followed by a SIGSEGV that gmp's handler takes and returns from, and a
# ptrace stop is such a switch.  gdb must pass those on without stopping;
# a real fault still ends in gmp's fatal report and SIGABRT, where gdb
# stops.  (A program started under gdb runs without traps: gmp sees the
# tracer at start-up.  This is for gdb -p on a running process.)  Core
# files and ptrace show an armed kernel thread's FS base as the trap
# address; the TCB it had loaded is its M's cur_tp.
def _fstrap_setup(event=None):
    try:
        on = bool(gdb.parse_and_eval("gmp_fstrap"))
    except gdb.error:
        return
    if on:
        gdb.execute("handle SIGSEGV nostop noprint pass", to_string=True)
        gdb.write("gmp: FS-base traps are on: SIGSEGV is passed to the program without a stop "
                  "(gmp's handler takes the traps; a real fault ends in gmp's report and SIGABRT)\n")


_fstrap_setup()
gdb.events.new_objfile.connect(
    lambda ev: _fstrap_setup() if ev.new_objfile.filename.endswith(_LIB) else None)
