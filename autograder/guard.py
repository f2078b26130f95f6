"""Guard cells the grader adds around a submission before running it.

``install_source`` runs first, before any student code: it imports the modules
the tests rely on and snapshots them, together with the IPython shell's hooks
and the kernel's execution and messaging machinery (the kernel, its session
and output socket: their classes, their methods and its message handlers).
``bind_source`` runs right after the (restored) set-up cell and records which
global names refer to modules. ``forget_source`` runs after every test cell. ``restore_source`` runs right before every test
cell: it puts back every snapshotted attribute, rebinds those names, removes
input/AST transformers, custom exception handlers, event callbacks, trace
functions and replaced streams, then prints a per-cell token. A test whose
guard did not print its token scores nothing.

The guard's functions get new, unpredictable names in every kernel
(:func:`new_prefix`), so student code cannot call, delete or wrap them by name.

This defends against the tampering a student can do by accident or on
purpose with ordinary Python (monkey-patching ``np.allclose``,
``np.testing``, ``labs.checks``, the shell's transformers or exception
handlers, the kernel's ``do_execute`` or the session's ``send``, rebinding a
guard by its name). Code running in the kernel can still, with deliberate
effort, find the guard (walking ``globals()`` or closures) and subvert it:
everything a guard knows lives in the same process as the student's code, so
no evidence produced there is unforgeable. Such code cannot hide from its own
text, though: :mod:`autograder.tampering` reads every student cell outside the
kernel and the row says "needs review" with the cell and what it used. The
sandbox bounds what such code can reach, and the token check turns a merely
disabled guard into zero points rather than full points.
"""

from __future__ import annotations

import secrets

GUARD_TAG = "grader-guard"
GUARDED_MODULES = ("builtins", "numpy", "numpy.testing", "labs", "labs.checks")

_INSTALL = '''
def GUARD_NAME_install():
    import builtins, importlib, linecache, sys
    shell = get_ipython()
    modules = {}
    for name in MODULE_NAMES:
        try:
            modules[name] = importlib.import_module(name)
        except Exception:
            pass
    snapshot = {name: dict(vars(module)) for name, module in modules.items()}
    kernel = getattr(shell, "kernel", None)
    machinery = [shell] + ([kernel, kernel.session, kernel.iopub_socket] if kernel is not None else [])
    classes = []
    for part in machinery:
        classes += [cls for cls in type(part).__mro__ if cls is not object and cls not in classes]
    class_snapshot = [(cls, dict(vars(cls))) for cls in classes]
    tables = [getattr(kernel, name) for name in ("shell_handlers", "control_handlers")
              if isinstance(getattr(kernel, name, None), dict)]
    table_snapshot = [(table, dict(table)) for table in tables]
    hooks = {
        "input_transformers_cleanup": list(shell.input_transformers_cleanup),
        "input_transformers_post": list(shell.input_transformers_post),
        "ast_transformers": list(shell.ast_transformers),
        "line_transforms": list(shell.input_transformer_manager.line_transforms),
        "cleanup_transforms": list(shell.input_transformer_manager.cleanup_transforms),
        "token_transformers": list(shell.input_transformer_manager.token_transformers),
    }
    events = {name: list(callbacks) for name, callbacks in shell.events.callbacks.items()}
    instance_keys = [(part, set(vars(part))) for part in machinery if hasattr(part, "__dict__")]
    streams = (sys.stdout, sys.stderr, sys.excepthook, sys.displayhook)
    bound = {}
    setattr_, delattr_, setitem = builtins.setattr, builtins.delattr, dict.__setitem__

    def bind():
        bound.clear()
        for key, value in list(shell.user_ns.items()):
            if type(value) is type(sys) and not key.startswith("_"):
                bound[key] = value

    cell_sources = []

    def forget():
        compiler = shell.compile
        for name in set(linecache.cache) - cell_sources[-1] if cell_sources else ():
            if name in getattr(compiler, "_filename_map", {}):
                linecache.cache.pop(name, None)
                compiler._filename_map.pop(name, None)

    def restore(token):
        sys.settrace(None)
        sys.setprofile(None)
        sys.stdout, sys.stderr, sys.excepthook, sys.displayhook = streams
        for name, module in modules.items():
            setitem(sys.modules, name, module)
            current = vars(module)
            for key, value in snapshot[name].items():
                if current.get(key, snapshot) is not value:
                    setattr_(module, key, value)
        for cls, saved in class_snapshot:
            for key, value in saved.items():
                if vars(cls).get(key, saved) is not value:
                    try:
                        setattr_(cls, key, value)
                    except (AttributeError, TypeError):
                        pass
            for key in [k for k in vars(cls) if k not in saved]:
                try:
                    delattr_(cls, key)
                except (AttributeError, TypeError):
                    pass
        for part, keys in instance_keys:
            for key in [k for k in vars(part) if k not in keys]:
                if callable(vars(part)[key]):
                    delattr_(part, key)
        for table, saved in table_snapshot:
            table.clear()
            table.update(saved)
        shell.input_transformers_cleanup[:] = hooks["input_transformers_cleanup"]
        shell.input_transformers_post[:] = hooks["input_transformers_post"]
        shell.ast_transformers[:] = hooks["ast_transformers"]
        manager = shell.input_transformer_manager
        manager.line_transforms[:] = hooks["line_transforms"]
        manager.cleanup_transforms[:] = hooks["cleanup_transforms"]
        manager.token_transformers[:] = hooks["token_transformers"]
        shell.custom_exceptions = ()
        for name in list(shell.events.callbacks):
            shell.events.callbacks[name][:] = events.get(name, [])
        for key, value in bound.items():
            setitem(shell.user_ns, key, value)
        cell_sources[:] = [set(linecache.cache)]
        streams[0].write(TOKEN_PREFIX + token + "\\n")
        streams[0].flush()

    return bind, restore, forget


GUARD_NAME_bind, GUARD_NAME_restore, GUARD_NAME_forget = GUARD_NAME_install()
del GUARD_NAME_install
'''


def new_prefix() -> str:
    """A fresh, unpredictable prefix for the guard's names in one kernel (student code cannot call them by name)."""
    return f"_grader_{secrets.token_hex(6)}"


def install_source(token_prefix: str, prefix: str) -> str:
    """Code of the first guard cell (snapshots); ``token_prefix`` starts every guard token line."""
    return (
        _INSTALL.replace("MODULE_NAMES", repr(GUARDED_MODULES)).replace("TOKEN_PREFIX", repr(token_prefix))
        .replace("GUARD_NAME", prefix).strip()
    )


def bind_source(prefix: str) -> str:
    """Code of the guard cell placed after the set-up cell."""
    return f"{prefix}_bind()"


def forget_source(prefix: str) -> str:
    """Code of the guard cell placed after a test cell: it drops the test's source from the kernel's line cache.

    Test cells run without being stored in the input history (``In``); this removes
    the last copy a later student cell could print.
    """
    return f"{prefix}_forget()"


def restore_source(token: str, prefix: str) -> str:
    """Code of the guard cell placed before a test cell; it prints ``token`` when it ran."""
    return f"{prefix}_restore({token!r})"
